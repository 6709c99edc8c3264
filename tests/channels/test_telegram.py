"""Telegram end to end: secret check, acknowledgement, reply through a local Bot API stand-in,
idempotent redeliveries, ignored update types, rendering. Payloads: tests/channels/payloads."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from omnivox.channels.base import split_text
from omnivox.channels.build import build_messaging
from omnivox.channels.telegram import TelegramChannel, TelegramRequest
from omnivox.settings import Settings
from omnivox.storage.models import Message
from omnivox.types import Citation, Reply
from tests.channels.conftest import SECRET, TOKEN, BotApi
from tests.conftest import LiveServer, make_settings, run_on_server

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture
def server(tmp_path: Path, bot_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    bot_api.reset()
    settings = telegram_settings(tmp_path, bot_api, database, bot_username="AcmeHelpBot")
    with LiveServer(settings) as live:
        yield live


def telegram_settings(
    tmp_path: Path,
    bot_api: BotApi,
    database: dict[str, Any],
    providers: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Settings:
    telegram = {"bot_token": TOKEN, "secret_token": SECRET, "api_base": bot_api.url, **extra}
    workspace = {"id": "acme", "name": "Acme", "channels": {"telegram": telegram}}
    return make_settings(tmp_path, database=database, workspaces=[workspace], providers=providers)


def update(name: str = "telegram_text_update.json") -> bytes:
    return (PAYLOADS / name).read_bytes()


def post(server: LiveServer, body: bytes, secret: str | None = SECRET) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return httpx.post(f"{server.url}/webhooks/acme/telegram", content=body, headers=headers)


def inbound_count(server: LiveServer) -> int:
    async def count() -> int:
        async with server.services.db.sessions() as session:
            query = select(func.count()).select_from(Message).where(Message.direction == "in")
            return int((await session.execute(query)).scalar_one())

    return int(run_on_server(server, count()))


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_a_bad_secret_is_refused_with_no_side_effect(
    server: LiveServer, bot_api: BotApi, secret: str | None
) -> None:
    response = post(server, update(), secret)
    assert response.status_code == 401 and response.json()["error"] == "bad_signature"
    time.sleep(0.3)
    assert inbound_count(server) == 0 and bot_api.attempts == []


def test_an_update_is_acknowledged_then_answered_in_the_chat(
    server: LiveServer, bot_api: BotApi
) -> None:
    response = post(server, update())
    assert response.status_code == 200
    bot_api.wait_for_sends(1)
    text = json.loads(update())["message"]["text"]
    assert bot_api.sent[0] == {
        "chat_id": "5550100142",
        "text": f"You asked: {text}",
    }  # unicode intact
    assert inbound_count(server) == 1


def test_ten_concurrent_redeliveries_give_one_message_and_one_reply(
    server: LiveServer, bot_api: BotApi
) -> None:
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: post(server, update()).status_code, range(10)))
    assert statuses == [200] * 10
    bot_api.wait_for_sends(1)
    time.sleep(1.0)  # any duplicate reply would have gone out by now
    assert len(bot_api.attempts) == 1 and inbound_count(server) == 1


def test_other_update_types_are_acknowledged_and_ignored(
    server: LiveServer, bot_api: BotApi
) -> None:
    assert post(server, update("telegram_edited_update.json")).status_code == 200
    time.sleep(0.3)
    assert inbound_count(server) == 0 and bot_api.attempts == []


def test_malformed_bodies_are_refused(server: LiveServer) -> None:
    assert post(server, b"{not json").status_code == 400
    broken = json.dumps({"update_id": 1, "message": {"text": "hi"}}).encode()
    assert post(server, broken).json()["error"] == "malformed_update"
    assert inbound_count(server) == 0


@pytest.mark.parametrize(
    "message",
    [
        {"message_id": 7, "chat": {"id": None}, "text": "hi"},
        {"message_id": 7, "chat": {"id": {"a": 1}}, "text": "hi"},
        {"message_id": 7, "chat": {"id": True}, "text": "hi"},
        {"message_id": "7", "chat": {"id": 5}, "text": "hi"},
        {"message_id": 7, "chat": "5", "text": "hi"},
        {"message_id": 7, "chat": {"id": 5}, "from": "x", "text": "hi"},
        {"message_id": 7, "chat": {"id": -5, "type": "group"}, "text": "hi"},
    ],
)
def test_a_message_of_the_wrong_shape_is_refused_and_changes_nothing(
    server: LiveServer, bot_api: BotApi, message: dict[str, Any]
) -> None:
    response = post(server, json.dumps({"update_id": 1, "message": message}).encode())
    assert response.status_code == 400 and response.json()["error"] == "malformed_update"
    time.sleep(0.3)
    assert inbound_count(server) == 0 and bot_api.attempts == []


def test_replies_in_two_chats_are_both_recorded_as_sent(
    server: LiveServer, bot_api: BotApi
) -> None:
    """Telegram numbers messages per chat, so both chats' first replies are message 2."""
    for chat in (111, 222):
        message = {"message_id": 1, "chat": {"id": chat}, "from": {"id": chat}, "text": "hello"}
        assert post(server, json.dumps({"update_id": chat, "message": message}).encode()).is_success
    bot_api.wait_for_sends(2)

    async def outbound() -> list[tuple[str, str | None]]:
        async with server.services.db.sessions() as session:
            query = select(Message.status, Message.provider_message_id).where(
                Message.direction == "out"
            )
            return [(s, p) for s, p in (await session.execute(query)).all()]

    deadline = time.monotonic() + 10
    while sorted(rows := run_on_server(server, outbound())) != [
        ("sent", "111:2"),
        ("sent", "222:2"),
    ]:
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)


