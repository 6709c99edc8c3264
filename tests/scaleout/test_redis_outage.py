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
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from websockets.sync.client import connect

from tests.channels.conftest import SECRET, TOKEN, BotApi
from tests.channels.test_telegram import inbound_count, post, update
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
             "--appendonly", "no", "--dir", str(self.folder)],
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
