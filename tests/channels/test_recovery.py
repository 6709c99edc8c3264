"""A server that starts answers the messages a stop left stored but unanswered (webhooks and
mail are acknowledged once stored, so the provider does not send them again)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from omnivox.settings import Settings
from omnivox.storage.models import Conversation, Message
from omnivox.types import CustomerRef, InboundMessage, utcnow
from tests.channels.conftest import SECRET, TOKEN, BotApi
from tests.conftest import LiveServer, make_settings, run_on_server


def settings(tmp_path: Path, bot_api: BotApi, database: dict[str, Any], **server: Any) -> Settings:
    telegram = {"bot_token": TOKEN, "secret_token": SECRET, "api_base": bot_api.url}
    workspace = {"id": "acme", "name": "Acme", "channels": {"telegram": telegram}}
    return make_settings(tmp_path, database=database, workspaces=[workspace], server=server)


def stored_unanswered(live: LiveServer, chat: str, text: str, n: int) -> str:
    """What a turn stores before a crash cuts it short: the customer's message, no reply."""
    store = live.services.store

    async def store_it() -> str:
        customer, _ = await store.resolve_customer("acme", "telegram", chat)
        inbound = InboundMessage(
            "acme", "telegram", CustomerRef(chat, "Maya"), text, provider_message_id=f"{chat}:{n}"
        )
        return (await store.attach_inbound(inbound, customer)).message.id

    result: str = run_on_server(live, store_it())
    return result


def age(live: LiveServer, message_id: str, minutes: int) -> None:
    async def move() -> None:
        async with live.services.db.sessions.begin() as session:
            then = utcnow() - timedelta(minutes=minutes)
            await session.execute(
                update(Message).where(Message.id == message_id).values(created_at=then)
            )

    run_on_server(live, move())


def hold(live: LiveServer, message_id: str) -> None:
    async def human() -> None:
        async with live.services.db.sessions.begin() as session:
            held = select(Message.conversation_id).where(Message.id == message_id)
            await session.execute(
                update(Conversation)
                .where(Conversation.id == held.scalar_subquery())
                .values(status="human")
            )

    run_on_server(live, human())


def test_a_restart_answers_what_the_last_stop_left_unanswered(
    tmp_path: Path, bot_api: BotApi, database: dict[str, Any]
) -> None:
    bot_api.reset()
    config = settings(tmp_path, bot_api, database, recover_minutes=15)
    with LiveServer(config) as before:
        stored_unanswered(before, "111", "How long is the return window?", 1)
        stale = stored_unanswered(before, "222", "Do you price match?", 1)
        age(before, stale, 20)  # older than recover_minutes: too late to answer
        held = stored_unanswered(before, "333", "Is anyone there?", 1)
        hold(before, held)  # a person holds that conversation
    assert bot_api.sent == []  # the "crash": stored, never answered
    with LiveServer(config):
        bot_api.wait_for_sends(1)
        time.sleep(0.5)
    assert [(m["chat_id"], m["text"]) for m in bot_api.sent] == [
        ("111", "You asked: How long is the return window?")
    ]
    with LiveServer(config):  # answered once: the next start has nothing to do
        time.sleep(1.0)
    assert len(bot_api.sent) == 1


def test_recovery_can_be_turned_off(tmp_path: Path, bot_api: BotApi) -> None:
    bot_api.reset()
    config = settings(tmp_path, bot_api, {}, recover_minutes=0)
    with LiveServer(config) as before:
        stored_unanswered(before, "444", "Where is my order?", 1)
    with LiveServer(config):
        time.sleep(1.0)
    assert bot_api.sent == []


def answered(live: LiveServer, message_id: str, text: str) -> None:
    """The reply another server wrote to ``message_id``."""

    async def reply() -> None:
        async with live.services.db.sessions() as session:
            message = (
                await session.execute(select(Message).where(Message.id == message_id))
            ).scalar_one()
        await live.services.store.store_outbound(
            "acme", message.conversation_id, "telegram", text, message_id, {}, "sent"
        )

    run_on_server(live, reply())


def test_a_restart_does_not_answer_a_message_the_customer_wrote_another_after(
    tmp_path: Path, bot_api: BotApi, database: dict[str, Any]
) -> None:
    """A killed mid-turn on FIRST; B answered SECOND: A's restart answered FIRST after it, from
    an older memory. Now only a conversation's latest message is recovered."""
    bot_api.reset()
    config = settings(tmp_path, bot_api, database, recover_minutes=15)
    with LiveServer(config) as before:
        stored_unanswered(before, "555", "FIRST", 11)
        second = stored_unanswered(before, "555", "SECOND", 12)
        answered(before, second, "You asked: SECOND")  # by server B
        stored_unanswered(before, "666", "one", 11)  # both cut short: the latest is answered
        stored_unanswered(before, "666", "two", 12)
    with LiveServer(config):
        bot_api.wait_for_sends(1)
        time.sleep(1.0)
    assert [(m["chat_id"], m["text"]) for m in bot_api.sent] == [("666", "You asked: two")]
