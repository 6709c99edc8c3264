"""The outbox of provider channels: transient failures retried with backoff (after a restart
too), refusals not retried, one claim per row, interrupted sends never repeated."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from omnivox.channels.outbox import OutboxWorker
from omnivox.services import Services, build_services
from omnivox.storage.models import Message
from omnivox.storage.outbox import OutboxStore
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, aware, utcnow
from tests.channels.conftest import SECRET, BotApi
from tests.channels.test_telegram import telegram_settings
from tests.channels.test_telegram import update as telegram_update
from tests.conftest import LiveServer, run_on_server


def post(server: LiveServer) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "content-type": "application/json"}
    return httpx.post(
        f"{server.url}/webhooks/acme/telegram", content=telegram_update(), headers=headers
    )


async def outbound(server: LiveServer) -> list[Message]:
    async with server.services.db.sessions() as session:
        rows = await session.execute(select(Message).where(Message.direction == "out"))
        return list(rows.scalars())


def wait_for_status(server: LiveServer, status: str, timeout: float = 20) -> Message:
    deadline = time.monotonic() + timeout
    while True:
        rows = run_on_server(server, outbound(server))
        if rows and rows[0].status == status:
            return rows[0]
        assert time.monotonic() < deadline, f"status {[r.status for r in rows]}, not {status}"
        time.sleep(0.1)


def test_a_429_is_retried_with_backoff_and_sent_once(tmp_path: Path, bot_api: BotApi) -> None:
    bot_api.reset()
    bot_api.failures.extend([429])
    with LiveServer(telegram_settings(tmp_path, bot_api, {})) as server:
        assert post(server).status_code == 200
        row = wait_for_status(server, "sent")
    assert len(bot_api.attempts) == 2 and len(bot_api.sent) == 1
    assert row.meta["outbox"]["attempts"] == 2
    assert row.meta["delivery"]["provider_message_id"] == "5550100142:2"  # <chat>:<id in chat>


def test_a_429_waits_as_long_as_the_provider_asked(tmp_path: Path, bot_api: BotApi) -> None:
    bot_api.reset()
    bot_api.failures.extend([429])
    bot_api.retry_after = 120  # Telegram's parameters.retry_after
    with LiveServer(telegram_settings(tmp_path, bot_api, {})) as server:
        assert post(server).status_code == 200
        row = wait_for_status(server, "retry")
    assert row.next_attempt_at is not None
    wait = (aware(row.next_attempt_at) - utcnow()).total_seconds()
    assert 100 < wait <= 120  # was the outbox's own 2 s: the provider refused again
    assert len(bot_api.attempts) == 1


def test_a_refusal_is_not_retried(tmp_path: Path, bot_api: BotApi) -> None:
    bot_api.reset()
    bot_api.failures.extend([400])
    with LiveServer(telegram_settings(tmp_path, bot_api, {})) as server:
        assert post(server).status_code == 200
        row = wait_for_status(server, "failed")
        time.sleep(2.5)  # past the first retry delay: nothing more goes out
    assert len(bot_api.attempts) == 1 and bot_api.sent == []
    assert row.meta["delivery"]["error"] == "Bad Request"


def test_a_restart_resumes_retries_and_abandons_interrupted_sends(
    tmp_path: Path, bot_api: BotApi
) -> None:
    bot_api.reset()
    bot_api.failures.extend([503])
    settings = telegram_settings(tmp_path, bot_api, {})
    with LiveServer(settings) as server:
        assert post(server).status_code == 200
        wait_for_status(server, "retry")
        run_on_server(server, _add_interrupted_send(server))
    assert bot_api.sent == []  # stopped before the retry was due

    async def restart() -> list[Message]:
        services = build_services(settings)
        await services.start(warm_up=False)
        try:
            deadline = time.monotonic() + 20
            while len(bot_api.sent) < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            async with services.db.sessions() as session:
                rows = await session.execute(select(Message).where(Message.direction == "out"))
                return list(rows.scalars())
        finally:
            await services.close()

    rows = {r.status: r for r in asyncio.run(restart())}
    assert set(rows) == {"sent", "unknown"}
    assert len(bot_api.sent) == 1 and bot_api.sent[0]["chat_id"] == "5550100142"


def test_a_shutdown_lets_the_send_in_progress_finish(tmp_path: Path, bot_api: BotApi) -> None:
    bot_api.reset()
    bot_api.failures.extend([503])
    with LiveServer(telegram_settings(tmp_path, bot_api, {})) as server:
        assert post(server).status_code == 200
        wait_for_status(server, "retry")
        bot_api.delay_s = 1.5  # the retry is slow, and the server stops meanwhile
        deadline = time.monotonic() + 10
        while len(bot_api.attempts) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert len(bot_api.sent) == 1  # it went out...

    async def statuses() -> list[str]:
        services = build_services(telegram_settings(tmp_path, bot_api, {}))
        async with services.db.sessions() as session:
            rows = await session.execute(select(Message.status).where(Message.direction == "out"))
            found = [r[0] for r in rows]
        await services.db.close()
        return found

    assert asyncio.run(statuses()) == ["sent"]  # ...and says so (not left "sending")


async def _add_interrupted_send(server: LiveServer) -> None:
    rows = await outbound(server)
    store = server.services.store
    ghost = await store.store_outbound(
        "acme", rows[0].conversation_id, "telegram", "half sent", None,
        {"recipient": "5550100142", "workspace_id": "acme"}, status="sending",
    )  # fmt: skip
    async with server.services.db.sessions.begin() as session:
        old = utcnow() - timedelta(minutes=10)
        await session.execute(
            update(Message).where(Message.id == ghost.id).values(created_at=old, claimed_at=old)
        )


def test_only_one_worker_claims_a_row(tmp_path: Path, bot_api: BotApi) -> None:
    bot_api.reset()
    bot_api.failures.extend([503])
    with LiveServer(telegram_settings(tmp_path, bot_api, {})) as server:
        assert post(server).status_code == 200
        wait_for_status(server, "retry")
        store = OutboxStore(server.services.db)

        async def race() -> list[Any]:
            [row] = [r for r in await store.due(utcnow() + timedelta(hours=1))]
            return list(await asyncio.gather(*(store.claim(row) for _ in range(5))))

        claims = run_on_server(server, race())
    assert sorted(claims) == [False, False, False, False, True]


async def test_the_outbox_sends_in_order_sweeps_only_old_claims_and_drops_lost_channels(
    services: Services,
) -> None:
    store, outbox = services.store, OutboxStore(services.db)
    customer, _ = await store.resolve_customer("acme", "sms", "+15550100142")
    said = InboundMessage("acme", "sms", CustomerRef("+15550100142"), "hi")
    conv = (await store.attach_inbound(said, customer)).message.conversation_id
    meta = {"recipient": "+15550100142", "workspace_id": "acme"}
    first = await store.store_outbound("acme", conv, "sms", "part 1", None, meta, "sending")
    second = await store.store_outbound("acme", conv, "sms", "part 2", None, meta, "sending")
    failed = DeliveryReceipt("sms", "failed", error="HTTP 500", retryable=True)
    await outbox.record(first, failed)  # due in 2 s
    await outbox.queue_behind(second)  # due now, but behind part 1
    now = utcnow()
    assert await outbox.due(now) == []
    assert [m.id for m in await outbox.due(now + timedelta(seconds=3))] == [first.id]
    # a row created long ago but claimed just now (a retry in flight elsewhere) is no orphan
    long_ago = now - timedelta(minutes=10)
    async with services.db.sessions.begin() as session:
        await session.execute(update(Message).values(created_at=long_ago))
    assert await outbox.claim(first)
    assert await outbox.abandon_interrupted(timedelta(minutes=2)) == 0
    async with services.db.sessions.begin() as session:
        claimed = update(Message).where(Message.id == first.id)
        await session.execute(claimed.values(claimed_at=long_ago))
    assert await outbox.abandon_interrupted(timedelta(minutes=2)) == 1
    # part 2 is no longer behind a retry; with no SMS channel configured it cannot go
    worker = OutboxWorker(outbox, {})
    assert await worker.run_once() == 0
    async with services.db.sessions() as session:
        statuses = {
            m.text: m.status
            for m in (
                await session.execute(select(Message).where(Message.direction == "out"))
            ).scalars()
        }
    assert statuses == {"part 1": "unknown", "part 2": "failed"}


async def test_a_reply_waits_while_an_earlier_one_is_being_retried(services: Services) -> None:
    """R1 failed for now; its retry is claimed (by another server's worker, or this one's):
    R2, queued behind R1, is not due, and a new turn's reply queues behind R1 too."""
    store, outbox = services.store, OutboxStore(services.db)
    customer, _ = await store.resolve_customer("acme", "sms", "+15550100143")
    said = InboundMessage("acme", "sms", CustomerRef("+15550100143"), "hi")
    conv = (await store.attach_inbound(said, customer)).message.conversation_id
    meta = {"recipient": "+15550100143", "workspace_id": "acme"}
    first = await store.store_outbound("acme", conv, "sms", "R1", None, meta, "sending")
    second = await store.store_outbound("acme", conv, "sms", "R2", None, meta, "sending")
    failed = DeliveryReceipt("sms", "failed", error="HTTP 503", retryable=True)
    await outbox.record(first, failed)
    await outbox.queue_behind(second)
    later = utcnow() + timedelta(seconds=3)
    assert [m.id for m in await outbox.due(later)] == [first.id]
    assert await outbox.claim(first)  # server B's worker takes R1
    assert await outbox.due(later) == []  # server A must not send R2 before it
    assert await outbox.waiting(conv)  # and a new turn's reply goes behind R1
    await outbox.record(first, DeliveryReceipt("sms", "sent"))
    assert [m.id for m in await outbox.due(later)] == [second.id]
