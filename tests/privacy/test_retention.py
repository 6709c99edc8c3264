"""Retention: data older than a workspace's retention period is purged; the rest stays."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from typer.testing import CliRunner

from omnivox.cli import app
from omnivox.services import Services
from omnivox.storage.memory import MemoryRules
from omnivox.storage.models import Conversation, Customer, Event, Message
from omnivox.storage.retention import purge, run_all
from omnivox.storage.signals import SignalStore
from omnivox.types import CustomerRef, InboundMessage, utcnow


async def count(services: Services, model: object) -> int:
    async with services.db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())  # type: ignore[arg-type]


async def test_old_conversations_go_and_recent_ones_stay(services: Services) -> None:
    store = services.store
    old_customer, _ = await store.resolve_customer("acme", "api", "old", verified=True)
    new_customer, _ = await store.resolve_customer("acme", "api", "new", verified=True)
    old = (
        await store.attach_inbound(
            InboundMessage("acme", "api", CustomerRef("old"), "old news"), old_customer
        )
    ).message
    await store.attach_inbound(
        InboundMessage("acme", "api", CustomerRef("new"), "fresh"), new_customer
    )
    other = (
        await store.attach_inbound(
            InboundMessage("globex", "api", CustomerRef("g"), "globex"),
            (await store.resolve_customer("globex", "api", "g"))[0],
        )
    ).message
    long_ago = utcnow() - timedelta(days=120)
    async with services.db.sessions.begin() as session:
        await session.execute(
            update(Message)
            .where(Message.conversation_id.in_([old.conversation_id, other.conversation_id]))
            .values(created_at=long_ago)
        )
        await session.execute(
            update(Conversation)
            .values(summary="they said things")
            .where(Conversation.id.in_([old.conversation_id, other.conversation_id]))
        )
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_([old.conversation_id, other.conversation_id]))
            .values(updated_at=long_ago)
        )

    done = await run_all(services.db, [("acme", 90), ("globex", 0)])  # globex keeps everything
    assert done["acme"]["messages"] == 1 and done["acme"]["conversations"] == 1
    assert "globex" not in done
    assert await count(services, Message) == 2  # acme's fresh message and globex's old one
    assert await count(services, Customer) == 3  # profiles are kept
    again = await purge(services.db, "acme", utcnow() - timedelta(days=90))
    assert not any(again.values())  # nothing left to purge: safe to repeat


async def test_a_conversation_that_loses_messages_loses_its_summary(services: Services) -> None:
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c", verified=True)
    first = (
        await store.attach_inbound(InboundMessage("acme", "api", CustomerRef("c"), "old"), customer)
    ).message
    await store.attach_inbound(InboundMessage("acme", "api", CustomerRef("c"), "new"), customer)
    async with services.db.sessions.begin() as session:
        await session.execute(
            update(Message)
            .where(Message.id == first.id)
            .values(created_at=utcnow() - timedelta(days=100))
        )
        # the summary covered both messages: "new" is past it, so memory would skip it
        await session.execute(
            update(Conversation).values(summary="Customer (chat): old, new", summary_seq=2)
        )
        session.add(Event(type="customer.merged", workspace_id="acme", payload={}))
        session.add(Event(type="customer.erased", workspace_id="acme", payload={}))
        session.add(Event(type="turn.completed", workspace_id="acme", payload={}))
    async with services.db.sessions.begin() as session:
        await session.execute(update(Event).values(created_at=utcnow() - timedelta(days=100)))
    done = await purge(services.db, "acme", utcnow() - timedelta(days=90))
    assert (done["messages"], done["summaries"], done.get("conversations", 0)) == (1, 1, 0)
    view = await store.conversation(first.conversation_id)
    assert view is not None and [m.text for m in view.messages] == ["new"]
    recall = await store.recall(first.conversation_id, None, 6, MemoryRules())
    assert [h.text for h in recall.history] == ["new"]  # in memory again
    kept = [e.type for e in await store.events()]
    # an unmerge still finds what the merge moved; an erased customer stays erased
    assert sorted(kept) == ["customer.erased", "customer.merged"]


async def test_old_handoffs_and_notes_go_once_no_handoff_is_open(services: Services) -> None:
    """While a handoff is open, everything of its conversation stays: the old handoff, notes,
    tickets and events were purged under the agent (only the messages were kept)."""
    from omnivox.storage.handoffs import HandoffStore
    from omnivox.storage.models import Handoff, Note, Ticket

    store, handoffs = services.store, HandoffStore(services.db)
    customer, _ = await store.resolve_customer("acme", "api", "r", verified=True)
    said = InboundMessage("acme", "api", CustomerRef("r"), "my card 4111 was charged twice")
    conv = (await store.attach_inbound(said, customer)).message.conversation_id
    agent = await handoffs.add_agent("acme", "sam@acme.example", "Sam", "agent", "x")
    old, _ = await handoffs.open("acme", conv, customer, {"summary": "card 4111 charged twice"})
    await handoffs.add_note(conv, agent, "called them about the double charge")
    await SignalStore(services.db).open_ticket("acme", customer, conv, "double charge", "4111")
    long_ago = utcnow() - timedelta(days=40)
    async with services.db.sessions.begin() as session:
        session.add(Event(type="turn.completed", workspace_id="acme", conversation_id=conv))
    async with services.db.sessions.begin() as session:
        for model in (Message, Note, Ticket, Event):
            await session.execute(update(model).values(created_at=long_ago))
        await session.execute(update(Handoff).values(status="resolved", closed_at=long_ago))
    open_now, _ = await handoffs.open("acme", conv, customer, {"summary": "still waiting"})
    await store.attach_inbound(InboundMessage("acme", "api", CustomerRef("r"), "hello?"), customer)
    done = await purge(services.db, "acme", utcnow() - timedelta(days=30))
    # the conversation has a waiting handoff: all of it stays for the agent
    assert not any(done.values()), done
    kept = [(m, await count(services, m)) for m in (Message, Note, Ticket, Handoff, Event)]
    assert kept == [(Message, 2), (Note, 1), (Ticket, 1), (Handoff, 2), (Event, 1)]
    # once it closes (and the conversation goes on with the bot) the old rows age out
    async with services.db.sessions.begin() as session:
        await session.execute(
            update(Handoff).where(Handoff.id == open_now.id).values(closed_at=utcnow())
        )
        await session.execute(update(Conversation).values(status="bot"))
    done = await purge(services.db, "acme", utcnow() - timedelta(days=30))
    assert (done["messages"], done["handoffs"], done["notes"], done["tickets"]) == (1, 1, 1, 1)
    async with services.db.sessions() as session:
        left = [h.id for h in (await session.execute(select(Handoff))).scalars()]
    assert left == [open_now.id] and old.id != open_now.id  # the recent one stays
    assert await count(services, Note) == 0 and await count(services, Conversation) == 1


async def test_a_conversation_with_an_open_handoff_keeps_its_messages_until_it_closes(
    services: Services,
) -> None:
    """It was deleted with its waiting handoff (last touched 100 days ago), or emptied (messages
    40 days old) so that the agent's reply had no message to answer (409)."""
    from omnivox.storage.handoffs import HandoffStore
    from omnivox.storage.models import Handoff

    store, handoffs = services.store, HandoffStore(services.db)
    convs = []
    for who, days in (("stale", 100), ("older", 40)):
        customer, _ = await store.resolve_customer("acme", "api", who, verified=True)
        said = InboundMessage("acme", "api", CustomerRef(who), "I need a person")
        conv = (await store.attach_inbound(said, customer)).message.conversation_id
        await handoffs.open("acme", conv, customer, {"summary": "wants a person"})
        long_ago = utcnow() - timedelta(days=days)
        async with services.db.sessions.begin() as session:
            await session.execute(
                update(Message).where(Message.conversation_id == conv).values(created_at=long_ago)
            )
            touched = update(Conversation).where(Conversation.id == conv)
            await session.execute(touched.values(updated_at=long_ago))
        convs.append(conv)
    # a person holds a third one, with no handoff row left open
    held_customer, _ = await store.resolve_customer("acme", "api", "held", verified=True)
    said = InboundMessage("acme", "api", CustomerRef("held"), "still there?")
    held = (await store.attach_inbound(said, held_customer)).message.conversation_id
    async with services.db.sessions.begin() as session:
        await session.execute(
            update(Message)
            .where(Message.conversation_id == held)
            .values(created_at=utcnow() - timedelta(days=40))
        )
        await session.execute(
            update(Conversation).where(Conversation.id == held).values(status="human")
        )
    cutoff = utcnow() - timedelta(days=30)
    done = await purge(services.db, "acme", cutoff)
    assert done["messages"] == 0 and done.get("conversations", 0) == 0, done
    for conv in [*convs, held]:
        view = await store.conversation(conv)
        assert view is not None and [m.text for m in view.messages] != []
    assert await count(services, Handoff) == 2
    # once the handoffs close (and the person lets go), retention takes them as usual
    async with services.db.sessions.begin() as session:
        await session.execute(update(Handoff).values(status="resolved", closed_at=cutoff))
        await session.execute(update(Conversation).values(status="bot"))
    done = await purge(services.db, "acme", utcnow() - timedelta(days=30))
    assert done["messages"] == 3, done
    assert await count(services, Conversation) == 1  # "held", touched lately, stays (empty)
    assert await count(services, Handoff) == 0


