"""Rating links from a resolve email: opening one records nothing (mail scanners open every
link); its button records the score once; a link expires with the rating window."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from omnivox.storage.models import Handoff
from omnivox.types import utcnow
from tests.channels.conftest import BotApi
from tests.conftest import LiveServer, run_on_server
from tests.handoff.test_console import claimed, ratings, settings


@pytest.fixture
def server(tmp_path: Path, twilio_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    twilio_api.reset()
    with LiveServer(settings(tmp_path, twilio_api, database)) as live:
        yield live


def resolved(server: LiveServer, twilio_api: BotApi) -> str:
    handoff, sam = claimed(server, twilio_api)
    assert sam.post(f"/console/handoffs/{handoff.id}/resolve").status_code == 303
    return handoff.id


def test_opening_a_link_records_nothing_and_its_button_records_once(
    server: LiveServer, twilio_api: BotApi
) -> None:
    handoff = resolved(server, twilio_api)
    link = f"{server.url}/rate/{server.services.console.csat.token(handoff, 4)}"
    opened = httpx.get(link)
    assert opened.status_code == 200 and "How did we do?" in opened.text
    assert ratings(server) == []  # a scanner opening it rated 4 before
    forms = re.findall(r'<form method="post" action="(/rate/[^"]+)"', opened.text)
    assert len(forms) == 5 and forms[3] == link.removeprefix(server.url)
    sent = httpx.post(f"{server.url}{forms[4]}")  # the customer picks 5 on the page
    assert sent.status_code == 200 and "5 out of 5" in sent.text
    assert [score for _, score, _ in ratings(server)] == [5]
    again = httpx.post(link)
    assert again.status_code == 410 and [s for _, s, _ in ratings(server)] == [5]


def test_a_link_expires_with_the_rating_window(server: LiveServer, twilio_api: BotApi) -> None:
    handoff = resolved(server, twilio_api)

    async def age() -> None:
        async with server.services.db.sessions.begin() as session:
            long_ago = utcnow() - timedelta(days=8)
            await session.execute(
                update(Handoff).where(Handoff.id == handoff).values(closed_at=long_ago)
            )

    run_on_server(server, age())
    link = f"{server.url}/rate/{server.services.console.csat.token(handoff, 1)}"
    assert httpx.get(link).status_code == 410
    late = httpx.post(link)
    assert late.status_code == 410 and "expired" in late.text and ratings(server) == []


def test_a_link_with_a_character_outside_ascii_is_refused_not_an_error(
    server: LiveServer,
) -> None:
    for method in (httpx.get, httpx.post):
        refused = method(f"{server.url}/rate/h1.4.%C3%A9")  # was a 500 (TypeError)
        assert refused.status_code == 403 and "This rating link is not valid." in refused.text
    assert ratings(server) == []
