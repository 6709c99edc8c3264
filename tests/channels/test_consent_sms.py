"""SMS STOP and START end to end: keywords become consent, and replies respect it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from omnivox.storage.models import Consent, Message
from tests.channels.conftest import TWILIO_SID, TWILIO_TOKEN, BotApi, signed_sms
from tests.conftest import LiveServer, make_settings, run_on_server

PUBLIC = "https://support.acme.example"


@pytest.fixture
def server(tmp_path: Path, twilio_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    twilio_api.reset()
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    workspace = {"id": "acme", "name": "Acme", "channels": {"public_url": PUBLIC, "twilio": twilio}}
    with LiveServer(make_settings(tmp_path, database=database, workspaces=[workspace])) as live:
        yield live


def sms(server: LiveServer, text: str, n: int) -> None:
    signed_sms(server.url, text, f"SMin{n:030d}", sender="+17205550160")


def outbound(server: LiveServer) -> list[Message]:
    async def load() -> list[Message]:
        async with server.services.db.sessions() as session:
            query = select(Message).where(Message.direction == "out").order_by(Message.seq)
            return list((await session.execute(query)).scalars())

    return list(run_on_server(server, load()))


def wait_for_rows(server: LiveServer, n: int) -> list[Message]:
    deadline = time.monotonic() + 20
    while len(rows := outbound(server)) < n:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return rows


def test_stop_suppresses_replies_until_start(server: LiveServer, twilio_api: BotApi) -> None:
    sms(server, "Where is my order?", 1)
    twilio_api.wait_for_sends(1)
    sms(server, "STOP", 2)
    time.sleep(0.5)
    assert len(twilio_api.sent) == 1 and len(outbound(server)) == 1  # a keyword is not a turn

    sms(server, "hello again?", 3)
    rows = wait_for_rows(server, 2)
    assert rows[1].status == "suppressed" and rows[1].meta["suppressed"] == "consent withdrawn"
    time.sleep(0.3)
    assert len(twilio_api.sent) == 1

    sms(server, "START", 4)
    sms(server, "Back again", 5)
    twilio_api.wait_for_sends(2)

    async def decisions() -> list[tuple[str, bool, str]]:
        async with server.services.db.sessions() as session:
            found = (await session.execute(select(Consent).order_by(Consent.id))).scalars()
            return [(c.purpose, c.granted, c.source) for c in found]

    assert run_on_server(server, decisions()) == [
        ("support", False, "sms keyword STOP"),
        ("marketing", False, "sms keyword STOP"),
        ("support", True, "sms keyword START"),
        ("marketing", True, "sms keyword START"),
    ]