async def test_a_case_held_open_past_the_retention_period_keeps_nothing_older(
    services: Services,
) -> None:
    """A handoff opened (and claimed) long ago and never closed, a conversation a person has
    held untouched since: everything of theirs was kept whatever its age, for ever. With nobody
    writing since, they go like any other conversation."""
    from omnivox.storage.handoffs import HandoffStore
    from omnivox.storage.models import Handoff, Note

    store, handoffs = services.store, HandoffStore(services.db)
    agent = await handoffs.add_agent("acme", "sam@acme.example", "Sam", "agent", "x")
    convs = []
    for who in ("forgotten", "held"):
        customer, _ = await store.resolve_customer("acme", "api", who, verified=True)
        said = InboundMessage("acme", "api", CustomerRef(who), "I need a person")
        conv = (await store.attach_inbound(said, customer)).message.conversation_id
        await handoffs.add_note(conv, agent, "they asked in spring")
        convs.append((conv, customer))
    forgotten = convs[0]
    await handoffs.open("acme", *forgotten, {"summary": "wants a person"})
    long_ago = utcnow() - timedelta(days=200)
    async with services.db.sessions.begin() as session:
        for model in (Message, Note):
            await session.execute(update(model).values(created_at=long_ago))
        await session.execute(update(Conversation).values(status="human", updated_at=long_ago))
        await session.execute(update(Handoff).values(created_at=long_ago, claimed_at=long_ago))
    done = await purge(services.db, "acme", utcnow() - timedelta(days=90))
    assert (done["messages"], done["notes"], done.get("conversations", 0)) == (2, 2, 2), done
    assert await count(services, Handoff) == 0


