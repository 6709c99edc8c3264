"""Slack end to end, signed with Slack's own SDK: v0 signatures and the 300-second window, the
URL-verification challenge, retries deduplicated, bot messages ignored, mrkdwn rendering."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select

from omnivox.channels.slack import SlackChannel, SlackRequest, from_slack, to_mrkdwn
from omnivox.settings import Settings
from omnivox.storage.models import Message
from omnivox.types import Citation, Reply
from tests.channels.conftest import SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, BotApi
from tests.conftest import LiveServer, make_settings, run_on_server

PAYLOADS = Path(__file__).parent / "payloads"


def slack_settings(
    tmp_path: Path, slack_api: BotApi, database: dict[str, Any] | None = None, **extra: str
) -> Settings:
    """Acme with the Slack app pointed at the Web API stand-in (``extra``: more keys)."""
    slack = {
        "signing_secret": SLACK_SIGNING_SECRET,
        "bot_token": SLACK_BOT_TOKEN,
        "api_base": slack_api.url,
        **extra,
    }
    workspace = {"id": "acme", "name": "Acme", "channels": {"slack": slack}}
    return make_settings(tmp_path, database=database, workspaces=[workspace])


@pytest.fixture
def server(tmp_path: Path, slack_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    slack_api.reset()
    with LiveServer(slack_settings(tmp_path, slack_api, database)) as live:
        yield live


def signed(
    body: bytes, *, at: float | None = None, secret: str = SLACK_SIGNING_SECRET
) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {
        "content-type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


def post(server: LiveServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/webhooks/acme/slack", content=body, headers=headers)


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def inbound_count(server: LiveServer) -> int:
    async def count() -> int:
        async with server.services.db.sessions() as session:
            query = select(func.count()).select_from(Message).where(Message.direction == "in")
            return int((await session.execute(query)).scalar_one())

    return int(run_on_server(server, count()))


def test_url_verification_answers_the_challenge(server: LiveServer) -> None:
    body = payload("slack_url_verification.json")
    response = post(server, body, signed(body))
    assert response.json() == {"challenge": json.loads(body)["challenge"]}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"},
        "stale",
        "other-secret",
    ],
)
def test_bad_or_stale_signatures_are_refused_with_no_side_effect(
    server: LiveServer, slack_api: BotApi, headers: Any
) -> None:
    body = payload("slack_message_event.json")
    if headers == "stale":
        headers = signed(body, at=time.time() - 301)
    elif headers == "other-secret":
        headers = signed(body, secret="not-the-secret")
    response = post(server, body, headers)
    assert response.status_code == 401
    time.sleep(0.3)
    assert inbound_count(server) == 0 and slack_api.attempts == []


def test_a_message_is_answered_in_its_channel_and_retries_are_deduplicated(
    server: LiveServer, slack_api: BotApi
) -> None:
    body = payload("slack_message_event.json")
    assert post(server, body, signed(body)).status_code == 200
    retry = {**signed(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert post(server, body, retry).status_code == 200
    slack_api.wait_for_sends(1)
    time.sleep(1.0)
    text = "Do you ship to Canada? 🇨🇦 @U0LAN0Z89"  # the mention <@U0LAN0Z89> spelled out
    assert slack_api.attempts == [{"channel": "D024BE91L", "text": f"You asked: {text}"}]
    assert inbound_count(server) == 1


@pytest.mark.parametrize("field", ["user", "channel", "ts"])
@pytest.mark.parametrize("value", [None, {"id": "U1"}, 5, ""])
def test_a_message_event_of_the_wrong_shape_is_refused(
    server: LiveServer, slack_api: BotApi, field: str, value: Any
) -> None:
    body = json.loads(payload("slack_message_event.json"))
    body["event"][field] = value
    raw = json.dumps(body).encode()
    response = post(server, raw, signed(raw))
    assert response.status_code == 400 and response.json()["error"] == "malformed_event"
    time.sleep(0.2)
    assert inbound_count(server) == 0 and slack_api.attempts == []


def test_the_reply_is_recorded_with_its_channel_and_ts(
    server: LiveServer, slack_api: BotApi
) -> None:
    body = payload("slack_message_event.json")
    assert post(server, body, signed(body)).status_code == 200
    slack_api.wait_for_sends(1)

    async def sent_ids() -> list[str | None]:
        async with server.services.db.sessions() as session:
            query = select(Message.provider_message_id).where(
                Message.direction == "out", Message.status == "sent"
            )
            return list((await session.execute(query)).scalars())

    deadline = time.monotonic() + 10
    while not (ids := run_on_server(server, sent_ids())):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert ids == ["D024BE91L:1764340100.000001"]  # a ts is unique only within its channel


def test_a_message_in_a_thread_is_answered_in_that_thread(
    server: LiveServer, slack_api: BotApi
) -> None:
    """A top-level message is answered in its channel (above); a thread reply in its thread."""
    body = json.loads(payload("slack_message_event.json"))
    body["event"].update(channel="C024BE91L", text="<@U0BOT> Where is my order?")
    body["event"].update(ts="1764340100.000200", channel_type="channel")
    body["event"]["thread_ts"] = "1764340000.000100"
    body["authorizations"] = [{"team_id": "T061EG9R6", "user_id": "U0BOT", "is_bot": True}]
    raw = json.dumps(body).encode()
    assert post(server, raw, signed(raw)).status_code == 200
    slack_api.wait_for_sends(1)
    assert slack_api.sent == [
        {
            "channel": "C024BE91L",
            "thread_ts": "1764340000.000100",
            "text": "You asked: Where is my order?",
        }
    ]

    async def sent_ids() -> list[str | None]:
        async with server.services.db.sessions() as session:
            query = select(Message.provider_message_id).where(Message.status == "sent")
            return list((await session.execute(query)).scalars())

    deadline = time.monotonic() + 10
    while not (ids := run_on_server(server, sent_ids())):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert ids == ["C024BE91L:1764340100.000001"]  # the channel's, not "C…|thread:ts"


def channel_message(text: str, n: int, **more: Any) -> bytes:
    body = json.loads(payload("slack_message_event.json"))
    body["event"].update(channel="C0HIKERS", channel_type="channel", text=text)
    body["event"].update(ts=f"1764340200.00000{n}", user=f"U{n}")
    body.update(event_id=f"Ev{n}", **more)
    return json.dumps(body).encode()


BOT = [{"team_id": "T061EG9R6", "user_id": "U0BOT", "is_bot": True}]
PERSON = [{"team_id": "T061EG9R6", "user_id": "U0BOT", "is_bot": False}]


def test_in_a_channel_only_messages_that_mention_the_bot_are_answered(
    server: LiveServer, slack_api: BotApi
) -> None:
    chatter = [
        channel_message("anyone up for a hike?", 1, authorizations=BOT),
        channel_message("ask <@U0BOTFAN> maybe", 2, authorizations=BOT),
        channel_message("<@U0BOT> hi", 3, authorizations=PERSON),  # a person's id, not a bot's
        channel_message("<@U0BOT> hi", 4),  # no authorizations, no bot_user_id: unknown
    ]
    for raw in chatter:
        assert post(server, raw, signed(raw)).status_code == 200
    asked = channel_message("<@U0BOT> do you price match?", 5, authorizations=BOT)
    assert post(server, asked, signed(asked)).status_code == 200
    slack_api.wait_for_sends(1)
    time.sleep(0.5)
    assert slack_api.sent == [{"channel": "C0HIKERS", "text": "You asked: do you price match?"}]
    assert inbound_count(server) == 1  # was 5 answers


@pytest.mark.parametrize(
    ("extra", "text", "answered"),
    [
        ({"bot_user_id": "U0BOT"}, "<@U0BOT> hi", "You asked: hi"),
        ({"channels": "all"}, "anyone up for a hike?", "You asked: anyone up for a hike?"),
    ],
)
def test_a_configured_bot_id_or_channels_all(
    tmp_path: Path, slack_api: BotApi, extra: dict[str, str], text: str, answered: str
) -> None:
    slack_api.reset()
    with LiveServer(slack_settings(tmp_path, slack_api, **extra)) as live:
        raw = channel_message(text, 1)
        assert post(live, raw, signed(raw)).status_code == 200
        slack_api.wait_for_sends(1)
    assert slack_api.sent[0]["text"] == answered


def test_the_customers_text_is_read_as_they_typed_it(server: LiveServer, slack_api: BotApi) -> None:
    """Slack escapes ``&``, ``<`` and ``>``: the model gets them decoded, the reply escapes once."""
    body = json.loads(payload("slack_message_event.json"))
    body["event"]["text"] = "Is 5 &gt; 3 &amp; 2 &lt; 4?"
    raw = json.dumps(body).encode()
    assert post(server, raw, signed(raw)).status_code == 200
    slack_api.wait_for_sends(1)
    # Slack shows this as "You asked: Is 5 > 3 & 2 < 4?" (it showed "&gt;" and "&amp;")
    assert slack_api.sent[0]["text"] == "You asked: Is 5 &gt; 3 &amp; 2 &lt; 4?"


@pytest.mark.parametrize(
    ("slack", "text"),
    [
        ("Is 5 &gt; 3 &amp; 2 &lt; 4?", "Is 5 > 3 & 2 < 4?"),
        ("a &amp;lt; b", "a &lt; b"),  # typed "&lt;": decoded once
        ("<@U0LAN0Z89> hi <@U1|maya>", "@U0LAN0Z89 hi @maya"),
        ("in <#C123|general> and <#C9>", "in #general and #C9"),
        ("<!here> <!subteam^S1|@support>", "@here @support"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        (
            "see <https://acme.example/a?b=1&amp;c=2|returns &amp; refunds>",
            "see returns & refunds (https://acme.example/a?b=1&c=2)",
        ),
        ("<http://acme.example|acme.example> or <mailto:a@b.co|a@b.co>", "acme.example or a@b.co"),
        ("<https://acme.example/r>", "https://acme.example/r"),
    ],
)
def test_slack_markup_in_a_message_is_spelled_out(slack: str, text: str) -> None:
    assert from_slack(slack) == text


@pytest.mark.parametrize(
    ("text", "read"),
    [
        (
            "Here is the broken zip, can I get a refund?",
            "Here is the broken zip, can I get a refund?",
        ),
        ("", "(The customer sent attachments without any text: zip.jpg.)"),
    ],
)
async def test_a_message_with_a_file_is_a_turn(text: str, read: str) -> None:
    """``file_share`` messages were ignored with the other subtypes: the question was lost."""
    channel = SlackChannel(SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, "http://unused")
    files = [{"id": "F1", "name": "zip.jpg", "mimetype": "image/jpeg"}]
    event = {"type": "message", "subtype": "file_share", "channel": "D1", "user": "U1"}
    body = {"type": "event_callback", "event": {**event, "ts": "1.2", "text": text, "files": files}}
    [message] = await channel.parse(SlackRequest("acme", {}, b"", body))
    assert message.text == read
    assert message.metadata["slack"]["attachments"] == [
        {"id": "F1", "name": "zip.jpg", "type": "image/jpeg"}
    ]
    await channel.close()


def test_bot_messages_are_ignored(server: LiveServer, slack_api: BotApi) -> None:
    body = payload("slack_bot_message_event.json")
    assert post(server, body, signed(body)).status_code == 200
    time.sleep(0.3)
    assert inbound_count(server) == 0 and slack_api.attempts == []


def test_mrkdwn_rendering() -> None:
    channel = SlackChannel(SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, "http://unused")
    reply = Reply(
        "**60 days** to return, see [returns](https://x/r) & keep <receipts>.",
        (Citation("returns.md", "Returns & refunds", "…", "https://x/r"),),
    )
    [message] = channel.render(reply, "C1")
    assert message.text == (
        "*60 days* to return, see <https://x/r|returns> &amp; keep &lt;receipts&gt;.\n"
        "Source: <https://x/r|Returns &amp; refunds>"
    )


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("### Returns\n- *Note*: ~~old~~", "*Returns*\n- _Note_: ~old~"),  # shown raw before
        ("## **Sizes** ##\n\n* S\n  * M *or* L", "*Sizes*\n\n- S\n  - M _or_ L"),
        ("**bold**, __bold__, _it_, ***both***", "*bold*, *bold*, _it_, *_both_*"),
        ("`a*b*c` and\n```\n**x** ~~y~~\n```", "`a*b*c` and\n```\n**x** ~~y~~\n```"),
        ("snake_case_name, 2*3*4 = 24", "snake_case_name, 2*3*4 = 24"),
    ],
)
def test_markdown_slack_cannot_show_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn
