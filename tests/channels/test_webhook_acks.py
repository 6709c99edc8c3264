"""A webhook is answered within 2.5 s however long the customer's previous turn runs and
however many messages it carries (Slack retries after 3 s; Meta wants a quick 200): 200 once
its messages are stored, 503 while one still waits behind the previous turn (its turn goes on;
the provider's retry is deduplicated), never 200 for a message a failure could still lose."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.channels.conftest import SECRET, BotApi
from tests.channels.test_telegram import telegram_settings
from tests.conftest import LiveServer

PAYLOADS = Path(__file__).parent / "payloads"


def telegram_update(update_id: int, message_id: int, text: str) -> bytes:
    """A text update; ``message_id`` clear of the stand-in's replies (2, 3, ... in the chat)."""
    body = json.loads((PAYLOADS / "telegram_text_update.json").read_bytes())
    body["update_id"], body["message"]["message_id"] = update_id, message_id
    body["message"]["text"] = text
    return json.dumps(body).encode()


def test_a_message_behind_a_slow_turn_is_acknowledged_within_the_budget(
    tmp_path: Path, bot_api: BotApi
) -> None:
    bot_api.reset()
    slow = [{"type": "scripted", "reply": "You asked: {question}", "delay_s": 4, "timeout_s": 10}]
    settings = telegram_settings(tmp_path, bot_api, {}, slow)
    headers = {"content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    url = None
    with LiveServer(settings) as live:
        url = f"{live.url}/webhooks/acme/telegram"
        assert httpx.post(url, content=telegram_update(1, 101, "Hi"), headers=headers).is_success
        started = time.monotonic()
        second = httpx.post(url, content=telegram_update(2, 102, "And exchanges?"), headers=headers)
        took = time.monotonic() - started
        # not stored yet: "try again", not 200 (a Redis failure during the wait lost it)
        assert second.status_code == 503, second.text
        assert second.json()["error"] == "not_stored_yet"
        assert 2.0 < took < 3.0  # waited for the store as long as it could: was 5 s
        bot_api.wait_for_sends(2, timeout=30)  # its turn went on all the same
        # the provider's retry, once stored: acknowledged, answered once
        retry = httpx.post(url, content=telegram_update(2, 102, "And exchanges?"), headers=headers)
        assert retry.status_code == 200
        time.sleep(1)
    assert [m["text"] for m in bot_api.sent] == ["You asked: Hi", "You asked: And exchanges?"]
