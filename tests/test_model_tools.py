"""A tool-calling model chooses actions: OpenAI's documented ``tools`` / ``tool_calls`` shapes,
served by a local HTTP server, with the turn's customer (not the model) deciding whose data."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from omnivox import events
from tests.conftest import ACME, LiveServer, events_of, free_port, make_settings, run_on_server

RECEIVED: list[dict[str, Any]] = []


async def completions(request: Request) -> Response:
    body = await request.json()
    RECEIVED.append(body)
    question = body["messages"][-1]["content"]
    if "tools" in body and "garbled" in question:
        return JSONResponse({"choices": "not a list of choices"})
    if "tools" in body:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if "ACM-" in question:
            number = question[question.index("ACM-") : question.index("ACM-") + 10]
            call = {"name": "order_status", "arguments": json.dumps({"order_number": number})}
            message["tool_calls"] = [{"id": "call_1", "type": "function", "function": call}]
        else:
            message["content"] = "No tool needed."
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        return JSONResponse(
            {"id": "c1", "object": "chat.completion", "model": "m", "choices": [choice]}
        )

    def events_stream() -> Iterator[str]:
        for piece in ("Returns are ", "accepted within 60 days."):
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events_stream(), media_type="text/event-stream")


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "m", "object": "model"}]})


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models),
        ]
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def server(tmp_path: Path, model_server: str) -> Iterator[LiveServer]:
    provider = {"type": "openai_compat", "base_url": model_server, "model": "m", "tools": True}
    workspace = {
        "id": "acme",
        "name": "Acme",
        "persona": {"brand": "Acme Outfitters"},
        "seed": {"customers": "customers.json", "orders": "orders.json"},
        "trust_api_customer_ids": True,
    }
    settings = make_settings(tmp_path, providers=[provider], workspaces=[workspace])
    assert settings.config_dir == str(ACME)
    with LiveServer(settings) as live:
        yield live


def say(server: LiveServer, text: str, customer: str) -> dict[str, Any]:
    body = {"workspace": "acme", "customer": {"id": customer}, "text": text}
    response = httpx.post(
        f"{server.url}/api/v1/messages", headers=server.auth(), json=body, timeout=30
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_model_chooses_a_tool_for_the_turns_own_customer(server: LiveServer) -> None:
    RECEIVED.clear()
    reply = say(server, "Could you look up ACM-482193 for me?", "cus_0001")
    assert "Order ACM-482193 was delivered" in reply["reply"]["text"]
    offered = {t["function"]["name"] for t in RECEIVED[0]["tools"]}
    assert offered == {"order_status", "create_ticket"}
    assert RECEIVED[0]["tool_choice"] == "auto"
    schema = next(t for t in RECEIVED[0]["tools"] if t["function"]["name"] == "order_status")
    assert schema["function"]["parameters"]["required"] == ["order_number"]
    rows = run_on_server(server, events_of(server.services, reply["conversation_id"]))
    turn = next(r.payload for r in rows if r.type == events.TURN_COMPLETED)
    assert turn["route"] == "act" and turn["route_reasons"][0] == "the model chose order_status"

    stranger = say(server, "Could you look up ACM-482193 for me?", "visitor-5")
    assert "couldn't find order ACM-482193" in stranger["reply"]["text"]


def test_no_tool_call_means_the_model_answers(server: LiveServer) -> None:
    RECEIVED.clear()
    reply = say(server, "What is your return window?", "cus_0001")
    assert reply["reply"]["text"] == "Returns are accepted within 60 days."
    assert "tools" in RECEIVED[0] and "tools" not in RECEIVED[1]


def test_a_garbled_tool_choice_still_gets_an_answer(server: LiveServer) -> None:
    reply = say(server, "a garbled question about returns", "cus_0001")
    assert reply["reply"]["text"] == "Returns are accepted within 60 days."
    rows = run_on_server(server, events_of(server.services, reply["conversation_id"]))
    turn = next(r.payload for r in rows if r.type == events.TURN_COMPLETED)
    assert turn["route"] == "answer"
    assert any(r.startswith("tool choice failed: malformed") for r in turn["route_reasons"])
