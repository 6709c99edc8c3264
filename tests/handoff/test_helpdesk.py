"""The help-desk REST API (integration API keys) and the signed outbound webhooks, end to end."""

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
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnivox.storage.models import AuditEntry
from tests.channels.conftest import TWILIO_SID, TWILIO_TOKEN, BotApi, running
from tests.conftest import LiveServer, make_settings, run_on_server
from tests.handoff.test_console import PUBLIC, sms, wait_handoff

SECRET = "whsec-test-secret"


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A help desk's webhook endpoint that checks the documented signature scheme itself."""
    got: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        body = await request.body()
        stamp = request.headers["x-omnivox-timestamp"]
        expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        ok = hmac.compare_digest(
            request.headers["x-omnivox-signature"], "sha256=" + expected.hexdigest()
        )
        fresh = abs(time.time() - int(stamp)) < 300
        got.append({**json.loads(body), "verified": ok and fresh})
        return Response(status_code=204)

    with running(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        yield f"{url}/hook", got


@pytest.fixture
def server(
    tmp_path: Path, twilio_api: BotApi, receiver: tuple[str, list[dict[str, Any]]]
) -> Iterator[LiveServer]:
    twilio_api.reset()
    receiver[1].clear()
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    acme = {
        "id": "acme",
        "name": "Acme",
        "channels": {"public_url": PUBLIC, "twilio": twilio},
        "seed": {
            "customers": "customers.json",
            "agents": [
                {"email": "sam@acme.example", "name": "Sam", "password": "sam-password-1"},
                {
                    "email": "alex@acme.example",
                    "name": "Alex",
                    "password": "alex-pw-1",
                    "role": "admin",
                },
            ],
        },
        "handoff": {"webhooks": [{"url": receiver[0], "secret": SECRET}]},
    }
    with LiveServer(make_settings(tmp_path, workspaces=[acme])) as live:
        yield live


def api(
    server: LiveServer, method: str, path: str, key: str | None = None, **kw: Any
) -> httpx.Response:
    """A help-desk call with an integration key (``key=""``: none at all)."""
    key = server.key("integration") if key is None else key
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, f"{server.url}/api/v1/handoffs{path}", headers=headers, **kw)


def wait_events(got: list[dict[str, Any]], n: int) -> None:
    deadline = time.monotonic() + 15
    while len(got) < n:
        assert time.monotonic() < deadline, f"expected {n} webhook events, got {len(got)}"
        time.sleep(0.05)


def test_a_help_desk_works_a_handoff_over_rest_and_hears_webhooks(
    server: LiveServer, twilio_api: BotApi, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    got = receiver[1]
    sms(server, "I want to talk to a real person", 1)
    handoff = wait_handoff(server)
    wait_events(got, 1)
    assert got[0]["event"] == "handoff.created" and got[0]["verified"]
    assert got[0]["handoff"]["id"] == handoff.id

    listed = api(server, "GET", "")
    assert listed.status_code == 200 and [h["id"] for h in listed.json()["handoffs"]] == [
        handoff.id
    ]
    detail = api(server, "GET", f"/{handoff.id}").json()
    assert detail["messages"][0]["text"] == "I want to talk to a real person"

    claimed = api(server, "POST", f"/{handoff.id}/claim", json={"agent": "sam@acme.example"})
    assert claimed.status_code == 200 and claimed.json()["status"] == "claimed"
    sent = api(
        server,
        "POST",
        f"/{handoff.id}/reply",
        json={"agent": "sam@acme.example", "text": "Sam from the help desk here."},
    )
    assert sent.status_code == 200
    twilio_api.wait_for_sends(2)
    assert twilio_api.sent[1]["Body"] == "Sam from the help desk here."
    done = api(server, "POST", f"/{handoff.id}/resolve", json={"agent": "sam@acme.example"})
    assert done.json()["status"] == "resolved"
    wait_events(got, 4)  # created, then one update per action: claim, reply, resolve
    assert [e["event"] for e in got] == ["handoff.created"] + ["handoff.updated"] * 3
    assert [e["handoff"]["status"] for e in got] == ["waiting", "claimed", "claimed", "resolved"]
    assert all(e["verified"] for e in got)

    late = api(
        server, "POST", f"/{handoff.id}/reply", json={"agent": "sam@acme.example", "text": "x"}
    )
    assert late.status_code == 409
    logged = run_on_server(server, audited(server))
    for action in ("conversation.read", "handoff.claimed", "handoff.replied", "handoff.resolved"):
        assert action in logged, logged  # each as the help desk's key, never the reply's text


async def audited(server: LiveServer) -> list[str]:
    async with server.services.db.sessions() as session:
        rows = await session.execute(select(AuditEntry.action).order_by(AuditEntry.id))
        return list(rows.scalars())


def test_keys_and_agents_are_checked_before_anything_changes(
    server: LiveServer, twilio_api: BotApi
) -> None:
    sms(server, "agent please", 1)
    handoff = wait_handoff(server)
    assert api(server, "GET", "", key="").status_code == 401
    wrong = api(
        server, "POST", f"/{handoff.id}/claim", key="nope", json={"agent": "sam@acme.example"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    stranger = api(server, "POST", f"/{handoff.id}/claim", json={"agent": "eve@acme.example"})
    assert stranger.status_code == 404 and stranger.json()["error"] == "unknown_agent"
    assign = {"agent": "alex@acme.example", "to": "sam@acme.example"}  # an admin agent named
    by_integration = api(server, "POST", f"/{handoff.id}/assign", json=assign)
    assert by_integration.status_code == 403 and by_integration.json()["error"] == "admins_only"
    admin = server.key("admin")
    unknown = api(server, "POST", "/hof_nope/assign", key=admin, json=assign)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert api(server, "GET", f"/{handoff.id}").json()["status"] == "waiting"


def test_a_resolve_whose_rating_cannot_be_asked_still_resolves_and_tells_everyone(
    server: LiveServer, twilio_api: BotApi, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    got = receiver[1]
    sms(server, "I want to talk to a real person", 1)
    handoff = wait_handoff(server)
    agent = {"agent": "sam@acme.example"}
    assert api(server, "POST", f"/{handoff.id}/claim", json=agent).status_code == 200
    # the SMS channel is switched off since: the rating question cannot go out
    server.services.console.replies.channel_for = lambda workspace, channel: None
    done = api(server, "POST", f"/{handoff.id}/resolve", json=agent)
    assert done.status_code == 200, done.text  # was 409 channel_off, with the handoff closed
    assert done.json()["status"] == "resolved"
    wait_events(got, 3)  # created, claimed, resolved: the help desk hears of it
    assert got[-1]["handoff"]["status"] == "resolved"
