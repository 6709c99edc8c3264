"""A WhatsApp customer outside the 24-hour window gets an approved template from the console:
the form shows only once the window closed, and only the chosen template's parameters go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import SCREENSHOTS, console_page
from tests.channels.conftest import BotApi
from tests.channels.test_whatsapp import TEMPLATES, age_inbound, handed_off, whatsapp_settings
from tests.conftest import LiveServer, make_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path, whatsapp_api: BotApi) -> Iterator[LiveServer]:
    whatsapp = {**whatsapp_settings(whatsapp_api), "templates": TEMPLATES}
    agents = [{"email": "sam@acme.example", "name": "Sam Rivera", "password": "sam-pw-1234"}]
    acme = {
        "id": "acme",
        "name": "Acme Outfitters",
        "channels": {"whatsapp": whatsapp},
        "seed": {"agents": agents},
    }
    with LiveServer(make_settings(tmp_path, workspaces=[acme])) as live:
        yield live


def test_the_template_form_appears_once_the_whatsapp_window_closed(
    browser: Browser, server: LiveServer, whatsapp_api: BotApi
) -> None:
    handoff = handed_off(server, whatsapp_api)
    page, errors = console_page(
        browser,
        server.url,
        "sam@acme.example",
        "sam-pw-1234",
        viewport={"width": 1280, "height": 900},
    )
    page.goto(f"{server.url}/console/handoffs/{handoff}")
    page.click("text=Claim")
    expect(page.locator("#reply-text")).to_be_visible()
    expect(page.locator("form.template")).to_have_count(0)  # the customer wrote just now

    age_inbound(server)
    page.reload()
    form = page.locator("form.template")
    expect(form).to_be_visible()
    expect(page.locator(".reply .notice")).to_contain_text("only accepts template messages")
    options = form.locator("select[name=template] option")
    expect(options).to_have_text(["order_update (en_US)", "reopen_chat (es)"])
    order = form.locator('fieldset[data-template="order_update"]')
    reopen = form.locator('fieldset[data-template="reopen_chat"]')
    expect(order.locator("input[name=param]")).to_have_count(2)
    expect(order).to_be_visible()
    expect(reopen).to_be_hidden()

    form.locator("select").select_option("reopen_chat")
    expect(order).to_be_hidden()
    expect(reopen).to_contain_text("This template has no parameters.")
    form.locator("select").select_option("order_update")
    expect(reopen).to_be_hidden()
    order.locator("input[name=param]").nth(0).fill("Maya")
    order.locator("input[name=param]").nth(1).fill("ACM-482193")
    page.screenshot(path=str(SCREENSHOTS / "console-whatsapp-template.png"))
    form.locator("button", has_text="Send template").click()
    whatsapp_api.wait_for_sends(2)
    template = whatsapp_api.sent[1]["template"]
    assert template["name"] == "order_update" and template["language"] == {"code": "en_US"}
    assert template["components"][0]["parameters"] == [
        {"type": "text", "text": "Maya"},
        {"type": "text", "text": "ACM-482193"},
    ]
    transcript = page.locator("#transcript li.out").last
    expect(transcript).to_contain_text(
        "Template order_update (en_US): {{1}} Maya · {{2}} ACM-482193"
    )
    expect(transcript.locator(".meta")).to_contain_text("agent · template")

    # with order_update's parameters filled in, the other template goes without them
    order.locator("input[name=param]").nth(0).fill("left")
    order.locator("input[name=param]").nth(1).fill("behind")
    form.locator("select").select_option("reopen_chat")
    form.locator("button", has_text="Send template").click()
    whatsapp_api.wait_for_sends(3)
    assert whatsapp_api.sent[2]["template"]["name"] == "reopen_chat"
    assert whatsapp_api.sent[2]["template"]["components"] == []
    expect(page.locator(".error")).to_have_count(0)
    assert not errors, errors