async def test_an_open_case_someone_writes_in_lately_is_kept_whole(services: Services) -> None:
    """A handoff claimed 35 days ago (retention 30) while customer and agent wrote daily: the
    purge took the case's notes, events and older messages from under the agent. A conversation
    a person holds with no handoff open is kept by the same rule: a message since the cutoff,
    the agent's too (only the customer's counted)."""
    from omnivox.bus import EventRecord
    from omnivox.storage.handoffs import HandoffStore
    from omnivox.storage.models import Handoff, Note

    store, handoffs = services.store, HandoffStore(services.db)
    agent = await handoffs.add_agent("acme", "sam@acme.example", "Sam", "agent", "x")
    convs = {}
    for who in ("handed", "held"):
        customer, _ = await store.resolve_customer("acme", "api", who, verified=True)
        said = InboundMessage("acme", "api", CustomerRef(who), "my parcel never came")
        conv = (await store.attach_inbound(said, customer)).message.conversation_id
        await handoffs.add_note(conv, agent, "courier says delivered")
        meta = {"provider": f"agent:{agent}"}
        for day in range(40, -1, -1):  # the customer and the agent write daily
            said = InboundMessage("acme", "api", CustomerRef(who), f"day {day}: still nothing")
            await store.attach_inbound(said, customer)
            await store.store_outbound("acme", conv, "api", f"day {day}: on it", None, meta, "sent")
        await store.add_events([EventRecord("handoff.requested", "acme", conv)])
        convs[who] = (conv, customer)
    view, _ = await handoffs.open("acme", *convs["handed"], {"summary": "parcel"})
    await handoffs.claim("acme", view.id, agent)
    claimed = utcnow() - timedelta(days=35)
    async with services.db.sessions.begin() as session:
        for model in (Note, Event):
            await session.execute(update(model).values(created_at=claimed))
        await session.execute(update(Handoff).values(created_at=claimed, claimed_at=claimed))
        for message in (await session.execute(select(Message))).scalars():
            day = int(message.text[4:6].strip(":")) if message.text.startswith("day ") else 41
            message.created_at = utcnow() - timedelta(days=day)
        await session.execute(
            update(Conversation)
            .where(Conversation.id == convs["held"][0])
            .values(status="human", updated_at=utcnow() - timedelta(days=41))
        )
    done = await purge(services.db, "acme", utcnow() - timedelta(days=30))
    assert not any(done.values()), done
    assert await count(services, Message) == 2 * (1 + 2 * 41) and await count(services, Note) == 2
    assert await count(services, Event) >= 2 and await count(services, Handoff) == 1


def test_the_retention_command(tmp_path: Path) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        "data_dir: "
        + str(tmp_path / "var")
        + "\nworkspaces: [{id: acme, name: Acme, retention_days: 30}]\n"
    )
    result = CliRunner().invoke(app, ["retention", "run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "acme: nothing" in " ".join(result.output.split())
