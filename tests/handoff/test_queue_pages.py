"""The queue puts waiting customers first and pages through the rest (console and REST)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnivox.storage.handoffs import HandoffStore
from omnivox.types import CustomerRef, InboundMessage
from tests.channels.conftest import BotApi
from tests.conftest import LiveServer, run_on_server
from tests.handoff.test_console import login, settings


@pytest.fixture
def server(tmp_path: Path, twilio_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    twilio_api.reset()
    with LiveServer(settings(tmp_path, twilio_api, database)) as live:
        yield live


def open_handoffs(server: LiveServer, n: int) -> list[str]:
    """``n`` handoffs of different REST customers, oldest first."""
    services = server.services

    async def seed() -> list[str]:
        ids = []
        store, handoffs = services.store, HandoffStore(services.db)
        for i in range(n):
            customer, _ = await store.resolve_customer("acme", "api", f"queue-{i}")
            said = InboundMessage("acme", "api", CustomerRef(f"queue-{i}"), f"help {i}")
            conversation = (await store.attach_inbound(said, customer)).message.conversation_id
            packet = {"summary": f"s{i}", "channel": "api", "customer": {"name": f"Customer {i}"}}
            view, _ = await handoffs.open("acme", conversation, customer, packet)
            ids.append(view.id)
        return ids

    return list(run_on_server(server, seed()))


def test_waiting_customers_come_first_and_every_open_handoff_is_reachable(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = open_handoffs(server, 5)
    sam = login(server, "sam@acme.example", "sam-password-1")
    for old in ids[:3]:  # long-held claims on the oldest three
        assert sam.post(f"/console/handoffs/{old}/claim").status_code == 303
    expected = [ids[3], ids[4], ids[0], ids[1], ids[2]]

    listed, after = [], None
    while True:
        params = {"limit": "2"} | ({"after": after} if after else {})
        page = httpx.get(f"{server.url}/api/v1/handoffs", headers=server.auth(), params=params)
        body = page.json()
        listed += [h["id"] for h in body["handoffs"]]
        if (after := body["next"]) is None:
            break
    assert listed == expected  # was oldest first, cut at 200 with no way to the rest
    stale = httpx.get(f"{server.url}/api/v1/handoffs?after=hnd_nope", headers=server.auth())
    assert stale.status_code == 404

    monkeypatch.setattr("omnivox.routes.console.QUEUE_PAGE", 2)
    first = sam.get("/console").text
    assert ids[3] in first and ids[4] in first and ids[0] not in first
    assert f'href="/console?after={ids[4]}"' in first
    second = sam.get(f"/console?after={ids[4]}").text
    assert ids[0] in second and ids[1] in second and ids[3] not in second
    assert sam.get("/console?after=hnd_nope").headers["location"] == "/console"
