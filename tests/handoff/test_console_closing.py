"""Closing and reassigning handoffs under concurrency, and what an agent's reply carries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnivox.handoff.csat import ASK
from omnivox.storage.handoffs import HandoffError
from omnivox.storage.models import Conversation, Handoff
from tests.channels.conftest import BotApi
from tests.conftest import LiveServer, run_on_server
from tests.handoff.test_console import claimed, login, settings, sms, wait_handoff


@pytest.fixture
def server(tmp_path: Path, twilio_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    twilio_api.reset()
    with LiveServer(settings(tmp_path, twilio_api, database)) as live:
        yield live


def at_once(server: LiveServer, handoff_id: str, actions: tuple[str, ...]) -> list[str]:
    """Run console actions by Sam concurrently on the server's loop; each one's outcome."""
    console = server.services.console
    ws = server.services.settings.workspace("acme")
    assert ws is not None

    async def run() -> list[str]:
        sam = await console.handoffs.agent_by_email("acme", "sam@acme.example")
        assert sam is not None

        async def one(action: str) -> str:
            try:
                await console.act(ws, sam, handoff_id, action, "")
            except HandoffError as exc:
                return f"{exc.status} {exc.code}"
            return "ok"

        return list(await asyncio.gather(*(one(a) for a in actions)))

    return list(run_on_server(server, run()))


def state(server: LiveServer, handoff_id: str) -> tuple[str, str]:
    async def load() -> tuple[str, str]:
        async with server.services.db.sessions() as session:
            row = await session.get(Handoff, handoff_id)
            assert row is not None
            conversation = await session.get(Conversation, row.conversation_id)
            assert conversation is not None
            return row.status, conversation.status

    result: tuple[str, str] = run_on_server(server, load())
    return result


@pytest.mark.parametrize(
    ("actions", "final"),
    [(("resolve", "resolve"), ("resolved", "closed")), (("return", "return"), ("returned", "bot"))],
)
def test_two_closes_at_once_one_wins_and_the_customer_is_asked_once(
    server: LiveServer, twilio_api: BotApi, actions: tuple[str, str], final: tuple[str, str]
) -> None:
    handoff, _sam = claimed(server, twilio_api)
    outcomes = at_once(server, handoff.id, actions)
    assert sorted(outcomes) == ["409 closed", "ok"]  # both won before
    assert state(server, handoff.id) == final
    time.sleep(0.5)
    asks = [s for s in twilio_api.sent if s["Body"] == ASK]
    assert len(asks) == (1 if actions[0] == "resolve" else 0)


def test_resolve_and_return_at_once_leave_one_consistent_outcome(
    server: LiveServer, twilio_api: BotApi
) -> None:
    handoff, _sam = claimed(server, twilio_api)
    outcomes = at_once(server, handoff.id, ("resolve", "return"))
    assert sorted(outcomes) == ["409 closed", "ok"]
    won = "resolve" if outcomes[0] == "ok" else "return"
    expected = ("resolved", "closed") if won == "resolve" else ("returned", "bot")
    assert state(server, handoff.id) == expected  # was "returned" with a rating requested


def test_a_reassignment_keeps_the_wait_of_the_first_claim(
    server: LiveServer, twilio_api: BotApi
) -> None:
    handoff, _sam = claimed(server, twilio_api)
    alex = login(server, "alex@acme.example", "alex-password-1")
    first_claim = wait_handoff(server).claimed_at
    url = f"{server.url}/api/v1/analytics?days=1"
    waited = httpx.get(url, headers=server.auth(), timeout=30).json()["handoff_wait_p50_s"]
    time.sleep(1.1)
    given = alex.post(f"/console/handoffs/{handoff.id}/assign", data={"text": "alex@acme.example"})
    assert given.status_code == 303
    after = wait_handoff(server)
    assert after.claimed_at == first_claim and after.status == "claimed"  # was the reassignment's
    figures = httpx.get(url, headers=server.auth(), timeout=30).json()
    assert figures["handoff_wait_p50_s"] == waited  # grew by the 1.1 s before


def test_an_agents_reply_does_not_repeat_the_bots_long_message_note(
    server: LiveServer, twilio_api: BotApi
) -> None:
    handoff, sam = claimed(server, twilio_api)
    sms(server, "Here is the whole story. " + "x" * 4500, 2)  # over max_text_chars
    time.sleep(0.5)
    assert (
        sam.post(f"/console/handoffs/{handoff.id}/reply", data={"text": "Hi, Sam here."})
    ).status_code == 303
    twilio_api.wait_for_sends(2)
    assert twilio_api.sent[-1]["Body"] == "Hi, Sam here."  # no "(Your message was long: ...)"


def test_a_disabled_agent_is_not_offered_for_assignment(
    server: LiveServer, twilio_api: BotApi
) -> None:
    handoff, _sam = claimed(server, twilio_api)
    alex = login(server, "alex@acme.example", "alex-password-1")
    offered = alex.get(f"/console/handoffs/{handoff.id}").text
    assert '<option value="sam@acme.example">' in offered
    store = server.services.console.handoffs
    assert run_on_server(server, store.set_disabled("acme", "sam@acme.example", True))
    offered = alex.get(f"/console/handoffs/{handoff.id}").text
    assert '<option value="sam@acme.example">' not in offered  # assigning would be refused
    assert '<option value="alex@acme.example">' in offered
