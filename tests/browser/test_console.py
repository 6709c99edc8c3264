"""The agent console in headless Chromium: log in, watch an SMS handoff arrive live, edit the
suggested reply, send it, and see it reach the Twilio stand-in. Saves screenshots for the README."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import SCREENSHOTS
from tests.channels.conftest import TWILIO_SID, TWILIO_TOKEN, BotApi, signed_sms
from tests.conftest import LiveServer, make_settings

PUBLIC = "https://support.acme.example"
pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path, twilio_api: BotApi) -> Iterator[LiveServer]:
    twilio_api.reset()
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    acme = {
        "id": "acme",
        "name": "Acme Outfitters",
        "persona": {"name": "Juniper", "brand": "Acme Outfitters"},
        "channels": {"public_url": PUBLIC, "twilio": twilio},
        "seed": {
            "customers": "customers.json",
            "agents": [
                {"email": "sam@acme.example", "name": "Sam Rivera", "password": "sam-pw-1234"}
            ],
        },
        "handoff": {
            "canned": [{"title": "Replacement sent", "text": "A replacement ships today."}]
        },
    }
    providers = [{"type": "scripted", "reply": "Here is what I found: {question}"}]
    with LiveServer(make_settings(tmp_path, providers=providers, workspaces=[acme])) as live:
        yield live


def sms(server: LiveServer, text: str, n: int) -> None:
    signed_sms(server.url, text, f"SMin{n:030d}")


def test_an_agent_answers_an_sms_handoff_from_the_console(
    browser: Browser, server: LiveServer, twilio_api: BotApi
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 820})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.url}/console")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    page.fill("input[name=email]", "sam@acme.example")
    page.fill("input[name=password]", "sam-pw-1234")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Queue")
    expect(page.locator("tr.empty")).to_be_visible()
    time.sleep(0.3)  # the event stream is open: Sam is online

    sms(server, "My tent pole snapped on the first night", 1)
    twilio_api.wait_for_sends(1)
    sms(server, "Can I talk to a real person please?", 2)
    row = page.locator("#queue tr[data-handoff]")
    expect(row).to_have_count(1, timeout=15_000)  # arrived live, no reload
    expect(row).to_contain_text("Maya Thompson")
    twilio_api.wait_for_sends(2)
    assert "usually within 5 minutes" in twilio_api.sent[1]["Body"]  # an agent was online
    page.screenshot(path=str(SCREENSHOTS / "console-queue.png"))

    row.locator("a").click()
    expect(page.locator(".packet h1")).to_contain_text("Maya Thompson")
    page.click("text=Claim")
    reply = page.locator("#reply-text")
    expect(reply).not_to_have_value("", timeout=15_000)  # the copilot's suggestion
    suggested = reply.input_value()
    assert suggested.startswith("Here is what I found:")
    page.click("text=Replacement sent")
    expect(reply).to_have_value("A replacement ships today.")
    reply.fill("Hi Maya, Sam here. A replacement pole ships today, tracking by email.")
    page.screenshot(path=str(SCREENSHOTS / "console-conversation.png"))
    page.click(".reply button.primary")
    twilio_api.wait_for_sends(3)
    assert (
        twilio_api.sent[2]["Body"]
        == "Hi Maya, Sam here. A replacement pole ships today, tracking by email."
    )
    expect(page.locator("#transcript")).to_contain_text("Sam here")

    page.click("text=Resolve")  # Maya is asked for a rating, and gives one by SMS
    twilio_api.wait_for_sends(4)
    sms(server, "5", 3)
    twilio_api.wait_for_sends(5)
    page.click("header nav >> text=Dashboard")
    expect(page.locator("h1")).to_contain_text("Dashboard")
    expect(page.get_by_test_id("csat")).to_contain_text("5.0 / 5")
    expect(page.get_by_test_id("handoffs")).to_contain_text("1")
    # her one conversation went to a person (the rating that followed is no conversation)
    expect(page.get_by_test_id("containment").locator("p")).to_have_text("0%")
    expect(page.get_by_test_id("containment")).to_contain_text("of 1 conversation")
    expect(page.locator(".breakdowns")).to_contain_text("sms")  # the turns' channel
    # no knowledge base here: the first message found nothing to answer from; nothing to
    # compare with the week before
    gaps = page.get_by_test_id("gaps")
    expect(gaps).to_contain_text("1 of 1 answer in the last 7 days")
    expect(gaps.locator("[data-topic]")).to_contain_text("My tent pole snapped on the first night")
    drift = page.get_by_test_id("drift")
    expect(drift.locator('[data-change="handoffs"]')).to_contain_text("nothing to compare")
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    page.click("text=30 days")
    expect(page.locator("h1")).to_contain_text("last 30 days")
    assert not errors, errors
