"""The help-desk REST API: external tools list, claim, answer and resolve handoffs.

Authenticated with a workspace API key (``handoff.api_keys``) as ``Authorization: Bearer``;
the key decides the workspace. Actions name the agent by email (an agent of that workspace);
they follow the console's rules (one claimer wins, nothing is sent to a resolved conversation).
A missing or wrong key is 401 with nothing changed.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from omnivox.routes.deps import api_error, services_of
from omnivox.services import Services
from omnivox.settings import WorkspaceSettings
from omnivox.storage.handoffs import HandoffError

router = APIRouter(prefix="/api/v1/handoffs", tags=["handoffs"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong API key"},
    404: {"description": "unknown handoff or agent"},
    409: {"description": "claimed by another agent, or closed"},
}


class ActionIn(BaseModel):
    """Who acts (an agent's email), the text of a reply or note, whom to assign to (admins)."""

    agent: str = Field(min_length=3, max_length=320)
    text: str = Field("", max_length=4000)
    to: str = Field("", max_length=320, description="assign: the agent's email")


def _workspace(request: Request) -> tuple[Services, WorkspaceSettings]:
    services = services_of(request)
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    for ws in services.settings.workspaces:
        for key in ws.handoff.api_keys:
            secret = key.get_secret_value()
            if secret and given and hmac.compare_digest(secret.encode(), given.encode()):
                return services, ws
    raise api_error(401, "unauthorized", "a valid API key is required (Authorization: Bearer)")


@router.get("", responses=ERRORS)
async def list_handoffs(request: Request) -> dict[str, Any]:
    """Open handoffs of the key's workspace, oldest first, with their packets."""
    services, ws = _workspace(request)
    queue = await services.console.handoffs.queue(ws.id)
    return {"handoffs": [h.as_dict() for h in queue]}


@router.get("/{handoff_id}", responses=ERRORS)
async def get_handoff(handoff_id: str, request: Request) -> dict[str, Any]:
    """One handoff with its conversation's messages."""
    services, ws = _workspace(request)
    try:
        view = await services.console.handoffs.get(ws.id, handoff_id)
    except HandoffError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    conversation = await services.store.conversation(view.conversation_id, ws.id)
    messages = [m.as_dict() for m in conversation.messages] if conversation else []
    return {**view.as_dict(), "messages": messages}


@router.post("/{handoff_id}/{action}", responses=ERRORS)
async def act(handoff_id: str, action: str, body: ActionIn, request: Request) -> dict[str, Any]:
    """Claim | reply | note | resolve | return, as the named agent."""
    services, ws = _workspace(request)
    console = services.console
    agent = await console.handoffs.agent_by_email(ws.id, body.agent.strip().lower())
    if agent is None:
        raise api_error(404, "unknown_agent", f"no agent {body.agent!r} in {ws.id!r}")
    try:
        text = body.to if action == "assign" else body.text
        await console.act(ws, agent, handoff_id, action, text.strip())
        view = await console.handoffs.get(ws.id, handoff_id)
    except HandoffError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    return view.as_dict()
