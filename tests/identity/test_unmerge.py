"""Unmerge on SQLite and PostgreSQL: what it gives back, and what it may not race with."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from omnivox.identity.consent import ConsentStore
from omnivox.llm.base import Delta
from omnivox.locks import KeyedLock, customer_key
from omnivox.pipeline.context import TurnContext
from omnivox.pipeline.steps.identify import Identify
from omnivox.services import Services, build_services
from omnivox.storage.handoffs import HandoffStore
from omnivox.storage.identities import IdentityStore, MergeError
from omnivox.storage.models import Conversation, Event, Message
from omnivox.storage.repositories import Newcomer
from omnivox.storage.signals import SignalStore
from omnivox.storage.subjects import SubjectStore
from omnivox.testing import ScriptedProvider
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import make_settings


async def customer(services: Services, address: str) -> str:
    cid, _ = await services.store.resolve_customer("acme", "webchat", address, verified=True)
    return cid


async def kinds_of_events(services: Services) -> list[str]:
    async with services.db.sessions() as session:
        rows = await session.execute(select(Event.type).order_by(Event.id))
        return [r[0] for r in rows]


async def test_two_unmerges_at_once_undo_the_merge_once(services: Services) -> None:
    store = IdentityStore(services.db)
    for n in range(5):  # on PostgreSQL both passed the check before either wrote, every time
        a, b = await customer(services, f"v_twice_a{n}"), await customer(services, f"v_twice_b{n}")
        await store.merge("acme", a, b, {"by": "agent"})
        results = await asyncio.gather(
            store.unmerge("acme", a, {"reason": "x"}),
            store.unmerge("acme", a, {"reason": "y"}),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, MergeError)]
        assert len(refused) == 1 and refused[0].code == "not_merged", results
    assert (await kinds_of_events(services)).count("customer.unmerged") == 5


async def test_an_unmerge_racing_a_merge_of_its_holder_takes_its_rows_back(
    services: Services,
) -> None:
    """A into B; then unmerge A while B is merged into C: A gets its own visitor id back."""
    store = IdentityStore(services.db)
    for n in range(5):
        a, b, c = [await customer(services, f"v_race_{x}{n}") for x in "abc"]
        await store.merge("acme", a, b, {"by": "agent"})
        results = await asyncio.gather(
            store.unmerge("acme", a, {"reason": "two people"}),
            store.merge("acme", b, c, {"by": "agent"}),
            return_exceptions=True,
        )
        assert not [r for r in results if isinstance(r, BaseException)], results
        profile = await store.profile("acme", a)
        assert profile is not None and profile.merged_into is None
        assert await services.store.identity_owner("acme", "webchat", f"v_race_a{n}") == a
        assert await services.store.identity_owner("acme", "webchat", f"v_race_b{n}") == c


@pytest.fixture
async def shop(tmp_path: Path, database: dict[str, Any]) -> AsyncIterator[Services]:
    """Services whose workspace learns ``ACM-`` order numbers (profile facts)."""
    workspace = {
        "id": "acme",
        "name": "Acme Outfitters",
        "persona": {"name": "Juniper", "brand": "Acme Outfitters"},
        "understanding": {"order_pattern": "ACM-\\d{6}"},
    }
    built = build_services(make_settings(tmp_path, database=database, workspaces=[workspace]))
    await built.start()
    try:
        yield built
    finally:
        await built.close()


async def say(services: Services, sender: str, text: str) -> TurnContext:
    said = InboundMessage("acme", "api", CustomerRef(sender), text)
    return await services.turns.handle(said, services.api)


def prompt(services: Services) -> str:
    scripted = services.chain.providers[0]
    assert isinstance(scripted, ScriptedProvider)
    return "\n".join(m.content for m in scripted.requests[-1].messages)


async def test_an_unmerge_gives_each_person_exactly_what_they_wrote_while_merged(
    shop: Services,
) -> None:
    """Maya and a visitor chat; an agent merges the visitor into Maya; both write on; unmerge.

    Maya's next message went into the visitor's (more recent) conversation, so moving the
    visitor's conversations back whole handed the visitor Maya's street and card, left it out
    of Maya's export (her erasure missed it), and left the visitor's words with Maya.
    """
    store, identities, subjects = shop.store, IdentityStore(shop.db), SubjectStore(shop.db)
    first = await say(shop, "maya-api", "hi, a question about my Summit points")
    maya, conv_m = first.customer_id, first.conversation_id
    seen = await say(shop, "visitor-v", "hello, do you ship to Canada? order ACM-111111")
    visitor, conv_v = seen.customer_id, seen.conversation_id
    assert maya and visitor and conv_m and conv_v
    await identities.merge("acme", visitor, maya, {"by": "agent", "reason": "same person?"})

    hers = await say(shop, "maya-api", "Send it to 77 Canaryfield Lane, order ACM-222222")
    assert hers.conversation_id == conv_v  # continuity resumed the more recent conversation
    assert hers.message is not None
    ticket = await SignalStore(shop.db).open_ticket(
        "acme", maya, conv_v, "Address", "send to 77 Canaryfield Lane"
    )
    theirs = await say(shop, "visitor-v", "and my other order ACM-333333?")
    assert theirs.conversation_id == conv_v
    async with shop.db.sessions.begin() as session:  # a fold written while merged sums up both
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conv_v)
            .values(
                summary="Customer: ship to Canada? Customer: 77 Canaryfield Lane", summary_seq=10**9
            )
        )

    await shop.events.flush()  # as the route does: the turns' events are written first
    undone = await identities.unmerge("acme", visitor, {"reason": "two different people"})
    of_v, of_m = await subjects.export("acme", visitor), await subjects.export("acme", maya)
    assert of_v is not None and of_m is not None
    v_text, m_text = json.dumps(of_v), json.dumps(of_m)
    for hers_only in ("Canaryfield", "ACM-222222"):
        assert hers_only in m_text and hers_only not in v_text, hers_only
    for theirs_only in ("Canada", "ACM-111111", "ACM-333333"):
        assert theirs_only in v_text and theirs_only not in m_text, theirs_only
    assert [t["id"] for t in of_m["tickets"]] == [ticket] and of_v["tickets"] == []
    assert [(s["from"], s["customer"], s["messages"]) for s in undone["split"]] == [
        (conv_v, maya, 2)  # her message and its answer
    ]
    assert of_v["customer"]["attributes"]["facts"]["order_numbers"] == ["ACM-111111", "ACM-333333"]
    assert of_m["customer"]["attributes"]["facts"]["order_numbers"] == ["ACM-222222"]
    moved = {c["id"] for c in of_m["conversations"]} - {conv_m}
    events = await store.events(conversation_id=moved.pop())
    assert [e.payload["message_id"] for e in events if e.type == "turn.completed"] == [
        hers.message.id
    ]

    again = await say(shop, "visitor-v", "what did I say before?")
    assert again.conversation_id == conv_v and again.customer_id == visitor
    told = prompt(shop)
    assert "Canada" in told and "ACM-333333" in told
    assert "Canaryfield" not in told and "ACM-222222" not in told
    back = await say(shop, "maya-api", "and when will it arrive?")
    assert back.customer_id == maya and back.conversation_id not in (conv_v, conv_m)
    told = prompt(shop)
    assert "Canaryfield" in told and "ACM-222222" in told
    assert "Canada" not in told and "ACM-111111" not in told and "ACM-333333" not in told

    await subjects.erase("acme", maya, b"k" * 32)  # her erasure takes all of hers, none of theirs
    left = json.dumps(await subjects.export("acme", visitor))
    assert "Canaryfield" not in left and "Canada" in left and "ACM-333333" in left


async def test_a_handoff_asked_for_while_merged_goes_with_the_person_who_asked(
    shop: Services,
) -> None:
    """Maya asks for a person in the visitor's conversation: the handoff, its packet (the
    profile's identifiers, a summary of the conversation) and the wait are hers alone."""
    identities = IdentityStore(shop.db)
    mine = await say(shop, "maya-w", "hello")
    seen = await say(shop, "visitor-w", "do you ship to Canada?")
    visitor, maya, conv_v = seen.customer_id, mine.customer_id, seen.conversation_id
    assert visitor and maya and conv_v
    await identities.merge("acme", visitor, maya, {"by": "agent"})
    asked = await say(shop, "maya-w", "77 Canaryfield Lane. I want to talk to a person")
    assert asked.conversation_id == conv_v and asked.decision is not None
    assert asked.decision.route == "handoff"
    for _ in range(100):  # the suggested reply is added to the packet in the background
        waiting = await HandoffStore(shop.db).queue("acme")
        if waiting and waiting[0].packet.get("suggested_reply"):
            break
        await asyncio.sleep(0.05)
    assert [h.conversation_id for h in waiting] == [conv_v]
    assert "Canada" in json.dumps(waiting[0].packet)  # made from the merged profile

    await identities.unmerge("acme", visitor, {"reason": "two different people"})
    waiting = await HandoffStore(shop.db).queue("acme")
    assert len(waiting) == 1 and waiting[0].customer_id == maya
    packet = json.dumps(waiting[0].packet)
    assert "Canaryfield" in packet and "maya-w" in packet
    assert "Canada" not in packet and "visitor-w" not in packet
    hers = await shop.store.conversation(waiting[0].conversation_id)
    theirs = await shop.store.conversation(conv_v)
    assert hers is not None and theirs is not None
    assert (hers.customer_id, hers.status) == (maya, "human")
    assert (theirs.customer_id, theirs.status) == (visitor, "bot")
    again = await say(shop, "visitor-w", "and to Mexico?")  # answered, not held for a person
    assert again.conversation_id == conv_v and again.reply is not None