def test_group_members_are_each_their_own_customer_and_answered_in_the_group(
    server: LiveServer, bot_api: BotApi
) -> None:
    group = {"id": -1001234567890, "type": "supergroup", "title": "Acme community"}
    bot = {"id": 123456, "is_bot": True, "username": "AcmeHelpBot"}  # TOKEN's bot
    asks = [
        (42, "Maya", {"text": "@acmehelpbot, question 1"}),  # a mention, any case
        (77, "Eve", {"text": "question 2", "reply_to_message": {"message_id": 2, "from": bot}}),
    ]
    for n, (member, name, said) in enumerate(asks, start=1):
        message = {
            "message_id": 100 * n,  # ids count per chat, our replies' too (those are 2, 3)
            "chat": group,
            "from": {"id": member, "first_name": name},
            **said,
        }
        assert post(server, json.dumps({"update_id": n, "message": message}).encode()).is_success
        bot_api.wait_for_sends(n)  # one after the other: the order of the replies is known
    assert [b["chat_id"] for b in bot_api.sent] == ["-1001234567890"] * 2
    assert [b["text"] for b in bot_api.sent] == ["You asked: question 1", "You asked: question 2"]

    async def senders() -> list[tuple[str, str]]:
        async with server.services.db.sessions() as session:
            query = (
                select(Message.conversation_id, Message.meta)
                .where(Message.direction == "in")
                .order_by(Message.created_at)
            )
            rows = (await session.execute(query)).all()
            return [(c, m["sender"]["address"]) for c, m in rows]

    (first, maya), (second, eve) = run_on_server(server, senders())
    assert (maya, eve) == ("42", "77") and first != second  # was one customer: the chat


def group_message(n: int, text: str, **more: Any) -> bytes:
    chat = {"id": -100777, "type": "group", "title": "Hikers"}
    message = {"message_id": n, "chat": chat, "from": {"id": 40 + n}, "text": text, **more}
    return json.dumps({"update_id": n, "message": message}).encode()


