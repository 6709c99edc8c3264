"""The live queue follows other agents: a claim shows who holds it, a resolve takes it away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import console_page
from tests.channels.conftest import TWILIO_SID, TWILIO_TOKEN, BotApi, signed_sms
from tests.conftest import LiveServer, make_settings

pytestmark = pytest.mark.browser
AGENTS = [
    {"email": "sam@acme.example", "name": "Sam Rivera", "password": "sam-pw-1234"},
    {"email": "alex@acme.example", "name": "Alex Chen", "password": "alex-pw-1234"},
]


@pytest.fixture
def server(tmp_path: Path, twilio_api: BotApi) -> Iterator[LiveServer]:
    twilio_api.reset()
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    acme = {
        "id": "acme",
        "name": "Acme Outfitters",
        "channels": {"public_url": "https://support.acme.example", "twilio": twilio},
        "seed": {"customers": "customers.json", "agents": AGENTS},
    }
    with LiveServer(make_settings(tmp_path, workspaces=[acme])) as live:
        yield live


def test_the_queue_shows_claims_and_drops_resolved_conversations(
    browser: Browser, server: LiveServer, twilio_api: BotApi
) -> None:
    page, errors = console_page(browser, server.url, "sam@acme.example", "sam-pw-1234")
    time.sleep(0.3)  # the event stream is open
    signed_sms(server.url, "Can I talk to a real person please?", f"SMin{1:030d}")
    row = page.locator("#queue tr[data-handoff]")
    expect(row).to_have_count(1, timeout=15_000)
    handoff = row.get_attribute("data-handoff")

    alex = httpx.Client(base_url=server.url, follow_redirects=False)
    login = {"workspace": "acme", "email": "alex@acme.example", "password": "alex-pw-1234"}
    assert alex.post("/console/login", data=login).status_code == 303
    assert alex.post(f"/console/handoffs/{handoff}/claim").status_code == 303
    expect(row.locator(".status")).to_have_text("claimed (Alex Chen)")  # was still "waiting"
    assert alex.post(f"/console/handoffs/{handoff}/resolve").status_code == 303
    expect(row).to_have_count(0)  # was listed until a reload
    expect(page.locator("#queue tr.empty")).to_have_text("Nobody is waiting.")
    assert not errors, errors
