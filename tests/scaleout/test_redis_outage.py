"""Redis down under a running server: every way in refuses for now, and nothing half-happens.

A Redis of the test's own (a real ``redis-server`` on a free port) is stopped mid-run: a
webhook gets 503 (the provider retries; it used to get 200 for a message never stored), mail
gets 451 (the sending server retries; it got a permanent 500 naming Redis), REST 503, the web
chat an error frame; once Redis is back, all of it works again.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from websockets.sync.client import connect

from tests.channels.conftest import SECRET, TOKEN, BotApi
from tests.channels.test_telegram import inbound_count, post, update
from tests.channels.test_webhook_acks import telegram_update
from tests.conftest import LiveServer, free_port, make_settings

pytestmark = pytest.mark.redis


class OwnRedis:
    """redis-server on a free port, stopped and started again at will."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder), "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


def mail(text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "jane@example.com", "support@acme.example", "Hi"
    msg["Message-ID"] = f"<{time.monotonic_ns()}@example.com>"
    msg.set_content(text)
    return msg


def test_with_redis_down_each_channel_refuses_for_now_and_recovers(
    tmp_path: Path, bot_api: BotApi, own_redis: OwnRedis
) -> None:
    bot_api.reset()
    telegram = {"bot_token": TOKEN, "secret_token": SECRET, "api_base": bot_api.url}
    email = {"addresses": ["support@acme.example"], "relay": "", "tls": "none"}
    workspace = {"id": "acme", "name": "Acme", "channels": {"telegram": telegram, "email": email}}
    settings = make_settings(
        tmp_path,
        workspaces=[workspace],
        redis={"url": f"redis://127.0.0.1:{own_redis.port}/0"},
        server={"smtp_listen": f"127.0.0.1:{free_port()}"},
    )
    with LiveServer(settings) as server:
        smtp_port = int(settings.server.smtp_listen.rsplit(":", 1)[1])
        own_redis.stop()
        refused = post(server, update())
        assert refused.status_code == 503 and refused.json()["error"] == "coordination_unavailable"
        with (
            smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client,
            pytest.raises(smtplib.SMTPDataError) as later,
        ):
            client.send_message(mail("Where is my order?"))
        assert later.value.smtp_code == 451 and b"Redis" not in later.value.smtp_error
        url = server.url.replace("http", "ws") + "/ws/chat?workspace=acme"
        with connect(url) as ws:
            json.loads(ws.recv(timeout=10))
            ws.send(json.dumps({"type": "message", "text": "hello?"}))
            assert json.loads(ws.recv(timeout=10))["code"] == "unavailable"
        assert inbound_count(server) == 0  # nothing half-stored
        own_redis.start()
        assert post(server, update()).status_code == 200  # the provider's retry
        bot_api.wait_for_sends(1)
        assert inbound_count(server) == 1


def pause_redis(port: int, seconds: int, after_s: float) -> threading.Thread:
    """Redis stops answering for ``seconds`` (DEBUG SLEEP), ``after_s`` from now."""

    def sleep() -> None:
        time.sleep(after_s)
        redis.Redis(port=port, socket_timeout=seconds + 5).execute_command(
            "DEBUG", "SLEEP", str(seconds)
        )

    thread = threading.Thread(target=sleep, daemon=True)
    thread.start()
    return thread


SLOW = [{"type": "scripted", "reply": "You asked: {question}", "delay_s": 4, "timeout_s": 10}]


def test_a_webhook_waiting_behind_a_turn_when_redis_falters_is_not_acknowledged_and_lost(
    tmp_path: Path, bot_api: BotApi, own_redis: OwnRedis
) -> None:
    """m2 waits for m1's turn; Redis pauses; m2's lock wait fails: m2 was answered 200 after
    2.5 s and lost (the provider does not resend); now it is 503 and the retry answers it."""
    bot_api.reset()
    telegram = {"bot_token": TOKEN, "secret_token": SECRET, "api_base": bot_api.url}
    workspace = {"id": "acme", "name": "Acme", "channels": {"telegram": telegram}}
    settings = make_settings(
        tmp_path,
        providers=SLOW,
        workspaces=[workspace],
        redis={"url": f"redis://127.0.0.1:{own_redis.port}/0"},
    )
    with LiveServer(settings) as server:
        assert post(server, telegram_update(1, 101, "Hi")).status_code == 200
        pausing = pause_redis(own_redis.port, 3, after_s=1.0)
        second = post(server, telegram_update(2, 102, "And exchanges?"))
        assert second.status_code == 503, second.text  # not "received": it may yet be lost
        pausing.join(10)
        deadline = time.monotonic() + 60
        while post(server, telegram_update(2, 102, "And exchanges?")).status_code != 200:
            assert time.monotonic() < deadline, "the retry was never acknowledged"
            time.sleep(2)  # the provider's retry
        bot_api.wait_for_sends(2, timeout=40)
        time.sleep(1)
    assert sorted(m["text"] for m in bot_api.sent) == [
        "You asked: And exchanges?",
        "You asked: Hi",
    ]


def test_a_web_chat_message_whose_lock_wait_fails_is_told_unavailable(
    tmp_path: Path, own_redis: OwnRedis
) -> None:
    settings = make_settings(
        tmp_path, providers=SLOW, redis={"url": f"redis://127.0.0.1:{own_redis.port}/0"}
    )
    with LiveServer(settings) as server:
        url = server.url.replace("http", "ws") + "/ws/chat?workspace=acme"
        with connect(url) as ws:
            visitor = json.loads(ws.recv(timeout=10))["visitor"]
            with connect(f"{url}&visitor={visitor}") as other_tab:
                json.loads(other_tab.recv(timeout=10))
                ws.send(json.dumps({"type": "message", "text": "first"}))
                time.sleep(0.5)
                other_tab.send(json.dumps({"type": "message", "text": "second"}))
                pause_redis(own_redis.port, 3, after_s=0.5).join(10)
                frames = []
                while not frames or frames[-1]["type"] != "error":
                    frames.append(json.loads(other_tab.recv(timeout=20)))
                assert frames[-1]["code"] == "unavailable", frames  # was turn_failed
