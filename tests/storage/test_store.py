from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from omnivox.bus import EventRecord
from omnivox.channels.api import ApiChannel
from omnivox.channels.webchat import WebChatChannel
from omnivox.memory.summarizer import ExtractiveSummarizer
from omnivox.services import Services
from omnivox.storage.db import alembic_config
from omnivox.storage.memory import MemoryRules
from omnivox.storage.models import Base
from omnivox.storage.outbox import OutboxStore
from omnivox.storage.repositories import (
    DuplicateMessageError,
    MemoryRequest,
    MessageIdTakenError,
    MetadataUpdate,
    Newcomer,
    StoredMessage,
)
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage


def inbound(
    text: str, *, address: str = "c1", workspace: str = "acme", provider_id: str | None = None
) -> InboundMessage:
    return InboundMessage(
        workspace, "api", CustomerRef(address), text, provider_message_id=provider_id
    )


async def test_migrations_are_idempotent_and_match_models(services: Services) -> None:
    await services.db.migrate()  # second run: nothing to do, no error

    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    async with services.db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_customer_resolution_and_conversation_resume(services: Services) -> None:
    store = services.store
    first, created = await store.resolve_customer("acme", "api", "c1", "Ada")
    again, created_again = await store.resolve_customer("acme", "api", "c1")
    other_ws, _ = await store.resolve_customer("globex", "api", "c1")
    assert created and not created_again and first == again
    assert other_ws != first  # the same address in another workspace is another person
    attached = await store.attach_inbound(inbound("hi"), first)
    one, new = attached.message, attached.created
    attached = await store.attach_inbound(
        InboundMessage("acme", "webchat", CustomerRef("v"), "again"), first
    )
    two, new_again = attached.message, attached.created
    assert new and not new_again and one.conversation_id == two.conversation_id
    assert await store.find_open_conversation("acme", first) == one.conversation_id
    view = await store.conversation(one.conversation_id)
    assert view is not None and view.last_channel == "webchat"


async def test_newcomer_is_stored_with_the_first_message(services: Services) -> None:
    store = services.store
    ada = Newcomer("acme", "api", "c1", "Ada", verified=True)
    attached = await store.attach_inbound(inbound("hi"), ada)
    assert (attached.customer_id, attached.customer_created, attached.created) == (
        ada.id,
        True,
        True,
    )
    assert await store.identity_owner("acme", "api", "c1") == ada.id
    assert await store.find_open_conversation("acme", ada.id) == attached.message.conversation_id
    # her next message names her by id: the same conversation, no new customer
    again = await store.attach_inbound(inbound("again"), ada.id)
    assert (again.customer_id, again.customer_created, again.created) == (ada.id, False, False)
    assert again.message.conversation_id == attached.message.conversation_id


async def test_an_inbound_and_an_outbound_message_may_share_a_provider_id(
    services: Services,
) -> None:
    """A provider id is unique per direction: an email whose Message-ID was one of our replies'
    (a mail loop, a resend) was taken for a retry of the reply and dropped, and a reply whose
    receipt carried an inbound message's id could not be recorded."""
    store, outbox = services.store, OutboxStore(services.db)
    customer, _ = await store.resolve_customer("acme", "api", "c1")
    first = (await store.attach_inbound(inbound("hi", provider_id="p-in"), customer)).message
    conv = first.conversation_id
    reply = await store.store_outbound("acme", conv, "api", "hello", first.id, {}, "sending")
    assert await outbox.record(reply, DeliveryReceipt("api", "sent", "p-out")) == "sent"
    later = (await store.attach_inbound(inbound("thanks", provider_id="p-out"), customer)).message
    assert later.id not in (reply.id, first.id) and later.conversation_id == conv
    again = await store.store_outbound("acme", conv, "api", "welcome", later.id, {}, "sending")
    assert await outbox.record(again, DeliveryReceipt("api", "sent", "p-in")) == "sent"
    with pytest.raises(DuplicateMessageError) as dup:  # a retry is still one message
        await store.attach_inbound(inbound("thanks", provider_id="p-out"), customer)
    assert dup.value.original.id == later.id
    assert await OutboxStore(services.db).apply_status("acme", "api", "p-in", "delivered")


