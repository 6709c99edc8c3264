"""One customer across channels, end to end: web chat, a phone number proven with a code sent by
SMS, then SMS, then email; one conversation and its context carried throughout.

Real pieces: the WebSocket chat, Twilio-signed webhooks (Twilio's RequestValidator) and the
Messages API stand-in, a real SMTP client to the inbound server and an aiosmtpd relay."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.sync.client import ClientConnection, connect

from omnivox.storage.models import Event, Message
from omnivox.testing.scripted import ScriptedProvider
from tests.channels.conftest import TWILIO_SID, TWILIO_TOKEN, BotApi, signed_sms
from tests.channels.email.support import RelaySink, mail, plain, send, start_sink
from tests.conftest import LiveServer, free_port, make_settings, run_on_server

PUBLIC = "https://support.acme.example"
MAYA_PHONE, MAYA_EMAIL, OUR_NUMBER = "+15550100142", "maya.thompson@example.com", "+17205550199"


@pytest.fixture(scope="module")
def relay() -> Iterator[RelaySink]:
    sink, ctl = start_sink()
    yield sink
    ctl.stop()


@pytest.fixture
def server(
    tmp_path: Path, twilio_api: BotApi, relay: RelaySink, database: dict[str, Any]
) -> Iterator[LiveServer]:
    twilio_api.reset()
    relay.reset()
    channels = {
        "public_url": PUBLIC,
        "twilio": {
            "account_sid": TWILIO_SID,
            "auth_token": TWILIO_TOKEN,
            "api_base": twilio_api.url,
            "from_number": OUR_NUMBER,
        },
        "email": {
            "addresses": ["support@acme.example"],
            "relay": f"127.0.0.1:{relay.port}",
            "tls": "none",
        },
    }
    workspace = {
        "id": "acme",
        "name": "Acme Outfitters",
        "persona": {"name": "Juniper", "brand": "Acme Outfitters"},
        "channels": channels,
        "seed": {"customers": "customers.json"},
    }
    settings = make_settings(
        tmp_path,
        database=database,
        workspaces=[workspace],
        server={"smtp_listen": f"127.0.0.1:{free_port()}"},
    )
    with LiveServer(settings) as live:
        yield live


def chat(ws: ClientConnection, text: str) -> dict[str, Any]:
    ws.send(json.dumps({"type": "message", "text": text}))
    while True:
        frame = json.loads(ws.recv(timeout=20))
        if frame["type"] in ("reply", "error"):
            return dict(frame)


def sms(server: LiveServer, text: str, sid: str) -> None:
    signed_sms(server.url, text, sid, sender=MAYA_PHONE, to=OUR_NUMBER)


def rows(server: LiveServer, model: Any) -> list[Any]:
    async def load() -> list[Any]:
        async with server.services.db.sessions() as session:
            order = model.seq if model is Message else model.id
            return list((await session.execute(select(model).order_by(order))).scalars())

    return list(run_on_server(server, load()))


def test_web_chat_then_a_proven_phone_then_sms_then_email_is_one_conversation(
    server: LiveServer, twilio_api: BotApi, relay: RelaySink
) -> None:
    url = server.url.replace("http", "ws") + "/ws/chat?workspace=acme"
    with connect(url) as ws:
        json.loads(ws.recv(timeout=10))  # session
        first = chat(ws, "My jacket order hasn't arrived yet")
        conversation = first["conversation_id"]
        asked = chat(ws, "my phone number is +1 555-010-0142")
        assert "sent a 6-digit code to +1 ••• 0142" in asked["text"]
        twilio_api.wait_for_sends(1)
        code_sms = twilio_api.sent[0]
        assert (code_sms["To"], code_sms["From"]) == (MAYA_PHONE, OUR_NUMBER)
        code = re.search(r"\b(\d{6})\b", code_sms["Body"])
        assert code is not None
        done = chat(ws, code.group(1))
        assert done["text"] == "Thank you, your phone number is verified and linked."
        assert done["conversation_id"] == conversation

    profile = httpx.get(
        f"{server.url}/api/v1/customers/cus_x", headers=server.auth(), params={"workspace": "acme"}
    )
    assert profile.status_code == 404
    merges = [e for e in rows(server, Event) if e.type == "customer.merged"]
    assert len(merges) == 1 and merges[0].payload["evidence"]["method"] == "code"
    maya = merges[0].payload["target"]

    sms(server, "Any news on it?", "SMin" + "1" * 30)
    twilio_api.wait_for_sends(2)
    answer = twilio_api.sent[1]
    assert answer["Body"].startswith("Following up on our web chat conversation.")
    scripted = server.services.chain.providers[0]
    assert isinstance(scripted, ScriptedProvider)
    prompt = "\n".join(m.content for m in scripted.requests[-1].messages)
    assert "My jacket order hasn't arrived yet" in prompt  # the chat's context, by SMS
    assert "started this conversation on web chat" in prompt
    assert code.group(1) not in prompt  # the code was redacted from memory

    send(
        int(server.services.smtp_address.rsplit(":", 1)[1]),
        mail("Could you email me the tracking link?", sender=f"Maya <{MAYA_EMAIL}>"),
    )
    [reply] = relay.wait_for(1)
    assert plain(reply).startswith("Hi Maya,\n\nFollowing up on our text messages conversation.")

    inbound = [m for m in rows(server, Message) if m.direction == "in"]
    assert [m.channel for m in inbound] == ["webchat", "webchat", "webchat", "sms", "email"]
    assert {m.conversation_id for m in inbound} == {conversation}
    profile = httpx.get(
        f"{server.url}/api/v1/customers/{maya}", headers=server.auth(), params={"workspace": "acme"}
    )
    body = profile.json()
    assert body["name"] == "Maya Thompson"
    kinds = {(i["kind"], i["source"]) for i in body["identities"]}
    assert {("email", "seed"), ("phone", "seed"), ("webchat", "channel")} <= kinds
    assert [c["id"] for c in body["conversations"]] == [conversation]
