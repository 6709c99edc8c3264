"""The authorization matrix: every endpoint, called with every role, with no key, a bad key, a
revoked key, and another workspace's key; refused calls change nothing; every route of the app
is in this matrix or in the list of public routes (with the reason it is public)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from sqlalchemy import func, select

from omnivox.governance.apikeys import split_token
from omnivox.governance.rbac import GRANTS, Permission, Role
from omnivox.routes.auth import permission_of
from omnivox.storage.models import (
    ApiKey,
    AuditEntry,
    Consent,
    Customer,
    Identity,
    Message,
    Note,
)
from tests.conftest import LiveServer, make_settings, run_on_server

P = Permission
CANARY = "ACME-ONLY-7731"
AGENT = {"email": "sam@acme.example", "name": "Sam", "password": "sam-password-1"}
GLOBEX_AGENT = {"email": "gil@globex.example", "name": "Gil", "password": "gil-password-1"}


@dataclass(frozen=True)
class Endpoint:
    """One protected call: the permission it needs and what an allowed caller gets back."""

    method: str
    path: str  # {conv}, {cus}, {handoff} are filled in from the fixture's data
    permission: Permission
    ok: frozenset[int]
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/messages",
        P.MESSAGES_SEND,
        frozenset({200}),
        {"workspace": "acme", "customer": {"id": "matrix"}, "text": "hello"},
    ),
    Endpoint("GET", "/api/v1/conversations/{conv}", P.CONVERSATIONS_READ, frozenset({200})),
    Endpoint(
        "POST",
        "/api/v1/knowledge/search",
        P.KNOWLEDGE_SEARCH,
        frozenset({200}),
        {"workspace": "acme", "query": "returns"},
    ),
    Endpoint("GET", "/api/v1/customers/{cus}", P.CUSTOMERS_READ, frozenset({200})),
    Endpoint(
        "POST",
        "/api/v1/customers/{cus}/verifications",
        P.CUSTOMERS_VERIFY,
        frozenset({422}),  # this workspace has no channel to send a code: past the auth check
        {"workspace": "acme", "kind": "email", "address": "new@example.com"},
    ),
    Endpoint(
        "POST",
        "/api/v1/customers/{cus}/verifications/confirm",
        P.CUSTOMERS_VERIFY,
        frozenset({404}),  # no code is waiting
        {"workspace": "acme", "code": "123456"},
    ),
    Endpoint(
        "POST",
        "/api/v1/customers/{cus}/merge",
        P.CUSTOMERS_MERGE,
        frozenset({404}),  # the other profile does not exist
        {"workspace": "acme", "other": "cus_nobody", "reason": "matrix"},
    ),
    Endpoint(
        "POST",
        "/api/v1/customers/{cus}/unmerge",
        P.CUSTOMERS_MERGE,
        frozenset({409}),  # not merged
        {"workspace": "acme", "reason": "matrix"},
    ),
    Endpoint(
        "POST",
        "/api/v1/customers/{cus}/consents",
        P.CUSTOMERS_CONSENT,
        frozenset({201}),
        {
            "workspace": "acme",
            "purpose": "marketing",
            "channel": "*",
            "granted": False,
            "source": "matrix",
        },
    ),
    Endpoint("GET", "/api/v1/customers/{cus}/export", P.CUSTOMERS_EXPORT, frozenset({200})),
    Endpoint("DELETE", "/api/v1/customers/cus_nobody", P.CUSTOMERS_ERASE, frozenset({404})),
    Endpoint("GET", "/api/v1/handoffs", P.HANDOFFS_READ, frozenset({200})),
    Endpoint("GET", "/api/v1/analytics", P.ANALYTICS_READ, frozenset({200})),
    Endpoint("GET", "/api/v1/analytics/drift", P.ANALYTICS_READ, frozenset({200})),
    Endpoint(
        "POST",
        "/api/v1/campaigns/copy",
        P.CAMPAIGNS_WRITE,
        frozenset({200}),
        {"workspace": "acme", "offer": "Free repairs in November", "channels": ["web"]},
    ),
    Endpoint("GET", "/api/v1/handoffs/{handoff}", P.HANDOFFS_READ, frozenset({200})),
    Endpoint(
        "POST",
        "/api/v1/handoffs/{handoff}/note",
        P.HANDOFFS_ACT,
        frozenset({200}),
        {"agent": "sam@acme.example", "text": "matrix note"},
    ),
    Endpoint(  # the handoff is not a WhatsApp customer's: refused (409) with nothing sent
        "POST",
        "/api/v1/handoffs/{handoff}/template",
        P.HANDOFFS_ACT,
        frozenset({409}),
        {"agent": "sam@acme.example", "template": "order_update", "parameters": ["Maya"]},
    ),
]

# Routes outside the API-key matrix, and why.
PUBLIC = {
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/docs"): "offline API reference",
    ("GET", "/openapi.json"): "the API schema",
    ("GET", "/"): "the web chat demo page",
    ("GET", "/widget.js"): "the web chat widget",
    ("WS", "/ws/chat"): "the web chat channel: customers are anonymous visitors",
    ("GET", "/verify/{token}"): "verification link's page, changes nothing (signed token)",
    ("POST", "/verify/{token}"): "verification link's button (signed token)",
    ("GET", "/rate/{token}"): "CSAT rating link (signed token)",
    ("POST", "/rate/{token}"): "CSAT rating link's button (signed token)",
    ("GET", "/console/login"): "the console's login form",
    ("POST", "/console/login"): "password check",
    ("POST", "/console/logout"): "clears the cookie",
    ("GET", "/console/static/{name}"): "the console's script and stylesheet",
    ("GET", "/dashboard"): "a redirect to the console's dashboard",
}
CONSOLE = {  # agent sessions (cookie), tested below
    ("GET", "/console"),
    ("GET", "/console/events"),
    ("GET", "/console/dashboard"),
    ("GET", "/console/handoffs/{handoff_id}"),
    ("POST", "/console/handoffs/{handoff_id}/{action}"),
    ("POST", "/console/handoffs/{handoff_id}/template"),
}
WEBHOOK_PREFIX = "/webhooks/{workspace}/"  # provider signatures: tests/channels/


def settings(tmp_path: Path, database: dict[str, Any]) -> Any:
    acme = {
        "id": "acme",
        "name": "Acme",
        "seed": {"customers": "customers.json", "agents": [AGENT]},
    }
    globex = {"id": "globex", "name": "Globex", "seed": {"agents": [GLOBEX_AGENT]}}
    return make_settings(tmp_path, database=database, workspaces=[acme, globex])


@dataclass
class World:
    server: LiveServer
    ids: dict[str, str]
    callers: dict[str, dict[str, str]]

    def call(self, endpoint: Endpoint, caller: str) -> httpx.Response:
        return httpx.request(
            endpoint.method,
            self.server.url + endpoint.path.format(**self.ids),
            json=endpoint.body,
            params=endpoint.params,
            headers=self.callers[caller],
            timeout=30,
        )


@pytest.fixture
def world(tmp_path: Path, database: dict[str, Any]) -> Iterator[World]:
    with LiveServer(settings(tmp_path, database)) as server:
        admin = server.auth()
        said = {"workspace": "acme", "customer": {"id": "visitor"}, "text": f"my code {CANARY}"}
        reply = httpx.post(f"{server.url}/api/v1/messages", json=said, headers=admin, timeout=30)
        conv = reply.json()["conversation_id"]
        human = {"workspace": "acme", "customer": {"id": "caller"}, "text": "a real person please"}
        httpx.post(f"{server.url}/api/v1/messages", json=human, headers=admin, timeout=30)
        queue = run_on_server(server, server.services.console.handoffs.queue("acme"))
        profiles = server.services.verifier.store
        maya = run_on_server(server, profiles.by_external_id("acme", "cus_0001"))
        created = server.services.api_keys.create("acme", Role.ADMIN, "to revoke")
        info, revoked = run_on_server(server, created)
        run_on_server(server, server.services.api_keys.revoke(info.id))
        callers = {role.value: server.auth(role.value) for role in Role}
        callers |= {
            "none": {},
            "malformed": {"Authorization": "Bearer not-a-key"},
            "forged": {"Authorization": f"Bearer {server.key()[:-4]}AAAA"},
            "revoked": {"Authorization": f"Bearer {revoked}"},
            "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
            "other workspace": server.auth("admin", "globex"),
        }
        ids = {"conv": conv, "cus": str(maya), "handoff": queue[0].id}
        yield World(server, ids, callers)


async def _counts(server: LiveServer) -> dict[str, int]:
    tables = (Message, Consent, Customer, Identity, Note, AuditEntry, ApiKey)
    async with server.services.db.sessions() as session:
        return {
            t.__tablename__: int(
                (await session.execute(select(func.count()).select_from(t))).scalar_one()
            )
            for t in tables
        }


def counts(server: LiveServer) -> dict[str, int]:
    return run_on_server(server, _counts(server))


def test_every_route_is_in_the_matrix_or_public_for_a_reason(world: World) -> None:
    covered = {(e.method, _template(e.path)) for e in ENDPOINTS} | set(PUBLIC) | CONSOLE
    declared = [r for router in world.server.app.state.routers for r in router.routes]
    assert len(declared) > 30
    api = {}
    for route in declared:
        if isinstance(route, APIWebSocketRoute):
            found = {("WS", route.path)}
        else:
            assert isinstance(route, APIRoute), route
            found = {(m, route.path) for m in route.methods - {"HEAD"}}
            api |= {key: route for key in found}
        for method, path in found:
            if not path.startswith(WEBHOOK_PREFIX):
                assert (method, path) in covered, f"{method} {path} is in no authorization row"
    for endpoint in ENDPOINTS:
        route = api[endpoint.method, _template(endpoint.path)]
        assert permission_of(route) == endpoint.permission, endpoint.path
    assert httpx.get(world.server.url + "/openapi.json").status_code == 200


def _template(path: str) -> str:
    names = {
        "{conv}": "{conversation_id}",
        "{cus}": "{customer_id}",
        "/api/v1/customers/cus_nobody": "/api/v1/customers/{customer_id}",
        "{handoff}/note": "{handoff_id}/{action}",
        "{handoff}": "{handoff_id}",
    }
    for short, full in names.items():
        path = path.replace(short, full)
    return path


def test_refused_callers_get_401_or_403_and_change_nothing(world: World) -> None:
    before = counts(world.server)
    for endpoint in ENDPOINTS:
        for caller in ("none", "malformed", "forged", "revoked", "basic"):
            response = world.call(endpoint, caller)
            assert response.status_code == 401, (endpoint.path, caller, response.text)
            assert response.json()["error"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
        for role in Role:
            if endpoint.permission in GRANTS[role]:
                continue
            response = world.call(endpoint, role.value)
            assert response.status_code == 403, (endpoint.path, role, response.text)
            assert response.json()["error"] == "forbidden"
    assert counts(world.server) == before


def test_another_workspaces_key_sees_and_changes_nothing_of_this_one(world: World) -> None:
    before = counts(world.server)
    for endpoint in ENDPOINTS:
        response = world.call(endpoint, "other workspace")
        assert CANARY not in response.text and "Maya" not in response.text
        if endpoint.method == "DELETE":  # not found in the key's workspace
            assert response.status_code == 404, response.text
        elif endpoint.path == "/api/v1/handoffs":
            assert response.json() == {"handoffs": [], "next": None}
        elif endpoint.path == "/api/v1/analytics":  # its own workspace's figures, never acme's
            shown = response.json()
            assert shown["workspace_id"] != "acme" and shown["conversations"] == 0
        elif endpoint.path == "/api/v1/analytics/drift":  # and its own questions, never acme's
            shown = response.json()
            assert shown["workspace_id"] != "acme" and shown["turns"] == 0
            assert shown["gaps"]["questions"] == 0
        else:
            assert response.status_code in (403, 404), (endpoint.path, response.text)
    after = counts(world.server)
    assert after == before
    erase = Endpoint("DELETE", "/api/v1/customers/{cus}", P.CUSTOMERS_ERASE, frozenset({200}))
    assert world.call(erase, "other workspace").json()["error"] == "not_found"
    assert counts(world.server) == before  # Maya, a real acme customer, is still there


def test_each_role_does_exactly_what_its_grants_say(world: World) -> None:
    for endpoint in ENDPOINTS:
        for role in Role:
            response = world.call(endpoint, role.value)
            if endpoint.permission in GRANTS[role]:
                assert response.status_code in endpoint.ok, (endpoint.path, role, response.text)
            else:
                assert response.status_code == 403, (endpoint.path, role)


def test_unanswered_questions_are_shown_only_to_roles_that_read_conversations(
    world: World,
) -> None:
    drift = next(e for e in ENDPOINTS if e.path == "/api/v1/analytics/drift")
    run_on_server(world.server, world.server.services.events.flush())
    for role in Role:
        if P.ANALYTICS_READ not in GRANTS[role]:
            continue
        response = world.call(drift, role.value)
        (topic,) = response.json()["gaps"]["topics"]  # "my code ACME-ONLY-7731": unanswered
        if P.CONVERSATIONS_READ in GRANTS[role]:
            assert topic["examples"] == [f"my code {CANARY}"], role
        else:  # a marketer: how many, not what
            assert topic["examples"] == [] and CANARY not in response.text, role
            assert topic["questions"] == 1


def test_the_documented_role_table_matches_the_grants() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    for permission in Permission:
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{permission}`"))
        cells = [c.strip() for c in row.strip("|").split("|")][1 : 1 + len(Role)]
        expected = ["yes" if permission in GRANTS[role] else "no" for role in Role]
        assert cells == expected, f"docs/security.md row for {permission}"


def login(world: World, who: dict[str, str], workspace: str) -> httpx.Client:
    client = httpx.Client(base_url=world.server.url, follow_redirects=False, timeout=30)
    form = {"workspace": workspace, "email": who["email"], "password": who["password"]}
    assert client.post("/console/login", data=form).status_code == 303
    return client


def test_console_needs_a_session_of_the_same_workspace(world: World) -> None:
    handoff = world.ids["handoff"]
    anonymous = httpx.Client(base_url=world.server.url, follow_redirects=False, timeout=30)
    forged = httpx.Client(
        base_url=world.server.url,
        follow_redirects=False,
        timeout=30,
        cookies={"omnivox_console": "agt_x.9999999999.forged"},
    )
    before = counts(world.server)
    for client in (anonymous, forged):
        for path in ("/console", f"/console/handoffs/{handoff}", "/console/dashboard"):
            response = client.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == "/console/login"
        assert client.get("/console/events").status_code == 401
        note = client.post(f"/console/handoffs/{handoff}/note", data={"text": "x"})
        assert note.status_code == 401
        template = client.post(f"/console/handoffs/{handoff}/template", data={"template": "x"})
        assert template.status_code == 401
    gil = login(world, GLOBEX_AGENT, "globex")
    page = gil.get(f"/console/handoffs/{handoff}")
    assert page.status_code == 404 and CANARY not in page.text
    assert gil.post(f"/console/handoffs/{handoff}/note", data={"text": "x"}).status_code == 404
    template = gil.post(f"/console/handoffs/{handoff}/template", data={"template": "x"})
    assert template.status_code == 404 and CANARY not in template.text
    assert handoff not in gil.get("/console").text
    assert counts(world.server)["notes"] == before["notes"]
    assert counts(world.server)["messages"] == before["messages"]
    sam = login(world, AGENT, "acme")
    assert handoff in sam.get("/console").text
    # each workspace's dashboard counts its own handoffs: acme's one, none of globex's
    assert 'data-testid="handoffs"><h2>Handoffs</h2><p>1<' in sam.get("/console/dashboard").text
    assert 'data-testid="handoffs"><h2>Handoffs</h2><p>0<' in gil.get("/console/dashboard").text


def test_a_key_revoked_in_this_process_stops_at_once(world: World) -> None:
    token = world.server.key("integration")
    search = ENDPOINTS[2]
    assert world.call(search, "integration").status_code == 200
    key_id = (split_token(token) or ("", ""))[0]
    run_on_server(world.server, world.server.services.api_keys.revoke(key_id))
    assert world.call(search, "integration").status_code == 401


def test_an_analyst_sees_handoffs_without_the_customers_profile(world: World) -> None:
    base = f"{world.server.url}/api/v1/handoffs"
    for path in ("", f"/{world.ids['handoff']}"):
        seen = httpx.get(base + path, headers=world.callers["analyst"], timeout=30).json()
        handoff = seen["handoffs"][0] if path == "" else seen
        assert "customer" not in handoff["packet"] and handoff["packet"]["summary"]
        full = httpx.get(base + path, headers=world.callers["agent"], timeout=30).json()
        handoff = full["handoffs"][0] if path == "" else full
        assert "identities" in handoff["packet"]["customer"]  # agents work with the profile