def test_group_members_talking_among_themselves_are_not_answered(
    server: LiveServer, bot_api: BotApi
) -> None:
    other_bot = {"id": 999, "is_bot": True, "username": "OtherBot"}
    chatter = [
        group_message(1, "anyone hiking this weekend?"),
        group_message(2, "ask @AcmeHelpBotFan, not me"),  # another name that begins alike
        group_message(3, "/help@OtherBot"),
        group_message(4, "sure", reply_to_message={"message_id": 1, "from": other_bot}),
    ]
    for body in chatter:
        assert post(server, body).status_code == 200
    assert post(server, group_message(5, "/help@AcmeHelpBot")).status_code == 200
    bot_api.wait_for_sends(1)
    time.sleep(0.5)
    assert len(bot_api.sent) == 1 and inbound_count(server) == 1  # was 5 answers


def test_a_command_is_read_as_its_words(server: LiveServer, bot_api: BotApi) -> None:
    """``/agent@AcmeHelpBot`` was read as "/agent@AcmeHelpBot": no request for a person."""
    assert post(server, group_message(1, "/agent@AcmeHelpBot")).status_code == 200
    bot_api.wait_for_sends(1)
    chat = {"id": 43, "type": "private"}
    private = {"message_id": 2, "chat": chat, "from": {"id": 43}, "text": "/order_status 42"}
    assert post(server, json.dumps({"update_id": 2, "message": private}).encode()).is_success
    bot_api.wait_for_sends(2)
    handed, answered = (b["text"] for b in bot_api.sent)
    assert handed.startswith("I've passed this to a member of our team")  # "agent": a person
    assert answered == "You asked: order status 42"


def test_a_workspace_can_answer_every_group_message(
    tmp_path: Path, bot_api: BotApi, database: dict[str, Any]
) -> None:
    bot_api.reset()
    settings = telegram_settings(tmp_path, bot_api, database, groups="all")
    with LiveServer(settings) as live:
        assert post(live, group_message(1, "anyone hiking this weekend?")).status_code == 200
        bot_api.wait_for_sends(1)
    assert bot_api.sent[0]["text"] == "You asked: anyone hiking this weekend?"


@pytest.mark.parametrize(("command", "payload"), [("/start", None), ("/start ref-42", "ref-42")])
def test_start_is_a_greeting_not_a_question(
    server: LiveServer, bot_api: BotApi, command: str, payload: str | None
) -> None:
    entities = [{"type": "bot_command", "offset": 0, "length": 6}]
    message = {"message_id": 1, "chat": {"id": 43, "type": "private"}, "from": {"id": 43}}
    body = {"update_id": 1, "message": {**message, "text": command, "entities": entities}}
    assert post(server, json.dumps(body).encode()).is_success
    bot_api.wait_for_sends(1)
    assert bot_api.sent[0]["text"] == "You asked: Hello"  # was "You asked: /start"

    async def stored() -> dict[str, Any]:
        async with server.services.db.sessions() as session:
            query = select(Message.meta).where(Message.direction == "in")
            return dict((await session.execute(query)).scalar_one())

    assert run_on_server(server, stored())["telegram"]["start"] == payload  # a deep link's


def test_a_photo_with_a_caption_is_answered(server: LiveServer, bot_api: BotApi) -> None:
    """A photo, video or document is read by its caption (it was ignored: no reply at all)."""
    photo = [{"file_id": "AgAD", "file_unique_id": "u", "width": 90, "height": 90}]
    message = {"message_id": 10, "chat": {"id": 42, "type": "private"}, "from": {"id": 42}}
    body = {"update_id": 1, "message": {**message, "photo": photo, "caption": "Is this covered?"}}
    assert post(server, json.dumps(body).encode()).is_success
    bot_api.wait_for_sends(1)
    assert bot_api.sent[0]["text"] == "You asked: Is this covered?"


