"""WhatsApp end to end (Cloud API shapes): handshake, signature, several messages and statuses
per POST, the 24-hour window with templates, WhatsApp formatting."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from omnivox import events
from omnivox.channels.meta import MetaRequest
from omnivox.channels.whatsapp import (
    MAX_TEMPLATE_PARAMETERS,
    Template,
    WhatsAppChannel,
    WindowClosedError,
    ensure_window,
)
from omnivox.storage.models import AuditEntry, Event, Message
from omnivox.types import Citation, OutboundMessage, Reply, utcnow
from tests.channels.conftest import META_ACCESS_TOKEN, META_APP_SECRET, META_VERIFY_TOKEN, BotApi
from tests.conftest import LiveServer, make_settings, run_on_server
from tests.handoff.test_console import login

BATCH = (Path(__file__).parent / "payloads" / "whatsapp_batch.json").read_bytes()

# order_update for Maya's ACM-482193 as the Cloud API gets it
ORDER_UPDATE = {
    "messaging_product": "whatsapp",
    "to": "15550100142",
    "type": "template",
    "template": {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Maya"},
                    {"type": "text", "text": "ACM-482193"},
                ],
            }
        ],
    },
    "phone_number_id": "106540352242922",
}


def whatsapp_settings(whatsapp_api: BotApi) -> dict[str, Any]:
    """The workspace's WhatsApp account, talking to the Cloud API stand-in."""
    whatsapp_api.reset()
    return {
        "app_secret": META_APP_SECRET,
        "verify_token": META_VERIFY_TOKEN,
        "access_token": META_ACCESS_TOKEN,
        "api_base": whatsapp_api.url,
    }


@pytest.fixture
def server(tmp_path: Path, whatsapp_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    whatsapp = whatsapp_settings(whatsapp_api)
    workspace = {"id": "acme", "name": "Acme", "channels": {"whatsapp": whatsapp}}
    with LiveServer(make_settings(tmp_path, database=database, workspaces=[workspace])) as live:
        yield live


def post(server: LiveServer, body: bytes, secret: str = META_APP_SECRET) -> httpx.Response:
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "X-Hub-Signature-256": sig}
    return httpx.post(f"{server.url}/webhooks/acme/whatsapp", content=body, headers=headers)


def count(server: LiveServer, model: Any, *where: Any) -> int:
    async def run() -> int:
        async with server.services.db.sessions() as session:
            query = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(query)).scalar_one())

    return int(run_on_server(server, run()))


def test_handshake_and_signature(server: LiveServer, whatsapp_api: BotApi) -> None:
    url = f"{server.url}/webhooks/acme/whatsapp"
    params = {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY_TOKEN, "hub.challenge": "42"}
    assert httpx.get(url, params=params).text == "42"
    assert post(server, BATCH, secret="wrong").status_code == 403
    time.sleep(0.3)
    assert count(server, Message) == 0 and whatsapp_api.attempts == []


def test_messages_are_answered_from_the_number_that_received_them(
    server: LiveServer, whatsapp_api: BotApi
) -> None:
    assert post(server, BATCH).status_code == 200
    whatsapp_api.wait_for_sends(1)
    sent = whatsapp_api.sent[0]
    assert sent["phone_number_id"] == "106540352242922" and sent["to"] == "15550100142"
    assert (
        sent["type"] == "text" and sent["text"]["body"] == "You asked: ¿Hacen envíos a México? 🇲🇽"
    )
    run_on_server(server, server.services.events.flush())
    assert count(server, Event, Event.type == events.MESSAGE_STATUS) == 1  # "delivered"
    assert count(server, Message, Message.direction == "in") == 1  # the sticker is not a turn
    assert post(server, BATCH).status_code == 200
    time.sleep(1.0)
    assert len(whatsapp_api.attempts) == 1


