"""Rate limits per customer and per workspace, with clear errors on REST and web chat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from websockets.sync.client import connect

from omnivox.services import Services
from omnivox.storage.models import Message
from tests.conftest import LiveServer, make_settings, run_on_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    workspace = {
        "id": "acme",
        "name": "Acme",
        "limits": {"per_customer_per_minute": 3, "per_workspace_per_minute": 5},
    }
    with LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live:
        yield live


def post(server: LiveServer, customer: str) -> httpx.Response:
    body = {"workspace": "acme", "customer": {"id": customer}, "text": "hello"}
    return httpx.post(f"{server.url}/api/v1/messages", headers=server.auth(), json=body, timeout=30)


def test_a_customer_over_the_limit_gets_429_and_others_do_not(server: LiveServer) -> None:
    assert [post(server, "a").status_code for _ in range(3)] == [200, 200, 200]
    refused = post(server, "a")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    assert refused.json()["error"] == "rate_limited" and "from you" in refused.json()["message"]
    assert post(server, "b").status_code == 200  # another customer is not affected
    # the workspace has taken 5 messages this minute: the next, from anyone, is refused
    assert post(server, "c").status_code == 200
    crowd = post(server, "d")
    assert crowd.status_code == 429 and "to this service" in crowd.json()["message"]


def test_web_chat_gets_an_error_frame_and_keeps_the_socket(server: LiveServer) -> None:
    url = server.url.replace("http", "ws") + "/ws/chat?workspace=acme"
    with connect(url) as ws:
        json.loads(ws.recv(timeout=10))
        kinds = []
        for _ in range(4):
            ws.send(json.dumps({"type": "message", "text": "hi"}))
            while True:
                frame = json.loads(ws.recv(timeout=10))
                if frame["type"] in ("reply", "error"):
                    kinds.append(frame.get("code", frame["type"]))
                    break
    assert kinds == ["reply", "reply", "reply", "rate_limited"]


async def inbound_count(services: Services) -> int:
    async with services.db.sessions() as session:
        query = select(func.count()).select_from(Message).where(Message.direction == "in")
        return int((await session.execute(query)).scalar_one())


def test_new_visitor_ids_do_not_escape_the_web_chat_limit_per_address(tmp_path: Path) -> None:
    """Each visitor has a minute of its own; the address they come from has one too."""
    limits = {"per_customer_per_minute": 3, "webchat_per_address_per_minute": 2}
    workspace = {"id": "acme", "name": "Acme", "limits": limits}
    with LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live:
        url, frames = live.url.replace("http", "ws") + "/ws/chat?workspace=acme", []
        for _ in range(3):  # a fresh visitor id on each connection
            with connect(url) as ws:
                json.loads(ws.recv(timeout=10))
                ws.send(json.dumps({"type": "message", "text": "hi", "id": "m_1"}))
                while (frame := json.loads(ws.recv(timeout=10)))["type"] not in ("reply", "error"):
                    pass
                frames.append(frame)
        stored = run_on_server(live, inbound_count(live.services))
    assert [f.get("code", f["type"]) for f in frames] == ["reply", "reply", "rate_limited"]
    assert "2 messages a minute from your network" in frames[2]["message"]
    assert frames[2]["id"] == "m_1" and stored == 2  # the refused message was not stored


def test_a_retry_over_the_limit_gets_its_stored_answer(server: LiveServer) -> None:
    def send(message_id: str) -> httpx.Response:
        body = {
            "workspace": "acme",
            "customer": {"id": "r"},
            "text": "hello",
            "message_id": message_id,
        }
        return httpx.post(
            f"{server.url}/api/v1/messages", headers=server.auth(), json=body, timeout=30
        )

    first = [send(f"m{n}") for n in range(1, 4)]
    assert [r.status_code for r in first] == [200, 200, 200]
    retry = send("m3")
    assert retry.status_code == 200 and retry.headers.get("Idempotent-Replay") == "true"
    assert retry.json() == first[2].json()
    assert send("m4").status_code == 429  # a new message is still limited
