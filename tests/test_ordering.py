"""Per-conversation ordering: concurrent messages on one conversation never interleave."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from omnivox.llm.base import CompletionRequest, Delta
from omnivox.settings import ScriptedSettings
from omnivox.testing import ScriptedProvider
from tests.conftest import LiveServer, make_settings


class CountingProvider(ScriptedProvider):
    """Scripted provider that records how many calls run at once (one may serve two servers,
    each on its own thread: the counts are locked)."""

    def __init__(self) -> None:
        super().__init__(ScriptedSettings(type="scripted", reply="re: {question}", delay_s=0.05))
        self.lock = threading.Lock()
        self.in_flight = self.peak = 0

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            async for delta in super().stream(request):
                yield delta
        finally:
            with self.lock:
                self.in_flight -= 1


def test_turns_on_one_conversation_are_serialised(tmp_path: Path) -> None:
    with LiveServer(make_settings(tmp_path)) as server:
        provider = CountingProvider()
        server.services.chain.providers[:] = [provider]

        async def fire() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=server.url, timeout=60, headers=server.auth()
            ) as client:
                return await asyncio.gather(
                    *[
                        client.post(
                            "/api/v1/messages",
                            json={"workspace": "acme", "customer": {"id": "same"}, "text": f"q{i}"},
                        )
                        for i in range(12)
                    ]
                )

        responses = asyncio.run(fire())
        assert all(r.status_code == 200 for r in responses)
        assert provider.peak == 1  # never two turns of one conversation in the model at once
        conv_id = responses[0].json()["conversation_id"]
        messages = httpx.get(
            f"{server.url}/api/v1/conversations/{conv_id}", headers=server.auth()
        ).json()["messages"]
    assert len(messages) == 24
    for question, answer in zip(messages[::2], messages[1::2], strict=True):
        assert question["direction"] == "in" and answer["direction"] == "out"
        assert answer["in_reply_to"] == question["id"]
        assert answer["text"] == f"re: {question['text']}"


def test_different_conversations_run_concurrently(tmp_path: Path) -> None:
    with LiveServer(make_settings(tmp_path)) as server:
        provider = CountingProvider()
        server.services.chain.providers[:] = [provider]

        async def fire() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=server.url, timeout=60, headers=server.auth()
            ) as client:
                return await asyncio.gather(
                    *[
                        client.post(
                            "/api/v1/messages",
                            json={"workspace": "acme", "customer": {"id": f"c{i}"}, "text": "hi"},
                        )
                        for i in range(6)
                    ]
                )

        assert all(r.status_code == 200 for r in asyncio.run(fire()))
        assert provider.peak > 1


def test_one_customer_writing_from_two_addresses_at_once_is_answered_in_turn(
    tmp_path: Path, database: dict[str, Any]
) -> None:
    import concurrent.futures

    from tests.conftest import run_on_server

    workspace = {
        "id": "acme",
        "name": "Acme",
        "seed": {"customers": "customers.json"},
        "trust_api_customer_ids": True,
    }
    slow = [{"type": "scripted", "reply": "You asked: {question}", "delay_s": 0.4}]
    settings = make_settings(tmp_path, providers=slow, database=database, workspaces=[workspace])
    with LiveServer(settings) as live:

        def say(address: str, text: str) -> dict[str, Any]:
            body = {"workspace": "acme", "customer": {"id": address}, "text": text}
            response = httpx.post(
                f"{live.url}/api/v1/messages", headers=live.auth(), json=body, timeout=30
            )
            assert response.status_code == 200, response.text
            return dict(response.json())

        say("phone-app-7", "hello")  # a second address of hers, linked below
        profiles = live.services.verifier.store
        maya = run_on_server(live, profiles.by_external_id("acme", "cus_0001"))
        other = run_on_server(
            live, live.services.store.identity_owner("acme", "api", "phone-app-7")
        )
        run_on_server(live, profiles.merge("acme", str(other), str(maya), {"reason": "same"}))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            replies = list(
                pool.map(lambda a: say(*a), [("cus_0001", "first?"), ("phone-app-7", "second?")])
            )
        conversation = replies[0]["conversation_id"]
        assert replies[1]["conversation_id"] == conversation  # two were opened at times
        view = httpx.get(
            f"{live.url}/api/v1/conversations/{conversation}", headers=live.auth()
        ).json()
    directions = [m["direction"] for m in view["messages"]][-4:]
    assert directions == ["in", "out", "in", "out"]  # not in, in, out, out
