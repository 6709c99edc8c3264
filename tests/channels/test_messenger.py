"""Messenger end to end: Meta's verify handshake, X-Hub-Signature-256 over the raw bytes,
several events per POST, echoes ignored, delivery/read statuses recorded, the Send API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from omnivox import events
from omnivox.channels.messenger import MessengerChannel
from omnivox.channels.meta import transient
from omnivox.storage.models import Event, Message
from omnivox.types import OutboundMessage
from tests.channels.conftest import META_ACCESS_TOKEN, META_APP_SECRET, META_VERIFY_TOKEN, BotApi
from tests.conftest import LiveServer, make_settings, run_on_server

BATCH = (Path(__file__).parent / "payloads" / "messenger_batch.json").read_bytes()


@pytest.fixture
def server(tmp_path: Path, graph_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    graph_api.reset()
    messenger = {
        "app_secret": META_APP_SECRET,
        "verify_token": META_VERIFY_TOKEN,
        "access_token": META_ACCESS_TOKEN,
        "api_base": graph_api.url,
    }
    workspace = {"id": "acme", "name": "Acme", "channels": {"messenger": messenger}}
    with LiveServer(make_settings(tmp_path, database=database, workspaces=[workspace])) as live:
        yield live


def signature(body: bytes, secret: str = META_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(server: LiveServer, body: bytes, sig: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if sig is not None:
        headers["X-Hub-Signature-256"] = sig
    return httpx.post(f"{server.url}/webhooks/acme/messenger", content=body, headers=headers)


def count(server: LiveServer, model: Any, *where: Any) -> int:
    async def run() -> int:
        async with server.services.db.sessions() as session:
            query = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(query)).scalar_one())

    return int(run_on_server(server, run()))


def test_the_verify_handshake(server: LiveServer) -> None:
    url = f"{server.url}/webhooks/acme/messenger"
    ok = httpx.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": META_VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = httpx.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert bad.status_code == 403


@pytest.mark.parametrize("sig", [None, "sha256=00", "other-secret"])
def test_a_bad_signature_is_refused_with_no_side_effect(
    server: LiveServer, graph_api: BotApi, sig: str | None
) -> None:
    given = signature(BATCH, "not-the-secret") if sig == "other-secret" else sig
    assert post(server, BATCH, given).status_code == 403
    time.sleep(0.3)
    assert count(server, Message) == 0 and graph_api.attempts == []


def test_several_events_per_post_are_answered_and_statuses_recorded(
    server: LiveServer, graph_api: BotApi
) -> None:
    assert post(server, BATCH, signature(BATCH)).status_code == 200
    graph_api.wait_for_sends(2)
    recipients = sorted(b["recipient"]["id"] for b in graph_api.sent)
    assert recipients == ["6400000000000001", "6400000000000002"]  # the echo is not answered
    assert all(b["messaging_type"] == "RESPONSE" for b in graph_api.sent)
    assert any(b["message"]["text"] == "You asked: Do you price match? 💬" for b in graph_api.sent)
    run_on_server(server, server.services.events.flush())
    assert count(server, Event, Event.type == events.MESSAGE_STATUS) == 2
    assert count(server, Message, Message.direction == "in") == 2
    assert post(server, BATCH, signature(BATCH)).status_code == 200  # redelivered: answered once
    time.sleep(1.0)
    assert len(graph_api.attempts) == 2


GOOD_EVENT = {"sender": {"id": "p1"}, "message": {"mid": "m.1", "text": "hi"}}


@pytest.mark.parametrize(
    "body",
    [
        {"object": "page", "entry": [1]},
        {"object": "page", "entry": {"messaging": []}},
        {"object": "page", "entry": [{"messaging": [GOOD_EVENT, 1]}]},
        {"object": "page", "entry": [{"messaging": [GOOD_EVENT, {**GOOD_EVENT, "sender": "p"}]}]},
        {"object": "page", "entry": [{"messaging": [{"sender": {"id": "p2"}, "message": "hi"}]}]},
        {"object": "page", "entry": [{"messaging": [{**GOOD_EVENT, "message": {"text": 5}}]}]},
        {  # a delivery report before the message: nothing of the POST is recorded
            "object": "page",
            "entry": [
                {"messaging": [{"sender": {"id": "p1"}, "delivery": {"mids": 5}}, GOOD_EVENT]}
            ],
        },
    ],
)
def test_a_post_with_a_part_of_the_wrong_shape_is_refused_whole(
    server: LiveServer, graph_api: BotApi, body: dict[str, Any]
) -> None:
    raw = json.dumps(body).encode()
    response = post(server, raw, signature(raw))
    assert response.status_code == 400 and response.json()["error"] == "malformed_event"
    time.sleep(0.3)
    run_on_server(server, server.services.events.flush())
    assert count(server, Message) == 0 and count(server, Event) == 0
    assert graph_api.attempts == []


def test_a_tapped_button_and_files_without_text_are_answered(
    server: LiveServer, graph_api: BotApi
) -> None:
    """A postback and an attachment-only message were skipped: 200, nothing stored, no reply."""
    image = {"type": "image", "payload": {"url": "https://cdn.example/y.jpg"}}
    like = {"type": "image", "payload": {"url": "https://cdn.example/l.png", "sticker_id": 369}}
    events = [
        {"sender": {"id": "p1"}, "message": {"mid": "m_att1", "attachments": [image]}},
        {"sender": {"id": "p1"}, "message": {"mid": "m_like", "attachments": [like]}},
        {
            "sender": {"id": "p2"},
            "timestamp": 1764340000000,
            "postback": {"title": "Get Started", "payload": "GET_STARTED", "mid": "m_pb1"},
        },
    ]
    raw = json.dumps({"object": "page", "entry": [{"messaging": events}]}).encode()
    assert post(server, raw, signature(raw)).status_code == 200
    graph_api.wait_for_sends(2)
    time.sleep(0.5)  # a reply to the "like" would have gone out by now
    assert sorted((b["recipient"]["id"], b["message"]["text"]) for b in graph_api.sent) == [
        ("p1", "You asked: (The customer sent attachments without any text: image.)"),
        ("p2", "You asked: Get Started"),
    ]

    async def metadata() -> list[dict[str, Any]]:
        async with server.services.db.sessions() as session:
            query = select(Message.meta).where(Message.direction == "in")
            return sorted(
                (m["messenger"] for m in (await session.execute(query)).scalars()), key=str
            )

    assert run_on_server(server, metadata()) == [
        {"attachments": [{"type": "image", "url": "https://cdn.example/y.jpg"}]},
        {"postback": "GET_STARTED"},
    ]


@pytest.mark.parametrize(
    ("code", "retryable"),
    [(613, True), (4, True), (32, True), (1200, True), (100, False), (551, False)],
)
async def test_meta_throttling_codes_under_http_400_are_retried(
    graph_api: BotApi, code: int, retryable: bool
) -> None:
    """HTTP 400 with {"error": {"code": 613}} was final: the reply was dropped."""
    graph_api.reset()
    graph_api.failures.append(400)
    graph_api.meta_code = code
    channel = MessengerChannel(
        META_APP_SECRET, META_VERIFY_TOKEN, META_ACCESS_TOKEN, graph_api.url, "v19.0", 5
    )
    try:
        receipt = await channel.send(OutboundMessage("messenger", "PSID1", "hi", {}))
    finally:
        await channel.close()
    assert receipt.status == "failed" and receipt.retryable is retryable
    assert "rate limit" in (receipt.error or "")


def test_is_transient_in_an_error_means_try_again() -> None:
    assert transient({"error": {"code": 9999, "is_transient": True}})
    assert transient({"error": {"code": "613"}})
    assert not transient({"error": {"code": 190, "is_transient": False}})
    assert not transient({"error": "rate limit"}) and not transient({})