async def test_what_was_written_after_the_kept_profile_merged_on_comes_back_too(
    services: Services,
) -> None:
    """A into B, B into C, then A writes (into C's conversation): unmerging A brings it back.

    The merges here were recorded without the last message's seq (as before it was kept): the
    merge's time tells what came after it.
    """
    store, identities = services.store, IdentityStore(services.db)

    async def write(sender: str, text: str) -> str:
        cid = await store.identity_owner("acme", "api", sender)
        inbound = InboundMessage("acme", "api", CustomerRef(sender), text)
        attached = await store.attach_inbound(inbound, cid or Newcomer("acme", "api", sender))
        return attached.message.conversation_id

    conv_a, _, conv_c = [await write(f"chain-{x}", f"hello from {x}") for x in "abc"]
    a, b, c = [await store.identity_owner("acme", "api", f"chain-{x}") for x in "abc"]
    assert a and b and c
    await identities.merge("acme", a, b, {"by": "agent"})
    await identities.merge("acme", b, c, {"by": "agent"})
    async with services.db.sessions.begin() as session:
        for row in (await session.execute(select(Event))).scalars():
            row.payload = {k: v for k, v in row.payload.items() if k != "last_seq"}
    assert await write("chain-a", "A again: 12 Alder Road") == conv_c  # C's is the latest
    assert await write("chain-c", "C again: 3 Cedar Court") == conv_c

    await identities.unmerge("acme", a, {"reason": "not the same"})
    profile = await identities.profile("acme", a)
    assert profile is not None
    convs = {c["id"] for c in profile.conversations}
    assert conv_a in convs and len(convs) == 2
    views = [await store.conversation(cid) for cid in convs]
    texts = {m.text for view in views if view is not None for m in view.messages}
    assert texts == {"hello from a", "A again: 12 Alder Road"}
    kept = await store.conversation(conv_c)
    assert kept is not None and kept.customer_id == c
    assert [m.text for m in kept.messages] == ["hello from c", "C again: 3 Cedar Court"]


