from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from omnivox import events
from omnivox.services import Services
from omnivox.storage.models import Message
from tests.conftest import LiveServer, events_of, make_settings, run_on_server


@pytest.fixture
def server(tmp_path: Path, database: dict[str, Any]) -> Iterator[LiveServer]:
    with LiveServer(make_settings(tmp_path, database=database)) as live:
        yield live


def post(server: LiveServer, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/messages", headers=server.auth(), json=body, timeout=30, **kwargs
    )


def body(text: str = "What is your return window?", **extra: Any) -> dict[str, Any]:
    return {"workspace": "acme", "customer": {"id": "cust-1"}, "text": text, **extra}


async def stored_message_count(services: Services) -> int:
    async with services.db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Message))).scalar_one())


def count(server: LiveServer) -> int:
    return run_on_server(server, stored_message_count(server.services))


def test_message_round_trip_and_conversation(server: LiveServer) -> None:
    first = post(server, body())
    assert first.status_code == 200, first.text
    data = first.json()
    assert data["reply"]["text"] == "You asked: What is your return window?"
    assert data["reply"]["citations"] == []
    assert data["message_id"].startswith("msg_") and data["reply"]["message_id"]
    timing = first.headers["Server-Timing"]
    assert "generate;dur=" in timing and "total;dur=" in timing
    second = post(server, body("And for sale items?"))
    assert second.json()["conversation_id"] == data["conversation_id"]
    conv = httpx.get(
        f"{server.url}/api/v1/conversations/{data['conversation_id']}", headers=server.auth()
    ).json()
    assert [(m["direction"], m["text"]) for m in conv["messages"]] == [
        ("in", "What is your return window?"),
        ("out", "You asked: What is your return window?"),
        ("in", "And for sale items?"),
        ("out", "You asked: And for sale items?"),
    ]
    assert conv["messages"][1]["in_reply_to"] == data["message_id"]
    assert conv["messages"][1]["status"] == "sent"
    assert conv["workspace"] == "acme" and conv["last_channel"] == "api"


def test_turn_event_records_every_step(server: LiveServer) -> None:
    data = post(server, body()).json()
    rows = turn_events(server, data["conversation_id"])
    assert [r.type for r in rows] == [events.TURN_COMPLETED]
    timings = rows[0].timings
    for step in ("identify", "attach", "generate", "render", "deliver"):
        assert step in timings
    payload = rows[0].payload
    assert payload["provider"] == "scripted" and payload["route"] == "answer"
    assert payload["completion_tokens"] > 0


def turn_events(server: LiveServer, conversation_id: str) -> list[Any]:
    return run_on_server(server, events_of(server.services, conversation_id))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"workspace": "acme", "text": "hi"}, "customer"),
        ({"workspace": "acme", "customer": {}, "text": "hi"}, "customer.id"),
        ({"workspace": "acme", "customer": {"id": "c"}}, "text"),
        ({"workspace": "acme", "customer": {"id": "c"}, "text": ""}, "text"),
        ({"workspace": "acme", "customer": {"id": "c"}, "text": 5}, "text"),
        ({"customer": {"id": "c"}, "text": "hi"}, "workspace"),
        ({"workspace": "acme", "customer": {"id": "c"}, "text": "hi", "extra": 1}, "extra"),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    server: LiveServer, payload: dict[str, Any], field: str
) -> None:
    response = post(server, payload)
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["detail"]]
    assert count(server) == 0


