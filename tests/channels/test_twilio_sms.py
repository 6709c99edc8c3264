"""Twilio SMS end to end, signed with Twilio's own RequestValidator: the public URL behind a
proxy, 403 on a bad signature, an empty TwiML answer, the reply through the Messages API from
the number the customer wrote to, and SMS text rules (plain, URLs whole, GSM-7/UCS-2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from omnivox.channels.base import plain_text
from omnivox.channels.sms import is_gsm7, segments
from omnivox.channels.twilio_sms import TwilioSmsChannel
from omnivox.storage.models import Message
from omnivox.types import Citation, Reply
from tests.channels.conftest import TWILIO_SID, TWILIO_TOKEN, BotApi
from tests.conftest import ACME, LiveServer, make_settings, run_on_server

PUBLIC = "https://support.acme.example"
FORM = (Path(__file__).parent / "payloads" / "twilio_sms_inbound.txt").read_text().strip()


@pytest.fixture
def server(tmp_path: Path, twilio_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    twilio_api.reset()
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    workspace = {
        "id": "acme",
        "name": "Acme",
        "channels": {"public_url": PUBLIC, "twilio": twilio},
        "seed": {"customers": "customers.json"},
    }
    settings = make_settings(tmp_path, database=database, workspaces=[workspace])
    assert settings.config_dir == str(ACME)
    with LiveServer(settings) as live:
        yield live


def post(server: LiveServer, form: str = FORM, token: str = TWILIO_TOKEN) -> httpx.Response:
    params = dict(parse_qsl(form, keep_blank_values=True))
    url = f"{PUBLIC}/webhooks/acme/twilio/sms"  # what Twilio called, in front of the proxy
    signature = RequestValidator(token).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature, "content-type": "application/x-www-form-urlencoded"}
    return httpx.post(f"{server.url}/webhooks/acme/twilio/sms", content=form, headers=headers)


def inbound_count(server: LiveServer) -> int:
    async def count() -> int:
        async with server.services.db.sessions() as session:
            query = select(func.count()).select_from(Message).where(Message.direction == "in")
            return int((await session.execute(query)).scalar_one())

    return int(run_on_server(server, count()))


def test_an_sms_is_acknowledged_with_twiml_and_answered_through_the_api(
    server: LiveServer, twilio_api: BotApi
) -> None:
    response = post(server)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text.endswith("<Response/>")
    twilio_api.wait_for_sends(1)
    sent = twilio_api.sent[0]
    assert sent["To"] == "+15550100142" and sent["From"] == "+17205550199"
    assert sent["Body"] == "You asked: Where is my order ACM-482193? 📦"
    assert post(server).status_code == 200  # Twilio's redelivery: stored and answered once
    time.sleep(1.0)
    assert len(twilio_api.attempts) == 1 and inbound_count(server) == 1


def test_the_sender_is_the_known_customer_with_that_phone(server: LiveServer) -> None:
    assert post(server).status_code == 200

    async def owner() -> str | None:
        return await server.services.store.identity_owner("acme", "phone", "+15550100142")

    assert run_on_server(server, owner()) is not None  # seeded: Maya's verified phone


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_a_bad_signature_is_403_with_no_side_effect(
    server: LiveServer, twilio_api: BotApi, token: str
) -> None:
    response = post(server, token=token) if token else httpx.post(
        f"{server.url}/webhooks/acme/twilio/sms", content=FORM,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert response.status_code == 403
    time.sleep(0.3)
    assert inbound_count(server) == 0 and twilio_api.attempts == []


def test_a_tampered_body_fails_the_signature(server: LiveServer) -> None:
    params = dict(parse_qsl(FORM))
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        f"{PUBLIC}/webhooks/acme/twilio/sms", params
    )
    tampered = FORM.replace("Body=Where", "Body=Refund")
    headers = {"X-Twilio-Signature": signature, "content-type": "application/x-www-form-urlencoded"}
    response = httpx.post(
        f"{server.url}/webhooks/acme/twilio/sms", content=tampered, headers=headers
    )
    assert response.status_code == 403 and inbound_count(server) == 0


def test_sms_text_rules() -> None:
    channel = TwilioSmsChannel(TWILIO_SID, TWILIO_TOKEN, "http://unused", 5)
    reply = Reply(
        "**Returns**: 60 days, see [our policy](https://help.acme.example/returns).",
        (Citation("returns.md", "Returns", "…", "https://help.acme.example/returns"),),
    )
    [message] = channel.render(reply, "+15550100142|+17205550199")
    assert message.text == (
        "Returns: 60 days, see our policy (https://help.acme.example/returns).\n"
        "Source: Returns (https://help.acme.example/returns)"
    )
    assert message.payload["segments"] == 1
    assert plain_text("# Heading\n* one\n* two") == "Heading\n- one\n- two"
    assert is_gsm7("Price: €5 [net]") and not is_gsm7("Price 📦")
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2  # extension chars count twice
    assert segments("é" * 160) == 1  # é is in GSM-7's basic set
    assert segments("ł" * 70) == 1 and segments("ł" * 71) == 2  # UCS-2
    assert segments("📦" * 35) == 1 and segments("📦" * 36) == 2  # surrogate pairs: 2 units
    long = channel.render(Reply("word " * 700), "+1|+2")
    assert len(long) == 3 and all(len(m.text) <= 1600 for m in long)


def test_delivery_reports_update_the_sent_message(server: LiveServer, twilio_api: BotApi) -> None:
    assert post(server).status_code == 200
    twilio_api.wait_for_sends(1)
    assert twilio_api.sent[0]["StatusCallback"] == f"{PUBLIC}/webhooks/acme/twilio/status"
    time.sleep(0.3)
    report = {
        "MessageSid": "SM" + "1".zfill(32),
        "MessageStatus": "delivered",
        "AccountSid": TWILIO_SID,
    }
    url = f"{PUBLIC}/webhooks/acme/twilio/status"
    headers = {
        "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, report),
        "content-type": "application/x-www-form-urlencoded",
    }
    response = httpx.post(
        f"{server.url}/webhooks/acme/twilio/status", content=urlencode(report), headers=headers
    )
    assert response.status_code == 204

    async def statuses() -> list[str]:
        async with server.services.db.sessions() as session:
            rows = await session.execute(select(Message.status).where(Message.direction == "out"))
            return list(rows.scalars())

    assert run_on_server(server, statuses()) == ["delivered"]


def test_a_malformed_form_is_400(server: LiveServer) -> None:
    headers = {"X-Twilio-Signature": "x", "content-type": "application/x-www-form-urlencoded"}
    response = httpx.post(
        f"{server.url}/webhooks/acme/twilio/sms", content=b"not a form", headers=headers
    )
    assert response.status_code == 400 and response.json()["error"] == "malformed_body"
    assert inbound_count(server) == 0


def test_a_long_reply_whose_first_part_fails_arrives_in_order(
    tmp_path: Path, twilio_api: BotApi
) -> None:
    twilio_api.reset()
    twilio_api.failures.append(500)  # the first part's first try
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    workspace = {"id": "acme", "name": "Acme", "channels": {"public_url": PUBLIC, "twilio": twilio}}
    long_reply = " ".join(f"Sentence {n} of a long answer." for n in range(100))  # ~3,000 chars
    providers = [{"type": "scripted", "reply": long_reply}]
    settings = make_settings(tmp_path, providers=providers, workspaces=[workspace])
    with LiveServer(settings) as live:
        assert post(live).status_code == 200
        twilio_api.wait_for_sends(2)
        time.sleep(2.5)  # nothing else comes
    bodies = [s["Body"] for s in twilio_api.sent]
    assert len(bodies) == 2 and bodies[0].startswith("Sentence 0 ")
    assert " ".join(bodies).startswith(long_reply[:2000])


def test_a_reply_waits_behind_an_earlier_one_of_its_conversation_being_retried(
    server: LiveServer, twilio_api: BotApi
) -> None:
    twilio_api.failures.append(503)  # the first answer's first try
    params = dict(parse_qsl(FORM, keep_blank_values=True))
    for n, text in enumerate(("How long do I have to return boots?", "Do you ship to Canada?")):
        form = urlencode({**params, "Body": text, "MessageSid": f"SMin{n:030d}"})
        assert post(server, form).status_code == 200
        time.sleep(0.3)
    twilio_api.wait_for_sends(2)
    assert [s["Body"] for s in twilio_api.sent] == [
        "You asked: How long do I have to return boots?",
        "You asked: Do you ship to Canada?",
    ]
