"""The demo page in headless Chromium: ask, watch the answer stream in, reload, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, WebSocket, WebSocketRoute, expect
from websockets.sync.client import connect

from tests.browser.conftest import SCREENSHOTS
from tests.conftest import LiveServer, make_settings
from tests.pipeline.test_drafts import kb_settings, started, wait_for

pytestmark = pytest.mark.browser
ANSWER = (
    "Items can be returned within 60 days of delivery, and return labels are free for "
    "Trailhead Rewards members."
)


def test_demo_page_streams_an_answer_and_survives_reload(tmp_path: Path, browser: Browser) -> None:
    providers = [{"type": "scripted", "reply": ANSWER, "word_delay_s": 0.08}]
    with LiveServer(make_settings(tmp_path, providers=providers)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        csp_errors: list[str] = []
        page.on(
            "console",
            lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(server.url + "/")
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        page.get_by_test_id("omnivox-input").fill("What is your return window?")
        page.get_by_test_id("omnivox-send").click()

        answer = page.locator('[data-testid="omnivox-message"][data-role="assistant"]').last
        expect(answer).to_have_attribute("data-state", "streaming", timeout=10_000)
        partial = answer.inner_text()
        assert partial and len(partial) < len(ANSWER)  # seen mid-stream
        expect(answer).to_have_attribute("data-state", "done", timeout=20_000)
        expect(answer).to_contain_text(ANSWER)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "webchat-demo.png"))

        visitor = page.evaluate("window.Omnivox.visitorId()")
        page.reload()
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        assert page.evaluate("window.Omnivox.visitorId()") == visitor
        messages = page.get_by_test_id("omnivox-message")
        expect(messages).to_have_count(2)
        expect(messages.first).to_contain_text("What is your return window?")
        assert csp_errors == []
        page.close()


def test_question_cards_send_through_the_widget(tmp_path: Path, browser: Browser) -> None:
    providers = [{"type": "scripted", "reply": "Standard shipping takes 3-7 business days."}]
    with LiveServer(make_settings(tmp_path, providers=providers)) as server:
        page = browser.new_page()
        page.goto(server.url + "/")
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        page.locator('[data-omnivox-ask="How long does standard shipping take?"]').click()
        customer = page.locator('[data-testid="omnivox-message"][data-role="customer"]').last
        expect(customer).to_contain_text("How long does standard shipping take?")
        answer = page.locator('[data-testid="omnivox-message"][data-role="assistant"]').last
        expect(answer).to_contain_text("3-7 business days", timeout=15_000)
        page.close()


def test_model_text_is_never_html(tmp_path: Path, browser: Browser) -> None:
    providers = [{"type": "scripted", "reply": '<img src=x onerror="window.pwned=1"> hi'}]
    with LiveServer(make_settings(tmp_path, providers=providers)) as server:
        page = browser.new_page()
        page.goto(server.url + "/")
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        page.evaluate("window.Omnivox.send('hello')")
        answer = page.locator('[data-testid="omnivox-message"][data-role="assistant"]').last
        expect(answer).to_have_attribute("data-state", "done", timeout=15_000)
        expect(answer).to_contain_text("<img src=x")
        assert page.evaluate("window.pwned === undefined")
        page.close()


def test_offline_api_reference_renders(tmp_path: Path, browser: Browser) -> None:
    with LiveServer(make_settings(tmp_path)) as server:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(server.url + "/docs")
        expect(page.get_by_role("heading", name="Omnivox REST API")).to_be_visible()
        expect(page.locator("code", has_text="/api/v1/knowledge/search")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
        page.close()


def test_the_widget_sends_drafts_while_the_customer_types(tmp_path: Path, browser: Browser) -> None:
    with started(kb_settings(tmp_path)) as (server, model):
        page = browser.new_page()
        drafts: list[str] = []

        def watch(socket: WebSocket) -> None:
            def sent(payload: str | bytes) -> None:
                frame = json.loads(payload)
                if frame.get("type") == "draft":
                    drafts.append(frame["text"])

            socket.on("framesent", sent)

        page.on("websocket", watch)
        page.goto(server.url + "/")
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        page.evaluate("window.Omnivox.send('How long does standard shipping take?')")
        answer = page.locator('[data-testid="omnivox-message"][data-role="assistant"]')
        expect(answer.last).to_have_attribute("data-state", "done", timeout=15_000)
        wait_for(lambda: len(model.read_ahead) == 1)  # the history, read ahead
        question = "Can I return sale items"
        page.get_by_test_id("omnivox-input").press_sequentially(question, delay=90)
        # Playwright delivers the socket's events only while it is called: poll through it
        for _ in range(100):
            if drafts[-1:] == [question]:  # the whole text, once the typing pauses
                break
            page.wait_for_timeout(50)
        assert drafts[-1] == question
        typing = drafts[:-1]  # sent while typing: finished words only, at most one a second
        assert typing and all(question.startswith(d + " ") for d in typing)
        assert len(typing) == len(set(typing)) <= 3
        wait_for(lambda: len(model.guesses()) >= 1)
        wait_for(lambda: not server.services.prepare_step()._tasks)  # type: ignore[union-attr]
        page.keyboard.press("Enter")
        expect(answer).to_have_count(2)
        expect(answer.last).to_have_attribute("data-state", "done", timeout=15_000)
        head = model.guesses()[-1][-1].content
        assert model.requests[-1].messages[-1].content.startswith(head)
        page.close()


def test_a_message_lost_with_its_connection_is_sent_again(tmp_path: Path, browser: Browser) -> None:
    providers = [{"type": "scripted", "reply": "Our return window is 60 days."}]
    with LiveServer(make_settings(tmp_path, providers=providers)) as server:
        page = browser.new_page()
        lost: list[str] = []

        def network(route: WebSocketRoute) -> None:
            upstream = route.connect_to_server()

            def from_page(message: str | bytes) -> None:
                if not lost and isinstance(message, str) and '"message"' in message:
                    lost.append(message)
                    route.close()  # the connection dies with the message in flight
                    return
                upstream.send(message)

            route.on_message(from_page)

        page.route_web_socket("**/ws/chat*", network)
        page.goto(server.url + "/")
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        page.get_by_test_id("omnivox-input").fill("What is your return window?")
        page.get_by_test_id("omnivox-send").click()
        answer = page.locator('[data-testid="omnivox-message"][data-role="assistant"]').last
        # it was shown as sent, never arrived, and vanished at the reconnect's history
        expect(answer).to_contain_text("60 days", timeout=20_000)
        question = page.locator('[data-testid="omnivox-message"][data-role="customer"]')
        expect(question).to_have_count(1)
        expect(question.first).to_have_attribute("data-state", "done")
        assert len(lost) == 1 and '"id": "m_' in lost[0].replace('":"', '": "')
        page.close()


def test_a_message_the_server_had_when_the_connection_died_shows_once(
    tmp_path: Path, browser: Browser
) -> None:
    providers = [{"type": "scripted", "reply": "Our return window is 60 days."}]
    with LiveServer(make_settings(tmp_path, providers=providers)) as server:
        page = browser.new_page()
        dropped: list[str] = []

        def network(route: WebSocketRoute) -> None:
            upstream = route.connect_to_server()

            def from_server(message: str | bytes) -> None:
                if not dropped and isinstance(message, str) and '"typing"' in message:
                    dropped.append(message)  # the server has the message; the page never hears
                    route.close()
                    return
                route.send(message)

            upstream.on_message(from_server)

        page.route_web_socket("**/ws/chat*", network)
        page.goto(server.url + "/")
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        page.get_by_test_id("omnivox-input").fill("What is your return window?")
        page.get_by_test_id("omnivox-send").click()
        answer = page.locator('[data-testid="omnivox-message"][data-role="assistant"]')
        expect(answer.first).to_contain_text("60 days", timeout=20_000)
        page.wait_for_timeout(1500)  # the resent message's stored reply has come too
        question = page.locator('[data-testid="omnivox-message"][data-role="customer"]')
        expect(question).to_have_count(1)
        expect(answer).to_have_count(1)
        assert len(dropped) == 1
        page.reload()  # and the server stored it once
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        expect(page.get_by_test_id("omnivox-message")).to_have_count(2)
        page.close()


def test_a_refused_message_is_marked_not_sent(tmp_path: Path, browser: Browser) -> None:
    providers = [{"type": "scripted", "reply": "Our return window is 60 days."}]
    workspace = {"id": "acme", "name": "Acme", "limits": {"per_customer_per_minute": 1}}
    with LiveServer(make_settings(tmp_path, providers=providers, workspaces=[workspace])) as live:
        page = browser.new_page()
        page.goto(live.url + "/")
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        for text in ("What is your return window?", "And for boots?"):
            page.get_by_test_id("omnivox-input").fill(text)
            page.get_by_test_id("omnivox-send").click()
            page.wait_for_timeout(700)
        asked = page.locator('[data-testid="omnivox-message"][data-role="customer"]')
        expect(asked.first).to_have_attribute("data-state", "done")
        expect(asked.last).to_have_attribute("data-state", "failed")  # was shown as sent
        page.close()


def test_on_a_phone_the_panel_is_modal_and_keeps_the_focus(
    tmp_path: Path, browser: Browser
) -> None:
    with LiveServer(make_settings(tmp_path)) as live:
        page = browser.new_page(viewport={"width": 375, "height": 667})
        page.goto(live.url + "/")
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        page.evaluate("window.Omnivox.open()")
        panel = page.get_by_test_id("omnivox-panel")
        expect(panel).to_have_attribute("aria-modal", "true")
        expect(page.locator("#ov-status")).to_have_attribute("role", "status")  # announced
        page.get_by_test_id("omnivox-input").fill("hello")
        page.get_by_test_id("omnivox-send").focus()
        for _ in range(8):  # Tab went on to the page hidden behind the full-screen panel
            page.keyboard.press("Tab")
            inside = page.evaluate(
                "(() => { const r = document.querySelector('#omnivox-widget').shadowRoot;"
                " const a = r.activeElement; return !!a && !!a.closest('.ov-panel'); })()"
            )
            assert inside
        page.close()


def test_a_held_conversation_marks_each_message_and_stops_typing(
    tmp_path: Path, browser: Browser
) -> None:
    providers = [{"type": "scripted", "reply": "Our return window is 60 days."}]
    workspace = {"id": "acme", "name": "Acme", "limits": {"per_customer_per_minute": 3}}
    with LiveServer(make_settings(tmp_path, providers=providers, workspaces=[workspace])) as live:
        page = browser.new_page()
        page.goto(live.url + "/")
        expect(page.locator("#omnivox-widget")).to_have_attribute("data-connected", "true")
        asked = page.locator('[data-testid="omnivox-message"][data-role="customer"]')
        said = ("can I talk to a real person please", "hello? anyone there?", "third", "fourth")
        for n, text in enumerate(said, 1):
            page.get_by_test_id("omnivox-input").fill(text)
            page.get_by_test_id("omnivox-send").click()
            expect(asked.nth(n - 1)).not_to_have_attribute("data-state", "sending")
            # a person holds the chat: no answer comes, and the widget does not wait for one
            expect(page.locator(".ov-typing")).to_be_hidden()  # was shown for 60 s
        states = [asked.nth(n).get_attribute("data-state") for n in range(4)]
        assert states == ["done", "done", "done", "failed"]  # the 4th was refused: too fast
        expect(page.get_by_test_id("omnivox-error")).to_have_attribute("data-code", "rate_limited")
        page.close()


def test_a_message_another_tab_sends_again_shows_once(tmp_path: Path, browser: Browser) -> None:
    providers = [{"type": "scripted", "reply": "Our return window is 60 days."}]
    with LiveServer(make_settings(tmp_path, providers=providers)) as live:
        page = browser.new_page()
        page.goto(live.url + "/")
        # connected is shown when the socket opens; the visitor id comes with the session frame
        page.wait_for_function("() => window.Omnivox.visitorId() !== null")
        visitor = page.evaluate("window.Omnivox.visitorId()")
        url = live.url.replace("http", "ws") + f"/ws/chat?workspace=acme&visitor={visitor}"
        with connect(url) as other_tab:
            other_tab.recv(timeout=10)
            for _ in range(2):  # its connection died before the reply: sent again, same id
                other_tab.send(json.dumps({"type": "message", "text": "Boots?", "id": "m_1"}))
                while json.loads(other_tab.recv(timeout=10))["type"] != "reply":
                    pass
        answers = page.locator('[data-testid="omnivox-message"][data-role="assistant"]')
        expect(answers).to_have_count(1)  # a resend's stored answer goes to its own tab only
        asked = page.locator('[data-testid="omnivox-message"][data-role="customer"]')
        expect(asked).to_have_count(1)  # was shown twice
        page.close()