async def test_free_form_outside_the_window_is_refused_and_templates_go_out(
    whatsapp_api: BotApi,
) -> None:
    whatsapp_api.reset()
    channel = WhatsAppChannel(
        META_APP_SECRET, META_VERIFY_TOKEN, META_ACCESS_TOKEN, whatsapp_api.url, "v19.0", 5,
        {"order_update": Template("order_update", "en_US", 2)},
    )  # fmt: skip
    old = (utcnow() - timedelta(hours=25)).isoformat()
    message = OutboundMessage(
        "whatsapp", "15550100142|1065", "Your order shipped.", {"customer_wrote_at": old}
    )
    refused = await channel.send(message)
    assert refused.status == "failed" and not refused.retryable
    assert "24-hour customer-service window closed" in str(refused.error)
    assert whatsapp_api.attempts == []
    sent = await channel.send_template("15550100142|1065", "order_update", ["Maya", "ACM-482193"])
    assert sent.status == "sent" and sent.provider_message_id == "wamid.OUT1"
    template = whatsapp_api.sent[0]["template"]
    assert template["name"] == "order_update" and template["language"] == {"code": "en_US"}
    assert [p["text"] for p in template["components"][0]["parameters"]] == ["Maya", "ACM-482193"]
    unknown = await channel.send_template("15550100142|1065", "promo", [])
    assert unknown.status == "failed" and "order_update" in str(unknown.error)
    await channel.close()


def test_window_rules_and_formatting() -> None:
    now = utcnow()
    ensure_window((now - timedelta(hours=23)).isoformat(), now)
    with pytest.raises(WindowClosedError):
        ensure_window((now - timedelta(hours=24, minutes=1)).isoformat(), now)
    with pytest.raises(WindowClosedError, match="no message from the customer"):
        ensure_window(None, now)
    channel = WhatsAppChannel("s", "v", "t", "http://unused", "v19.0", 5)
    reply = Reply(
        "**60 days** to return, see [our policy](https://acme.example/returns).",
        (Citation("returns.md", "Returns", "…", "https://acme.example/returns"),),
    )
    [message] = channel.render(reply, "1|2")
    assert message.text == (
        "*60 days* to return, see our policy: https://acme.example/returns.\n"
        "Source: Returns https://acme.example/returns"
    )


def test_markdown_whatsapp_cannot_show_is_rewritten() -> None:
    channel = WhatsAppChannel("s", "v", "t", "http://unused", "v19.0", 5)
    reply = Reply("### Returns\n- *Note*: ~~old~~ **new**\n* see [this](https://x/y_z)")
    [message] = channel.render(reply, "1|2")
    # "### Returns" and "~~old~~" were shown as typed, and *Note* (italics) came out bold
    assert message.text == "*Returns*\n- _Note_: ~old~ *new*\n- see this: https://x/y_z"


def test_a_photo_with_a_caption_is_answered(server: LiveServer, whatsapp_api: BotApi) -> None:
    """It was skipped with the other non-text types: 200, nothing stored, no reply."""
    batch = json.loads(one_message("unused", "wamid.IMG1"))
    message = batch["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    caption = "The sole came off after a week, is this covered?"
    message.update(
        type="image", image={"mime_type": "image/jpeg", "id": "1234", "caption": caption}
    )
    assert post(server, json.dumps(batch).encode()).status_code == 200
    whatsapp_api.wait_for_sends(1)
    assert whatsapp_api.sent[0]["text"]["body"] == f"You asked: {caption}"


@pytest.mark.parametrize(
    ("message", "text", "meta"),
    [
        (
            {"type": "document", "document": {"id": "9", "filename": "invoice.pdf"}},
            "(The customer sent attachments without any text: invoice.pdf.)",
            {"attachments": [{"type": "document", "id": "9", "name": "invoice.pdf"}]},
        ),
        (
            {"type": "video", "video": {"id": "7", "caption": " Does it fit? "}},
            "Does it fit?",
            {"attachments": [{"type": "video", "id": "7", "name": None}]},
        ),
        (  # a template's quick-reply button
            {"type": "button", "button": {"text": "Track my order", "payload": "TRACK"}},
            "Track my order",
            {"button": {"payload": "TRACK"}},
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "yes", "title": "Yes, cancel it"},
                },
            },
            "Yes, cancel it",
            {"button": {"id": "yes"}},
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": "r2", "title": "Returns"},
                },
            },
            "Returns",
            {"button": {"id": "r2"}},
        ),
        ({"type": "sticker", "sticker": {"id": "5"}}, None, None),
        ({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}}, None, None),
    ],
)
def test_captions_and_buttons_are_the_messages_text(
    message: dict[str, Any], text: str | None, meta: dict[str, Any] | None
) -> None:
    channel = WhatsAppChannel("s", "v", "t", "http://unused", "v19.0", 5)
    value = {
        "metadata": {"phone_number_id": "1065"},
        "messages": [{"from": "15550100142", "id": "wamid.1", **message}],
    }
    found = channel.events(MetaRequest("acme", {}, b"", json.loads(_change(value)))).messages
    assert [(m.text, m.metadata.get("whatsapp")) for m in found] == ([(text, meta)] if text else [])


