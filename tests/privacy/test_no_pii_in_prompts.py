"""What a model provider receives holds no raw personal data: a local OpenAI-compatible server
(the documented /v1/chat/completions shapes) records every request of a two-turn conversation."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from omnivox.storage.models import Conversation
from tests.channels.conftest import running
from tests.conftest import LiveServer, make_settings, run_on_server

RECEIVED: list[dict[str, Any]] = []
SECRETS = [
    "Maya Thompson",
    "maya.thompson@example.com",
    "+1 555-010-0142",
    "4242 4242 4242 4242",
    "GB82 WEST 1234 5698 7654 32",
    "078-05-1120",
    "203.0.113.7",
]


async def completions(request: Request) -> Response:
    body = await request.json()
    RECEIVED.append(body)
    asked = body["messages"][-1]["content"]
    placeholders = re.findall(r"<[A-Z]+_[0-9a-f]{8}>", asked)
    text = "Noted: " + " and ".join(placeholders) + "." if placeholders else "Noted."
    if not body.get("stream"):  # the summarizer's call
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        return JSONResponse({"choices": [{**choice, "finish_reason": "stop"}]})

    def stream() -> Iterator[str]:
        chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "m", "object": "model"}]})


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    routes = [
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/models", models),
    ]
    with running(Starlette(routes=routes)) as url:
        yield f"{url}/v1"


def model_settings(tmp_path: Path, model_server: str, **memory: Any) -> Any:
    """The seeded Acme workspace answered by the recording model server."""
    RECEIVED.clear()
    provider = {"type": "openai_compat", "base_url": model_server, "model": "m"}
    workspace = {
        "id": "acme",
        "name": "Acme",
        "seed": {"customers": "customers.json"},
        "trust_api_customer_ids": True,
    }
    return make_settings(tmp_path, providers=[provider], workspaces=[workspace], memory=memory)


@pytest.fixture
def server(tmp_path: Path, model_server: str) -> Iterator[LiveServer]:
    settings = model_settings(tmp_path, model_server, summarizer="extractive")
    with LiveServer(settings) as live:
        yield live


def say(server: LiveServer, text: str) -> str:
    body = {"workspace": "acme", "customer": {"id": "cus_0001"}, "text": text}
    response = httpx.post(
        f"{server.url}/api/v1/messages", headers=server.auth(), json=body, timeout=30
    )
    assert response.status_code == 200, response.text
    return str(response.json()["reply"]["text"])


def test_no_personal_data_reaches_the_model_and_the_reply_gets_only_what_policy_allows(
    server: LiveServer,
) -> None:
    first = say(
        server,
        "Hi, Maya Thompson here (maya.thompson@example.com, +1 555-010-0142). "
        "Card 4242 4242 4242 4242, IBAN GB82 WEST 1234 5698 7654 32.",
    )
    second = say(server, "Also my SSN is 078-05-1120 and I wrote from 203.0.113.7, Maya here.")
    sent = json.dumps(RECEIVED)
    assert len(RECEIVED) == 2 and "<EMAIL_" in sent and "<NAME_" in sent
    for secret in SECRETS:
        assert secret not in sent, f"{secret!r} reached the model"
    assert "maya" not in sent.lower()  # the first name on its own is hers too
    # the second request carries the first turn as history: the same placeholders again
    email = re.search(r"<EMAIL_[0-9a-f]{8}>", RECEIVED[0]["messages"][-1]["content"])
    assert email and email.group(0) in json.dumps(RECEIVED[1]["messages"][:-1])
    # her own email, phone and name come back; card and IBAN are shown masked
    assert "maya.thompson@example.com" in first and "+1 555-010-0142" in first
    assert "•••• 4242" in first and "4242 4242 4242 4242" not in first
    assert "•••• 5432" in first
    assert "•••• 1120" in second and "078-05-1120" not in second and "Maya" in second


def test_the_summary_model_sees_placeholders_and_the_summary_keeps_the_values(
    tmp_path: Path, model_server: str
) -> None:
    settings = model_settings(
        tmp_path, model_server, summarizer="model", summarize_every=2, fold_wait_turns=0
    )
    with LiveServer(settings) as live:
        say(live, "Hi, Maya Thompson here, write to maya.thompson@example.com please.")
        for n in range(6):
            say(live, f"Card 4242 4242 4242 4242, question {n}: do you ship to Canada?")
        deadline = time.monotonic() + 20
        while not (folds := [r for r in RECEIVED if "You keep the memory" in json.dumps(r)]):
            assert time.monotonic() < deadline, "no summary was written"
            time.sleep(0.1)
        summaries = run_on_server(live, _summaries(live))
    sent = json.dumps(folds)
    assert "<EMAIL_" in sent
    for secret in ("Maya Thompson", "maya.thompson@example.com", "4242 4242 4242 4242"):
        assert secret not in sent, f"{secret!r} reached the summary model"
    assert any("maya.thompson@example.com" in s for s in summaries)  # put back when stored


async def _summaries(live: LiveServer) -> list[str]:
    async with live.services.db.sessions() as session:
        return list((await session.execute(select(Conversation.summary))).scalars())


def test_a_new_customers_first_name_is_kept_out_of_their_first_prompt(server: LiveServer) -> None:
    body = {
        "workspace": "acme",
        "customer": {"id": "new-visitor-1", "name": "Carla Mendes"},
        "text": "Hi, Carla here. Do you ship to Canada?",
    }
    response = httpx.post(
        f"{server.url}/api/v1/messages", headers=server.auth(), json=body, timeout=30
    )
    assert response.status_code == 200, response.text
    assert "Carla" not in json.dumps(RECEIVED)  # only the full name was known on a first turn
    assert "<NAME_" in RECEIVED[-1]["messages"][-1]["content"]