async def test_migration_0017_keeps_the_messages_stored_before_it(services: Services) -> None:
    """Upgraded from 0016 with messages present: every row is kept (SQLite copies the table),
    the schema matches the models and a retry is still refused."""
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c1")
    first = (await store.attach_inbound(inbound("hi", provider_id="p-in"), customer)).message
    reply = await store.store_outbound(
        "acme", first.conversation_id, "api", "hello", first.id, {}, "sending"
    )
    await OutboxStore(services.db).record(reply, DeliveryReceipt("api", "sent", "p-out"))

    def downgrade(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), "0016")

    async with services.db.engine.begin() as conn:
        await conn.run_sync(downgrade)
    await services.db.migrate()
    view = await store.conversation(first.conversation_id)
    assert view is not None and [m.text for m in view.messages] == ["hi", "hello"]
    with pytest.raises(DuplicateMessageError):
        await store.attach_inbound(inbound("hi", provider_id="p-in"), customer)
    await test_migrations_are_idempotent_and_match_models(services)


async def test_newcomer_created_meanwhile_elsewhere_joins_that_customer(services: Services) -> None:
    store = services.store
    late = Newcomer("acme", "api", "c1")  # identify found nobody...
    first, _ = await store.resolve_customer("acme", "api", "c1")  # ...another worker was quicker
    attached = await store.attach_inbound(inbound("hi"), late)
    assert (attached.customer_id, attached.customer_created) == (first, False)
    assert await store.find_open_conversation("acme", first) == attached.message.conversation_id
    assert await store.find_open_conversation("acme", late.id) is None


async def test_dedupe_on_provider_message_id_leaves_nothing_behind(services: Services) -> None:
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c1")
    stored = (await store.attach_inbound(inbound("hi", provider_id="p-1"), customer)).message
    with pytest.raises(DuplicateMessageError) as dup:
        await store.attach_inbound(inbound("hi again", provider_id="p-1"), customer)
    assert dup.value.original.id == stored.id
    # another customer's message id is refused (not that customer's message handed over) and
    # leaves no empty conversation behind
    known, _ = await store.resolve_customer("acme", "api", "c2")
    with pytest.raises(MessageIdTakenError):
        await store.attach_inbound(inbound("hi", address="c2", provider_id="p-1"), known)
    assert await store.find_open_conversation("acme", known) is None
    # nor, from a sender nobody knew, a customer
    with pytest.raises(MessageIdTakenError):
        await store.attach_inbound(
            inbound("hi", address="c3", provider_id="p-1"), Newcomer("acme", "api", "c3")
        )
    assert await store.identity_owner("acme", "api", "c3") is None
    # the same provider id in another workspace is a different message
    g_customer, _ = await store.resolve_customer("globex", "api", "c1")
    await store.attach_inbound(inbound("hi", workspace="globex", provider_id="p-1"), g_customer)
    view = await store.conversation(stored.conversation_id)
    assert view is not None and [m.text for m in view.messages] == ["hi"]


async def test_outbox_history_and_workspace_scope(services: Services) -> None:
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c1")
    ids = []
    for i in range(3):
        msg = (await store.attach_inbound(inbound(f"q{i}"), customer)).message
        conv = msg.conversation_id
        out = await store.store_outbound("acme", conv, "api", f"a{i}", msg.id, {"k": i})
        assert out.status == "pending"
        await store.mark_delivery(out, DeliveryReceipt("api", "sent", "prov-9"))
        ids.append(msg.id)
    history = (await store.recall(conv, ids[2], 3, MemoryRules())).history
    assert [h.text for h in history] == ["q0", "a0", "q1", "a1"]  # all since the summary
    assert [h.direction for h in history] == ["in", "out", "in", "out"]
    assert (await store.recall(conv, ids[2], 0, MemoryRules())).history == []
    reply = await store.reply_to(ids[1])
    assert reply is not None and reply.text == "a1" and reply.status == "sent"
    assert reply.metadata == {"k": 1, "delivery": {"provider_message_id": "prov-9", "error": None}}
    assert await store.conversation(conv, workspace_id="globex") is None
    view = await store.conversation(conv, workspace_id="acme")
    assert view is not None
    assert [m.text for m in view.messages] == ["q0", "a0", "q1", "a1", "q2", "a2"]


