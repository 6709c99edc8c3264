"""Two servers on one PostgreSQL database and one Redis, as behind a load balancer.

One customer's messages split between the servers still run one turn at a time; the rate limit
counts on both; a web-chat visitor on one server gets the agent reply sent on the other; an
agent's console on one server sees the handoff the other opened, and counts as online there.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from omnivox.services import build_services
from omnivox.settings import ConfigError, Settings
from tests.conftest import PG_URL, LiveServer, _drop_schema, make_settings
from tests.handoff.test_console import AGENTS, login, until, wait_handoff
from tests.test_ordering import CountingProvider

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"t_{secrets.token_hex(6)}"
    yield name
    asyncio.run(_drop_schema(name))


def settings(tmp_path: Path, schema: str, redis: dict[str, Any] | None, **extra: Any) -> Settings:
    acme = {
        "id": "acme",
        "name": "Acme",
        "persona": {"name": "Juniper", "brand": "Acme Outfitters"},
        "seed": {"agents": AGENTS},
        "limits": {"per_customer_per_minute": 6},
    }
    return make_settings(
        tmp_path,
        database={"url": PG_URL, "schema": schema},
        workspaces=[acme],
        **({"redis": redis} if redis else {}),
        **extra,
    )


@pytest.fixture
def pair(
    tmp_path: Path, schema: str, redis_settings: dict[str, Any]
) -> Iterator[tuple[LiveServer, LiveServer]]:
    config = settings(tmp_path, schema, redis_settings)  # one data dir: shared keys
    with LiveServer(config) as first, LiveServer(config) as second:
        yield first, second


def post(server: LiveServer, text: str, customer: str = "same") -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/messages",
        json={"workspace": "acme", "customer": {"id": customer}, "text": text},
        headers=server.auth(),
        timeout=60,
    )


def test_one_customers_messages_on_two_servers_take_turns(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    provider = CountingProvider()  # one model for both servers
    for server in pair:
        server.services.chain.providers[:] = [provider]

    async def fire() -> list[httpx.Response]:
        return await asyncio.gather(
            *(asyncio.to_thread(post, pair[i % 2], f"q{i}") for i in range(6))
        )

    responses = asyncio.run(fire())
    assert [r.status_code for r in responses] == [200] * 6
    assert provider.peak == 1  # never two of the customer's turns in the model at once
    assert len({r.json()["conversation_id"] for r in responses}) == 1
    conv = responses[0].json()["conversation_id"]
    messages = httpx.get(
        f"{pair[1].url}/api/v1/conversations/{conv}", headers=pair[1].auth()
    ).json()["messages"]
    assert len(messages) == 12
    for question, answer in zip(messages[::2], messages[1::2], strict=True):
        assert (question["direction"], answer["direction"]) == ("in", "out")
        assert answer["in_reply_to"] == question["id"]


def test_the_rate_limit_counts_on_both_servers(pair: tuple[LiveServer, LiveServer]) -> None:
    codes = [post(pair[i % 2], f"hello {i}", "eager").status_code for i in range(8)]
    assert codes == [200] * 6 + [429] * 2


def test_a_web_chat_visitor_on_one_server_gets_the_agent_reply_sent_on_the_other(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    agents_server, visitors_server = pair
    sam = login(agents_server, "sam@acme.example", "sam-password-1")
    console_events: list[dict[str, Any]] = []
    listening = threading.Event()

    def listen() -> None:
        with sam.stream("GET", "/console/events", timeout=30) as stream:
            for line in stream.iter_lines():
                listening.set()
                if line.startswith("data: "):
                    console_events.append(json.loads(line[6:]))
                    return

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    assert listening.wait(10)
    url = visitors_server.url.replace("http", "ws") + "/ws/chat?workspace=acme"
    with connect(url) as ws:
        visitor = json.loads(ws.recv(timeout=10))["visitor"]
        elsewhere = agents_server.url.replace("http", "ws") + "/ws/chat?workspace=acme"
        with connect(f"{elsewhere}&visitor={visitor}") as other_tab:
            json.loads(other_tab.recv(timeout=10))
            ws.send(json.dumps({"type": "message", "text": "can I talk to a person?"}))
            told = until(ws, "reply")["text"]
            # the agent online on the other server counts: the customer hears someone is there
            assert told.startswith("I'm bringing in a member of our team"), told
            # the tab open on the other server saw the question and the answer too
            assert until(other_tab, "message")["text"] == "can I talk to a person?"
            assert until(other_tab, "reply")["text"] == told
            handoff = wait_handoff(agents_server)
            reader.join(10)
            assert console_events and console_events[0]["type"] == "handoff"
            assert console_events[0]["handoff"]["id"] == handoff.id
            sent = sam.post(f"/console/handoffs/{handoff.id}/reply", data={"text": "Sam here!"})
            assert sent.status_code == 303
            agent = until(ws, "reply")
            assert (agent["text"], agent["role"]) == ("Sam here!", "agent")


def test_redis_is_in_readiness(pair: tuple[LiveServer, LiveServer]) -> None:
    ready = httpx.get(f"{pair[0].url}/readyz").json()
    assert ready["checks"]["redis"] is True


async def test_an_unreachable_redis_fails_the_start_naming_the_key(
    tmp_path: Path, schema: str
) -> None:
    services = build_services(settings(tmp_path, schema, {"url": "redis://:hunter2@127.0.0.1:1/0"}))
    with pytest.raises(ConfigError, match=r"redis\.url.*127\.0\.0\.1:1") as caught:
        await services.start(warm_up=False)
    assert "hunter2" not in str(caught.value)
    await services.close()