def test_status_reports_move_our_message_forward_only(
    server: LiveServer, whatsapp_api: BotApi
) -> None:
    assert post(server, BATCH).status_code == 200
    whatsapp_api.wait_for_sends(1)
    time.sleep(0.3)  # the outbox row records the provider's id right after the send

    def report(state: str) -> None:
        status = {"id": "wamid.OUT1", "status": state, "recipient_id": "15550100142"}
        value = {"messaging_product": "whatsapp", "statuses": [status]}
        change = {"field": "messages", "value": value}
        body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
        assert post(server, json.dumps(body).encode()).status_code == 200

    report("read")
    report("delivered")  # late and out of order: ignored
    statuses = run_on_server(server, _outbound_statuses(server))
    assert statuses == ["read"]
    run_on_server(server, server.services.events.flush())
    logged = run_on_server(server, _status_events(server))
    assert logged and all("recipient_id" not in p for p in logged)  # the phone: no erasure finds it
    assert {p["status"] for p in logged} >= {"read", "delivered"}


async def _status_events(server: LiveServer) -> list[dict[str, Any]]:
    async with server.services.db.sessions() as session:
        rows = await session.execute(
            select(Event.payload).where(Event.type == events.MESSAGE_STATUS)
        )
        return list(rows.scalars())


async def _outbound_statuses(server: LiveServer) -> list[str]:
    async with server.services.db.sessions() as session:
        rows = await session.execute(select(Message.status).where(Message.direction == "out"))
        return list(rows.scalars())


def _change(value: Any) -> bytes:
    change = {"field": "messages", "value": value}
    body = {"object": "whatsapp_business_account", "entry": [{"changes": [change]}]}
    return json.dumps(body).encode()


GOOD = {"from": "15550100142", "id": "wamid.1", "type": "text", "text": {"body": "hi"}}


@pytest.mark.parametrize(
    "raw",
    [
        _change([1]),
        _change({"messages": [GOOD, {**GOOD, "id": "wamid.2", "text": "hi"}]}),
        _change({"messages": [GOOD, {**GOOD, "id": "wamid.3", "text": {"body": 5}}]}),
        _change({"messages": [GOOD], "statuses": [{"id": {"x": 1}, "status": "read"}]}),
        _change({"messages": [GOOD], "contacts": "x"}),
        json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [5]}]}).encode(),
    ],
)
def test_a_post_with_a_part_of_the_wrong_shape_is_refused_whole(
    server: LiveServer, whatsapp_api: BotApi, raw: bytes
) -> None:
    response = post(server, raw)
    assert response.status_code == 400 and response.json()["error"] == "malformed_event"
    time.sleep(0.3)
    run_on_server(server, server.services.events.flush())
    assert count(server, Message) == 0 and count(server, Event) == 0
    assert whatsapp_api.attempts == []