@pytest.mark.parametrize(
    ("content", "text", "attachment"),
    [
        (
            {"document": {"file_id": "D1", "file_name": "invoice.pdf"}, "caption": "Wrong total"},
            "Wrong total",
            {"type": "document", "name": "invoice.pdf"},
        ),
        (
            {"document": {"file_id": "D1", "file_name": "invoice.pdf"}},
            "(The customer sent attachments without any text: invoice.pdf.)",
            {"type": "document", "name": "invoice.pdf"},
        ),
        (
            {"voice": {"file_id": "V1", "duration": 3}},
            "(The customer sent attachments without any text: voice.)",
            {"type": "voice", "name": None},
        ),
    ],
)
async def test_files_are_read_by_their_caption_or_said_so(
    content: dict[str, Any], text: str, attachment: dict[str, Any]
) -> None:
    channel = TelegramChannel(TOKEN, SECRET, "http://unused")
    message = {"message_id": 1, "chat": {"id": 42, "type": "private"}, **content}
    [inbound] = await channel.parse(TelegramRequest("acme", {}, {"message": message}))
    assert inbound.text == text
    assert inbound.metadata["telegram"]["attachments"] == [attachment]
    sticker = {**message, "sticker": {"file_id": "S1"}}
    del sticker[next(iter(content))]
    assert await channel.parse(TelegramRequest("acme", {}, {"message": sticker})) == []
    await channel.close()


def test_a_workspace_without_the_channel_is_404(server: LiveServer) -> None:
    response = httpx.post(f"{server.url}/webhooks/globex/telegram", content=update())
    assert response.status_code == 404


def test_render_is_plain_text_with_sources_split_at_the_limit() -> None:
    channel = TelegramChannel(TOKEN, SECRET, "http://unused")
    reply = Reply(
        "Return within 60 days [1].", (Citation("returns.md", "Returns", "…", "https://x/r"),)
    )
    [message] = channel.render(reply, "42")
    assert message.text == "Return within 60 days [1].\nSource: Returns (https://x/r)"
    long = ("word " * 2000).strip()
    pieces = split_text(long, 4096)
    assert len(pieces) == 3 and all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces) == long


def test_a_channel_without_its_secrets_is_disabled(tmp_path: Path) -> None:
    telegram = {"bot_token": "", "secret_token": "s", "api_base": "http://unused"}
    workspace = {"id": "acme", "name": "Acme", "channels": {"telegram": telegram}}
    settings = make_settings(tmp_path, workspaces=[workspace])
    assert settings.workspaces[0].channels.telegram is not None
    assert settings.workspaces[0].channels.telegram.missing == ["bot_token"]
    assert build_messaging(settings) == {}
    with LiveServer(settings) as live:
        response = httpx.post(f"{live.url}/webhooks/acme/telegram", content=b"{}")
    assert response.status_code == 404 and response.json()["error"] == "unknown_channel"


def test_webhook_bodies_up_to_1_mib_are_read_and_larger_ones_refused_unread(
    server: LiveServer, bot_api: BotApi
) -> None:
    big = json.loads(update())
    big["message"]["text"] = "x" * 200_000  # over the REST API's 64 KiB, under 1 MiB
    assert post(server, json.dumps(big).encode()).status_code == 200
    bot_api.wait_for_sends(1)  # answered, from the first max_text_chars characters only
    assert bot_api.sent[0]["text"] == (  # cut to max_text_chars, and the customer told so
        "(Your message was long: I read its first 4,000 characters.) You asked: " + "x" * 4000
    )
    big["message"]["text"] = "x" * (1024 * 1024)
    refused = post(server, json.dumps(big).encode())
    assert refused.status_code == 413 and refused.json()["error"] == "body_too_large"


def test_an_update_is_acknowledged_once_stored_and_a_failed_store_is_retried(
    tmp_path: Path, bot_api: BotApi
) -> None:
    bot_api.reset()
    slow = [{"type": "scripted", "reply": "You asked: {question}", "delay_s": 1.5}]
    with LiveServer(telegram_settings(tmp_path, bot_api, {}, slow)) as live:
        store = live.services.store
        attach = store.attach_inbound

        async def down(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("the database went away")

        store.attach_inbound = down  # type: ignore[method-assign]
        failed = post(live, update())
        assert failed.status_code == 503  # was 200, and the message was never stored
        assert inbound_count(live) == 0
        store.attach_inbound = attach  # type: ignore[method-assign]
        assert post(live, update()).status_code == 200  # Telegram's retry
        assert inbound_count(live) == 1 and bot_api.sent == []  # stored, not yet answered
        bot_api.wait_for_sends(1)