async def test_memory_read_with_the_message_is_the_memory_before_it(services: Services) -> None:
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c1", "Ada Lovelace")
    request = MemoryRequest(4, MemoryRules(fold_messages=4))
    first = await store.attach_inbound(inbound("q0"), customer, memory=request)
    assert first.created and first.recall is None  # a new conversation has no memory yet
    conv = first.message.conversation_id
    await store.store_outbound("acme", conv, "api", "a0", first.message.id, {})
    second = await store.attach_inbound(inbound("q1"), customer, memory=request)
    assert not second.created and second.recall is not None
    separate = await store.recall(conv, second.message.id, 4, MemoryRules(fold_messages=4))
    assert second.recall == separate  # the same memory as reading it after the message
    assert [h.text for h in second.recall.history] == ["q0", "a0"]
    assert ("NAME", "Ada Lovelace") in second.recall.known
    await store.attach_inbound(inbound("q2", provider_id="p-1"), customer, memory=request)
    with pytest.raises(DuplicateMessageError):  # a resend still leaves nothing behind
        await store.attach_inbound(inbound("q2", provider_id="p-1"), customer, memory=request)
    view = await store.conversation(conv)
    assert view is not None and [m.text for m in view.messages] == ["q0", "a0", "q1", "q2"]


async def test_earlier_analyses_are_read_with_the_message(services: Services) -> None:
    """The last few earlier messages' ``metadata.nlu``, oldest first, without the new one's."""
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c1", None)
    request = MemoryRequest(4, MemoryRules(), analyses=3)
    for i in range(5):
        attached = await store.attach_inbound(inbound(f"q{i}"), customer, memory=request)
        if i == 4:  # the last 3 messages before q4: q1, q2, q3 (q0 is one too many)
            assert attached.recall is not None
            assert attached.recall.analyses == [{"n": 2}, {"n": 3}]
        elif i != 1:  # q1 was stored before understanding existed: no analysis, skipped
            await store.save_metadata(MetadataUpdate.with_nlu(attached.message, {"n": i}))
    plain = await store.attach_inbound(
        inbound("q4"), customer, memory=MemoryRequest(4, MemoryRules())
    )
    assert plain.recall is not None and plain.recall.analyses == []  # none asked for


async def test_analyses_start_again_after_a_handoff(services: Services) -> None:
    """A person returned the conversation: the messages that fetched them start no streak."""
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c1", None)
    request = MemoryRequest(4, MemoryRules(), analyses=3)
    for i in range(2):  # two angry messages: the second hands off
        attached = await store.attach_inbound(inbound(f"q{i}"), customer, memory=request)
        await store.save_metadata(MetadataUpdate.with_nlu(attached.message, {"n": i}))
    conversation = attached.message.conversation_id
    await services.console.handoffs.open("acme", conversation, customer, {})
    await asyncio.sleep(0.01)
    after = await store.attach_inbound(inbound("held"), customer, memory=request)  # no NLU
    assert after.recall is not None and after.recall.analyses == []  # was [{"n": 0}, {"n": 1}]
    following = await store.attach_inbound(inbound("back"), customer, memory=request)
    assert following.recall is not None and following.recall.analyses == []
    await store.save_metadata(MetadataUpdate.with_nlu(following.message, {"n": 3}))
    last = await store.attach_inbound(inbound("again"), customer, memory=request)
    assert last.recall is not None and last.recall.analyses == [{"n": 3}]


async def test_seeded_customers_have_verified_identities(services: Services) -> None:
    # make_settings points config_dir at examples/acme but seeds nothing by default
    count = await services.store.upsert_customer(
        "acme", "cus_x", "Ada", {"email": "ada@example.com"}, [("email", "ada@example.com")]
    )
    again = await services.store.upsert_customer(
        "acme", "cus_x", "Ada L.", {}, [("email", "ada@example.com")]
    )
    assert count == again
    owner = await services.store.identity_owner("acme", "email", "ada@example.com")
    assert owner == count


async def test_events_append_through_the_queue(services: Services) -> None:
    services.events.emit(
        EventRecord("turn.completed", "acme", "c", payload={"a": 1}, timings={"generate": 1.5})
    )
    services.events.emit(EventRecord("turn.failed", "acme", "c"))
    await services.events.flush()
    rows = await services.store.events(conversation_id="c")
    assert [r.type for r in rows] == ["turn.completed", "turn.failed"]
    assert rows[0].payload == {"a": 1} and rows[0].timings == {"generate": 1.5}


async def test_turns_leaving_the_window_fold_into_the_summary(services: Services) -> None:
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c1")
    rules = MemoryRules(fold_messages=4)
    ids = []
    for i in range(6):
        msg = (
            await store.attach_inbound(inbound(f"Question {i}? More words here."), customer)
        ).message
        await store.store_outbound("acme", msg.conversation_id, "api", f"Answer {i}.", msg.id, {})
        ids.append(msg.id)
    conv = msg.conversation_id
    # between folds the history only grows: each turn's history starts with the previous one's
    histories = [
        [h.text for h in (await store.recall(conv, ids[n], 2, rules)).history] for n in (1, 2)
    ]
    assert histories[1][: len(histories[0])] == histories[0] and len(histories[1]) == 4
    first = await store.recall(conv, ids[5], 2, rules)  # 10 earlier messages: a fold lagged
    assert first.summary == "" and first.pending is not None
    assert [i.text for i in first.pending.items][:2] == [
        "Question 0? More words here.",
        "Answer 0.",
    ]
    assert len(first.pending.items) == 8  # every waiting message but the newest 2 folds
    assert [h.text for h in first.history] == ["Question 4? More words here.", "Answer 4."]
    summary = await ExtractiveSummarizer(400)(first.summary, first.pending.items)
    assert summary.split("\n")[:2] == [
        "Customer (chat): Question 0? More words here.",  # sentences until 40 characters
        "Assistant (chat): Answer 0.",
    ]
    assert await store.save_summary(conv, first.pending, summary)
    assert not await store.save_summary(conv, first.pending, "stale")  # a second writer loses
    after = await store.recall(conv, ids[5], 2, rules)
    assert after.summary == summary
    assert after.pending is None and len(after.history) == 2  # all older are folded


async def test_a_due_fold_waits_for_a_quiet_moment(services: Services) -> None:
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c1")
    rules = MemoryRules(fold_messages=4, wait_messages=4)
    ids = []
    for i in range(6):
        msg = (await store.attach_inbound(inbound(f"Question {i}?"), customer)).message
        await store.store_outbound("acme", msg.conversation_id, "api", f"Answer {i}.", msg.id, {})
        ids.append(msg.id)
    conv = msg.conversation_id
    turn = await store.recall(conv, ids[3], 2, rules)  # 6 waiting: due, but a turn waits
    assert turn.pending is None and len(turn.history) == 6
    quiet = await store.recall(conv, ids[3], 2, rules, quiet=True)  # the prepare step folds
    assert quiet.pending is not None and len(quiet.pending.items) == 4
    assert [h.text for h in quiet.history] == ["Question 2?", "Answer 2."]
    late = await store.recall(conv, ids[5], 2, rules)  # 10 waiting: the turn folds itself
    assert late.pending is not None and len(late.pending.items) == 8
    assert [h.text for h in late.history] == ["Question 4?", "Answer 4."]
    nothing_due = await store.recall(conv, ids[2], 2, rules, quiet=True)
    assert nothing_due.pending is None and len(nothing_due.history) == 4


async def test_a_rest_reply_is_stored_as_sent_in_one_write_others_after_the_send(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REST replies travel in the HTTP response: no second write for the receipt."""
    marked: list[str] = []
    original = services.store.mark_delivery

    async def mark(message: StoredMessage, receipt: DeliveryReceipt) -> None:
        marked.append(message.channel)
        await original(message, receipt)

    monkeypatch.setattr(services.store, "mark_delivery", mark)
    rest = await services.turns.handle(inbound("Do you ship to Canada?"), ApiChannel())
    web = await services.turns.handle(
        InboundMessage("acme", "webchat", CustomerRef("v1"), "Do you ship to Canada?"),
        WebChatChannel(),  # no socket open: the send fails and that is recorded
    )
    assert marked == ["webchat"]
    assert [m.status for m in rest.delivered] == ["sent"]
    rest_row = await services.store.reply_to(rest.message.id if rest.message else "")
    assert rest_row is not None and rest_row.status == "sent"
    web_row = await services.store.reply_to(web.message.id if web.message else "")
    assert web_row is not None and web_row.status == web.delivered[0].status
    assert web_row.metadata["delivery"] == {"provider_message_id": None, "error": ANY}


async def test_two_servers_starting_at_once_on_an_empty_database_both_come_up(
    tmp_path: Path, database: dict[str, Any]
) -> None:
    from omnivox.services import build_services
    from tests.conftest import make_settings

    workspace = {"id": "acme", "name": "Acme", "seed": {"customers": "customers.json"}}
    settings = make_settings(tmp_path, database=database, workspaces=[workspace])
    first, second = build_services(settings), build_services(settings)
    try:  # both migrated and seeded at once: one crashed on a type or a customer's unique key
        await asyncio.gather(first.start(warm_up=False), second.start(warm_up=False))
    finally:
        await first.close()
        await second.close()