def one_message(text: str, wamid: str) -> bytes:
    batch = json.loads(BATCH)
    value = batch["entry"][0]["changes"][0]["value"]
    value["messages"] = [{**value["messages"][0], "id": wamid, "text": {"body": text}}]
    value["messages"][0]["timestamp"] = str(int(time.time()))
    value.pop("statuses")
    return json.dumps(batch).encode()


# the workspace's approved templates (channels.whatsapp.templates)
TEMPLATES = [
    {"name": "order_update", "language": "en_US", "parameters": 2},
    {"name": "reopen_chat", "language": "es", "parameters": 0},
]


@pytest.fixture
def desk(tmp_path: Path, whatsapp_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    """A server with WhatsApp (and its templates) and two agents, Sam and Kim."""
    whatsapp = {**whatsapp_settings(whatsapp_api), "templates": TEMPLATES}
    agents = [
        {"email": "sam@acme.example", "name": "Sam", "password": "sam-password-1"},
        {"email": "kim@acme.example", "name": "Kim", "password": "kim-password-1"},
    ]
    workspace = {
        "id": "acme",
        "name": "Acme",
        "channels": {"whatsapp": whatsapp},
        "seed": {"agents": agents},
    }
    with LiveServer(make_settings(tmp_path, database=database, workspaces=[workspace])) as live:
        yield live


def handed_off(live: LiveServer, whatsapp_api: BotApi) -> str:
    """A WhatsApp customer asks for a person; the handoff's id, once it is queued."""
    assert post(live, one_message("I want to talk to a real person", "wamid.H1")).is_success
    whatsapp_api.wait_for_sends(1)  # told a person will answer
    key = {"authorization": f"Bearer {live.key('integration')}"}
    deadline = time.monotonic() + 20
    while not (listed := httpx.get(f"{live.url}/api/v1/handoffs", headers=key).json()["handoffs"]):
        assert time.monotonic() < deadline, "no handoff"
        time.sleep(0.05)
    return str(listed[0]["id"])


def test_an_agents_reply_reaches_a_whatsapp_customer(
    desk: LiveServer, whatsapp_api: BotApi
) -> None:
    handoff = handed_off(desk, whatsapp_api)
    key = {"authorization": f"Bearer {desk.key('integration')}"}
    handoffs = f"{desk.url}/api/v1/handoffs"
    agent = {"agent": "sam@acme.example"}
    assert httpx.post(f"{handoffs}/{handoff}/claim", headers=key, json=agent).is_success
    sent = httpx.post(
        f"{handoffs}/{handoff}/reply",
        headers=key,
        json={**agent, "text": "Sam here: your tent ships today."},
    )
    # on SQLite the stored time came back naive and the window check raised: the reply
    # was stored as failed while the API said 200
    assert sent.status_code == 200, sent.text
    whatsapp_api.wait_for_sends(2)
    assert whatsapp_api.sent[1]["text"]["body"] == "Sam here: your tent ships today."


def test_the_console_says_when_the_whatsapp_window_is_closed(
    desk: LiveServer, whatsapp_api: BotApi
) -> None:
    """The page showed the reply box as usual, with nothing about the closed window."""
    handoff = handed_off(desk, whatsapp_api)
    sam = login(desk, "sam@acme.example", "sam-password-1")
    page = sam.get(f"/console/handoffs/{handoff}").text
    assert "only accepts template messages" not in page  # the customer wrote just now

    wrote = age_inbound(desk)
    page = sam.get(f"/console/handoffs/{handoff}").text
    notice = (
        "WhatsApp only accepts template messages 24 h after the customer's last message; "
        f"last message at {wrote:%Y-%m-%d %H:%M} UTC"
    )
    assert notice in page
    # a reply is refused with the reason (stored as failed for the record), never sent
    refused = sam.post(f"/console/handoffs/{handoff}/reply", data={"text": "Sam here!"})
    assert refused.status_code == 502
    assert "24-hour customer-service window closed" in refused.text
    assert "Sam here!" in refused.text  # the draft is given back
    assert len(whatsapp_api.sent) == 1  # only the bot's "a person will answer"


def age_inbound(live: LiveServer, hours: float = 25) -> datetime:
    """Date the customer's messages ``hours`` back (25: WhatsApp's window closed); that time."""
    wrote = utcnow() - timedelta(hours=hours)

    async def age() -> None:
        async with live.services.db.sessions.begin() as session:
            await session.execute(
                update(Message).where(Message.direction == "in").values(created_at=wrote)
            )

    run_on_server(live, age())
    return wrote


async def _outbound(live: LiveServer) -> list[Message]:
    async with live.services.db.sessions() as session:
        query = select(Message).where(Message.direction == "out").order_by(Message.seq)
        return list((await session.execute(query)).scalars())


def test_an_agent_sends_a_template_once_the_window_closed(
    desk: LiveServer, whatsapp_api: BotApi
) -> None:
    """The console had no way to reach a WhatsApp customer after 24 hours (404 for .../template)."""
    handoff = handed_off(desk, whatsapp_api)
    sam = login(desk, "sam@acme.example", "sam-password-1")
    assert sam.post(f"/console/handoffs/{handoff}/claim").status_code == 303
    age_inbound(desk)
    page = sam.get(f"/console/handoffs/{handoff}").text
    assert 'action="/console/handoffs/' + handoff + '/template"' in page
    assert '<option value="order_update" selected>order_update (en_US)</option>' in page

    whatsapp_api.failures.append(503)  # the first try fails for now: the outbox retries it
    form = {"template": "order_update", "param": ["Maya", "ACM-482193"]}
    sent = sam.post(f"/console/handoffs/{handoff}/template", data=form)
    assert sent.status_code == 303, sent.text
    whatsapp_api.wait_for_sends(2)
    assert len(whatsapp_api.attempts) == 3  # the bot's notice, the refused try, the retry
    assert whatsapp_api.sent[1] == ORDER_UPDATE
    deadline = time.monotonic() + 10
    while (row := run_on_server(desk, _outbound(desk))[-1]).status != "sent":
        assert time.monotonic() < deadline, row.status
        time.sleep(0.1)
    assert row.text == "Template order_update (en_US): {{1}} Maya · {{2}} ACM-482193"
    assert row.provider_message_id == "wamid.OUT2"
    assert row.meta["provider"].startswith("agent:")  # shown as the agent's in the console
    template = {"name": "order_update", "language": "en_US", "parameters": ["Maya", "ACM-482193"]}
    assert row.meta["channel_data"] == {"template": template}
    assert row.meta["outbox"]["attempts"] == 2
    page = sam.get(f"/console/handoffs/{handoff}").text
    assert "agent · template" in page and "{{1}} Maya · {{2}} ACM-482193" in page

    # a template with no parameters goes out without components
    sent = sam.post(f"/console/handoffs/{handoff}/template", data={"template": "reopen_chat"})
    assert sent.status_code == 303, sent.text
    whatsapp_api.wait_for_sends(3)
    assert whatsapp_api.sent[2]["template"] == {
        "name": "reopen_chat",
        "language": {"code": "es"},
        "components": [],
    }


def test_a_template_that_does_not_fit_is_refused_with_nothing_sent(
    desk: LiveServer, whatsapp_api: BotApi
) -> None:
    handoff = handed_off(desk, whatsapp_api)
    sam = login(desk, "sam@acme.example", "sam-password-1")
    kim = login(desk, "kim@acme.example", "kim-password-1")
    url = f"/console/handoffs/{handoff}/template"
    good = {"template": "order_update", "param": ["Maya", "ACM-482193"]}
    age_inbound(desk)
    stored = len(run_on_server(desk, _outbound(desk)))
    key = desk.auth("integration")

    def status() -> str:
        found = httpx.get(f"{desk.url}/api/v1/handoffs/{handoff}", headers=key).json()
        return str(found["status"])

    unknown = {"template": "promo", "param": "x"}
    refused = sam.post(url, data=unknown)  # refused before Sam would claim it
    assert refused.status_code == 422 and status() == "waiting"
    assert kim.post(f"/console/handoffs/{handoff}/claim").status_code == 303
    taken = sam.post(url, data=good)
    assert taken.status_code == 409 and "another agent holds" in taken.text
    refusals = [
        (unknown, "no template &#39;promo&#39; taking 1 parameters"),
        ({"template": "order_update", "param": ["Maya"]}, "order_update (2), reopen_chat (0)"),
        (
            {"template": "order_update", "param": ["Maya", " "]},
            "{{2}} of &#39;order_update&#39; is empty",
        ),
        ({"template": "order_update", "param": ["Maya", "a\tb"]}, "without tabs"),
        # the Cloud API refuses more than 4 spaces in a row (132018): it was claimed and sent
        ({"template": "order_update", "param": ["Maya", "ACM-1     ACM-2"]}, "4 spaces in a row"),
        ({"template": "order_update", "param": ["Maya", "x" * 1025]}, "1,024 characters"),
    ]
    for form, reason in refusals:
        refused = kim.post(url, data=form)
        assert refused.status_code == 422, refused.text
        assert reason in refused.text and "nothing was sent" in refused.text
    # the page comes back with the template as filled in
    assert 'value="Maya"' in kim.post(url, data={"template": "order_update", "param": "Maya"}).text
    cross = kim.post(url, data=good, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    anonymous = httpx.post(f"{desk.url}{url}", data=good)
    assert anonymous.status_code == 401 and "Nothing was sent" in anonymous.text

    async def switch_channel() -> None:  # the customer's latest message came by SMS
        async with desk.services.db.sessions.begin() as session:
            await session.execute(
                update(Message).where(Message.direction == "in").values(channel="sms")
            )

    run_on_server(desk, switch_channel())
    elsewhere = kim.post(url, data=good)
    assert elsewhere.status_code == 409 and "came by sms" in elsewhere.text
    time.sleep(0.3)
    assert len(run_on_server(desk, _outbound(desk))) == stored
    assert len(whatsapp_api.attempts) == 1  # only the bot's "a person will answer"


def test_a_help_desk_sends_a_template_over_rest(desk: LiveServer, whatsapp_api: BotApi) -> None:
    """The REST API had no template endpoint: ``.../template`` was an unknown action (404)."""
    handoff = handed_off(desk, whatsapp_api)
    age_inbound(desk)
    url = f"{desk.url}/api/v1/handoffs/{handoff}/template"
    key = desk.auth("integration")
    body = {
        "agent": "sam@acme.example",
        "template": "order_update",
        "parameters": ["Maya", "ACM-482193 "],
    }
    sent = httpx.post(url, headers=key, json=body)
    assert sent.status_code == 200, sent.text
    assert sent.json()["id"] == handoff and sent.json()["status"] == "claimed"  # as a reply does
    whatsapp_api.wait_for_sends(2)
    assert whatsapp_api.sent[1] == ORDER_UPDATE
    empty = {"agent": "sam@acme.example", "template": "reopen_chat"}  # no parameters
    assert httpx.post(url, headers=key, json=empty).status_code == 200
    whatsapp_api.wait_for_sends(3)
    assert whatsapp_api.sent[2]["template"]["components"] == []
    first, second = run_on_server(desk, _audited_replies(desk))
    assert first.actor.startswith("key:")  # the help desk's key, as for its other actions
    assert "order_update" in first.details and "Maya" not in first.details
    assert "reopen_chat" in second.details


async def _audited_replies(live: LiveServer) -> list[AuditEntry]:
    async with live.services.db.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == "handoff.replied")
        return list((await session.execute(query.order_by(AuditEntry.id))).scalars())


def test_a_help_desks_template_that_does_not_fit_is_refused_with_nothing_sent(
    desk: LiveServer, whatsapp_api: BotApi
) -> None:
    handoff = handed_off(desk, whatsapp_api)
    age_inbound(desk)
    url = f"{desk.url}/api/v1/handoffs/{handoff}/template"
    key = desk.auth("integration")
    stored = len(run_on_server(desk, _outbound(desk)))
    sam = {"agent": "sam@acme.example"}
    kim = {"agent": "kim@acme.example"}
    good = {"template": "order_update", "parameters": ["Maya", "ACM-482193"]}

    def status() -> str:
        found = httpx.get(f"{desk.url}/api/v1/handoffs/{handoff}", headers=key).json()
        return str(found["status"])

    def refused(body: dict[str, Any], code: int, error: str, caller: str = "integration") -> None:
        response = httpx.post(url, headers=desk.auth(caller), json=body)
        assert response.status_code == code, response.text
        assert response.json()["error"] == error, response.text

    refused({**sam, "template": "promo", "parameters": ["x"]}, 422, "bad_template")
    assert status() == "waiting"  # refused before Sam would claim it
    refused({**sam, **good}, 403, "forbidden", caller="analyst")
    refused({"agent": "eve@acme.example", **good}, 404, "unknown_agent")
    # the generic action's body (text) is not a template: .../template is never an action
    refused({**sam, "text": "Sam here!"}, 422, "validation_error")
    refused({**sam, "template": "", "parameters": []}, 422, "validation_error")
    many = ["x"] * (MAX_TEMPLATE_PARAMETERS + 1)
    refused({**sam, "template": "order_update", "parameters": many}, 422, "validation_error")
    assert status() == "waiting"
    claimed = httpx.post(f"{desk.url}/api/v1/handoffs/{handoff}/claim", headers=key, json=kim)
    assert claimed.status_code == 200
    refused({**sam, **good}, 409, "claimed_by_another")
    refused({**kim, "template": "order_update", "parameters": ["Maya"]}, 422, "bad_template")
    refused({**kim, "template": "order_update", "parameters": ["Maya", " "]}, 422, "bad_template")
    too_long = {**kim, "template": "order_update", "parameters": ["Maya", "x" * 1025]}
    refused(too_long, 422, "validation_error")
    message = httpx.post(url, headers=key, json=too_long).json()["detail"][0]
    assert message["field"] == "parameters.1" and "1024" in message["message"]

    async def switch_channel() -> None:  # the customer's latest message came by SMS
        async with desk.services.db.sessions.begin() as session:
            await session.execute(
                update(Message).where(Message.direction == "in").values(channel="sms")
            )

    run_on_server(desk, switch_channel())
    refused({**kim, **good}, 409, "not_whatsapp")
    time.sleep(0.3)
    assert len(run_on_server(desk, _outbound(desk))) == stored
    assert len(whatsapp_api.attempts) == 1  # only the bot's "a person will answer"
    assert run_on_server(desk, _audited_replies(desk)) == []


@pytest.mark.parametrize(
    ("code", "retryable"), [(130429, True), (131056, True), (80007, True), (131026, False)]
)
async def test_whatsapp_rate_limits_under_http_400_are_retried(
    whatsapp_api: BotApi, code: int, retryable: bool
) -> None:
    """Cloud API throughput (130429) and pair rate limits (131056) come as HTTP 400."""
    whatsapp_api.reset()
    whatsapp_api.failures.append(400)
    whatsapp_api.meta_code = code
    channel = WhatsAppChannel(
        META_APP_SECRET, META_VERIFY_TOKEN, META_ACCESS_TOKEN, whatsapp_api.url, "v19.0", 5, {}
    )
    now = utcnow().isoformat()
    message = OutboundMessage("whatsapp", "15550100142|1065", "hi", {"customer_wrote_at": now})
    try:
        receipt = await channel.send(message)
    finally:
        await channel.close()
    assert receipt.status == "failed" and receipt.retryable is retryable