async def test_an_sms_stop_sent_while_merged_stays_with_the_number_that_sent_it(
    shop: Services,
) -> None:
    identities, consents = IdentityStore(shop.db), ConsentStore(shop.db)
    phone = "+15550100777"
    texted = InboundMessage("acme", "sms", CustomerRef(phone), "hi, is my parcel out?")
    visitor = (await shop.turns.handle(texted, shop.api)).customer_id
    maya = (await say(shop, "maya-sms", "hello")).customer_id
    assert visitor and maya
    await identities.merge("acme", visitor, maya, {"by": "agent"})
    stop = InboundMessage("acme", "sms", CustomerRef(phone), "STOP")
    await shop.turns.handle(stop, shop.api)
    assert not await consents.allows(maya, "support", "sms")

    await identities.unmerge("acme", visitor, {"reason": "two different people"})
    assert not await consents.allows(visitor, "support", "sms")  # still never texted
    assert await consents.allows(maya, "support", "sms")  # Maya never said STOP


async def test_turns_meanwhile_wait_for_the_unmerge_and_answer_their_own_side(
    services: Services,
) -> None:
    """Maya's turn is answering when an unmerge starts, the visitor writes while it waits.

    The unmerge ran under Maya's answering turn: her question left for her own conversation and
    her answer was written to the visitor's. A turn that found the visitor's identifier still
    merged went on as Maya, in a conversation of hers.
    """
    identities, locks = IdentityStore(services.db), services.turns.locks
    maya = (await say(services, "maya-api", "hi, a question about my points")).customer_id
    seen = await say(services, "visitor-v", "do you ship to Canada?")
    visitor, conv_v = seen.customer_id, seen.conversation_id
    assert maya and visitor
    await identities.merge("acme", visitor, maya, {"by": "agent"})
    answering, read_on = asyncio.Event(), asyncio.Event()

    async def slow_reader(_: Delta) -> None:  # a web chat whose reader is slow
        answering.set()
        await read_on.wait()

    said = InboundMessage("acme", "api", CustomerRef("maya-api"), "send it to Canaryfield Lane")
    hers = asyncio.create_task(services.turns.handle(said, services.api, slow_reader))
    await answering.wait()  # her question is stored (in the visitor's conversation), not her answer
    held = customer_key("acme", maya)
    for_undo, for_turns = WatchedLock(locks, held), WatchedLock(locks, held)

    async def unmerge() -> dict[str, Any]:
        async with identities.turns_held(for_undo, "acme", visitor):
            return await identities.unmerge("acme", visitor, {"reason": "two people"})

    undo = asyncio.create_task(unmerge())
    await first(for_undo.asked, undo)  # in line behind her turn
    identify = next(s for s in services.turns.runner.steps if isinstance(s, Identify))
    identify.locks = for_turns
    theirs = asyncio.create_task(say(services, "visitor-v", "and to Mexico?"))
    await first(for_turns.asked, theirs)  # found Maya as the owner: in line behind the unmerge
    read_on.set()
    her_turn, _, their_turn = await asyncio.gather(hers, undo, theirs)

    assert her_turn.message is not None
    async with services.db.sessions() as session:
        rows = await session.execute(
            select(Message.conversation_id, Conversation.customer_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                (Message.id == her_turn.message.id) | (Message.in_reply_to == her_turn.message.id)
            )
        )
        places = set(rows.all())
    assert len(places) == 1 and next(iter(places))[1] == maya  # question and answer together
    assert (their_turn.customer_id, their_turn.conversation_id) == (visitor, conv_v)
    view = await services.store.conversation(conv_v)
    assert view is not None
    texts = " ".join(m.text for m in view.messages)
    assert "Mexico" in texts and "Canaryfield" not in texts


class WatchedLock:
    """The turn lock, with an event set once ``key`` is asked for (the asker is then in line)."""

    def __init__(self, inner: KeyedLock, key: str) -> None:
        self.inner, self.key, self.asked = inner, key, asyncio.Event()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        if key == self.key:
            self.asked.set()
        async with self.inner.hold(key):
            yield


async def first(event: asyncio.Event, task: asyncio.Task[Any]) -> None:
    """Until ``event`` is set, or ``task`` ends without setting it."""
    waiting = asyncio.create_task(event.wait())
    await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