def test_malformed_json_is_422(server: LiveServer) -> None:
    response = httpx.post(
        f"{server.url}/api/v1/messages",
        content=b'{"workspace": ',
        headers={**server.auth(), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert count(server) == 0


def test_long_text_is_413_and_stores_nothing(server: LiveServer) -> None:
    response = post(server, body("x" * 4001))
    assert response.status_code == 413
    assert response.json()["error"] == "too_long"
    assert post(server, body("y" * 4000)).status_code == 200
    assert count(server) == 2  # only the accepted message and its reply


def test_oversized_body_is_refused_before_reading(server: LiveServer) -> None:
    huge = b"{" + b" " * (80 * 1024) + b"}"
    response = httpx.post(
        f"{server.url}/api/v1/messages",
        content=huge,
        headers={**server.auth(), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(100):
            yield b" " * 1024

    streamed = httpx.post(
        f"{server.url}/api/v1/messages",
        content=chunks(),
        headers={**server.auth(), "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert count(server) == 0


def test_another_or_an_unknown_workspace_is_refused_and_stores_nothing(
    server: LiveServer,
) -> None:
    other = post(server, {**body(), "workspace": "globex"})
    assert other.status_code == 403 and other.json()["error"] == "wrong_workspace"
    unknown = post(server, {**body(), "workspace": "initech"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_workspace"
    assert count(server) == 0


def test_a_message_id_of_another_customer_is_409_and_stores_nothing(server: LiveServer) -> None:
    first = post(server, body("my address is 1 Elm St", message_id="m1"))
    assert first.status_code == 200
    run_on_server(server, server.services.events.flush())
    before = run_on_server(server, server.services.store.events())
    for customer in ("cust-2", "cust-1x"):  # a new customer, then one who exists
        if customer == "cust-1x":
            assert post(server, {**body("hi"), "customer": {"id": customer}}).status_code == 200
            run_on_server(server, server.services.events.flush())
            before = run_on_server(server, server.services.store.events())
        taken = post(
            server, {**body("another text"), "customer": {"id": customer}, "message_id": "m1"}
        )
        assert taken.status_code == 409 and taken.json()["error"] == "message_id_taken"
        assert "1 Elm St" not in taken.text
        run_on_server(server, server.services.events.flush())
        assert len(run_on_server(server, server.services.store.events())) == len(before)
    assert count(server) == 4  # cust-1's message and reply, cust-1x's "hi" and reply
    again = post(server, body("my address is 1 Elm St", message_id="m1"))  # cust-1's own retry
    assert again.status_code == 200 and again.headers.get("Idempotent-Replay") == "true"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": " \n\t "}, "text"),
        ({"message_id": ""}, "message_id"),
    ],
)
def test_blank_text_or_an_empty_message_id_is_422(
    server: LiveServer, change: dict[str, Any], field: str
) -> None:
    response = post(server, {**body(), **change})
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["detail"]] == [field]
    assert count(server) == 0


def test_a_body_that_is_not_utf8_is_422_in_the_usual_shape(server: LiveServer) -> None:
    raw = '{"workspace": "acme", "customer": {"id": "c"}, "text": "café"}'.encode("latin-1")
    response = httpx.post(
        f"{server.url}/api/v1/messages",
        headers={**server.auth(), "content-type": "application/json"},
        content=raw,
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert response.json()["detail"][0]["field"] == "body"
    assert count(server) == 0


def test_retry_with_the_same_message_id_is_answered_once(server: LiveServer) -> None:
    first = post(server, body(message_id="client-42"))
    again = post(server, body(message_id="client-42"))
    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replay") == "true"
    assert again.json() == first.json()
    assert count(server) == 2


def test_unknown_conversation_is_404(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/api/v1/conversations/conv_nope", headers=server.auth())
    assert response.status_code == 404


def test_health_and_readiness(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": True,
        "model": True,
        "knowledge": True,
        "understanding": True,
    }


def test_offline_api_reference_and_pages(server: LiveServer) -> None:
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200 and "/api/v1/messages" in docs.text
    assert "<code>messages.send</code> (roles: admin, integration)" in docs.text
    assert "cdn" not in docs.text.lower()  # works with no network
    page = httpx.get(f"{server.url}/")
    assert 'data-workspace="acme"' in page.text and "Acme Outfitters" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    other = httpx.get(f"{server.url}/?workspace=globex")
    assert 'data-workspace="globex"' in other.text
    assert httpx.get(f"{server.url}/?workspace=nope").status_code == 404
    widget = httpx.get(f"{server.url}/widget.js")
    assert widget.headers["content-type"].startswith("text/javascript")
    assert "omnivox.visitor." in widget.text


def test_while_a_person_holds_the_conversation_a_message_is_stored_with_no_reply(
    server: LiveServer,
) -> None:
    handed = post(server, body("I want to talk to a real person"))
    assert handed.status_code == 200 and handed.json()["status"] == "answered"
    held = post(server, body("hello? anyone there?", message_id="m-held"))
    assert held.status_code == 200, held.text  # was a 500 on every message after the handoff
    assert held.json()["status"] == "with_agent" and held.json()["reply"] is None
    again = post(server, body("hello? anyone there?", message_id="m-held"))
    assert again.json() == {**held.json(), "status": "no_reply"}  # a retry: stored once
    assert again.headers["Idempotent-Replay"] == "true"
    conv = httpx.get(
        f"{server.url}/api/v1/conversations/{held.json()['conversation_id']}",
        headers=server.auth(),
    ).json()
    assert conv["status"] == "human" and conv["messages"][-1]["text"] == "hello? anyone there?"


def test_a_database_that_stalls_is_a_json_503_and_a_bug_a_json_500(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import exc as sa_exc

    async def stalled(*args: Any, **kwargs: Any) -> None:
        raise sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached")

    monkeypatch.setattr(server.services.store, "conversation", stalled)
    url = f"{server.url}/api/v1/conversations/conv_x"
    down = httpx.get(url, headers=server.auth(), timeout=30)
    assert down.status_code == 503 and down.headers["Retry-After"] == "5"
    assert down.json()["error"] == "database_unavailable"  # was a plain-text 500 after 30 s

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server.services.store, "conversation", broken)
    bug = httpx.get(url, headers=server.auth(), timeout=30)
    assert bug.status_code == 500 and bug.json()["error"] == "internal_error"


def test_a_retry_answers_a_message_whose_first_turn_failed_after_storing_it(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = server.services.store
    real = store.store_outbound
    calls = {"n": 0}

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("the database went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(store, "store_outbound", fails_once)
    first = post(server, body("Where is my parcel?", message_id="m-blip"))
    assert first.status_code == 503  # the message was stored, the reply was not
    again = post(server, body("Where is my parcel?", message_id="m-blip"))
    assert again.status_code == 200, again.text  # was "no_reply" on every retry, forever
    assert again.json()["reply"]["text"] == "You asked: Where is my parcel?"
    view = httpx.get(
        f"{server.url}/api/v1/conversations/{again.json()['conversation_id']}",
        headers=server.auth(),
    ).json()
    assert [(m["direction"], m["text"]) for m in view["messages"]] == [
        ("in", "Where is my parcel?"),
        ("out", "You asked: Where is my parcel?"),
    ]
    replayed = post(server, body("Where is my parcel?", message_id="m-blip"))
    assert replayed.headers["Idempotent-Replay"] == "true"  # answered once, then replayed


@pytest.mark.parametrize(
    ("field", "extra"),
    [
        ("message_id", {"message_id": "m\x00"}),  # was a 500 on PostgreSQL, and a reset after
        ("message_id", {"message_id": "m\x1b[2J"}),
        ("customer.id", {"customer": {"id": "c\x00x"}}),  # the business id, when trusted
    ],
)
def test_an_identifier_with_a_control_character_is_refused(
    server: LiveServer, field: str, extra: dict[str, Any]
) -> None:
    refused = post(server, body(**extra))
    assert refused.status_code == 422, refused.text
    assert [d["field"] for d in refused.json()["detail"]] == [field]
    assert "control characters" in refused.json()["detail"][0]["message"]
    assert count(server) == 0
    assert post(server, body(message_id="m-1")).status_code == 200  # the server goes on


@pytest.mark.parametrize("raw", [b"hello", b'{"workspace": "acme",'])
def test_a_body_that_is_not_json_is_the_body_field(server: LiveServer, raw: bytes) -> None:
    headers = {**server.auth(), "content-type": "application/json"}
    refused = httpx.post(f"{server.url}/api/v1/messages", headers=headers, content=raw)
    assert refused.status_code == 422
    assert refused.json()["detail"] == [  # was field "0" (the position), "JSON decode error"
        {"field": "body", "message": "the body is not valid JSON", "type": "json_invalid"}
    ]
    assert refused.json()["message"] == "invalid field(s): body"


def test_a_message_id_used_again_for_another_text_is_refused(server: LiveServer) -> None:
    first = post(server, body("Do you price match?", message_id="order-77"))
    assert first.status_code == 200
    other = post(server, body("Can I return boots?", message_id="order-77"))
    assert other.status_code == 409 and other.json()["error"] == "message_id_reused"
    assert count(server) == 2  # the first message and its answer: was the first answer again
    retry = post(server, body("Do you price match?", message_id="order-77"))
    assert retry.headers.get("Idempotent-Replay") == "true"
    assert retry.json()["reply"] == first.json()["reply"]
