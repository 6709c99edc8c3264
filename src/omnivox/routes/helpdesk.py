"""The help-desk REST API: external tools list, claim, answer and resolve handoffs.

Authenticated with an API key (``omnivox keys create``) as ``Authorization: Bearer``; the key
decides the workspace. Reading needs ``handoffs.read`` (every role), acting ``handoffs.act``
(admin, agent, integration); assigning needs an admin key. Actions name the agent by email
(an agent of that workspace; the audit log names the key);
they follow the console's rules (one claimer wins, nothing is sent to a resolved conversation).
``POST /{id}/template`` sends an approved WhatsApp template, the only message WhatsApp takes 24
hours after the customer's last one; it is declared before ``/{id}/{action}`` so that it wins
(FastAPI matches routes in order). A refused call is 401 or 403 with nothing changed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from omnivox.channels.whatsapp import MAX_PARAMETER, MAX_TEMPLATE_NAME, MAX_TEMPLATE_PARAMETERS
from omnivox.governance.apikeys import Principal
from omnivox.governance.rbac import Permission, Role, allows
from omnivox.handoff.console import MAX_TEXT
from omnivox.routes.auth import AUTH_ERRORS, Require
from omnivox.routes.deps import api_error, services_of
from omnivox.services import Services
from omnivox.settings import WorkspaceSettings
from omnivox.storage.handoffs import HandoffError
from omnivox.storage.models import Agent

router = APIRouter(prefix="/api/v1/handoffs", tags=["handoffs"], responses=AUTH_ERRORS)
Reader = Annotated[Principal, Depends(Require(Permission.HANDOFFS_READ))]
Actor = Annotated[Principal, Depends(Require(Permission.HANDOFFS_ACT))]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown handoff or agent"},
    409: {"description": "claimed by another agent, or closed"},
}


class ActionIn(BaseModel):
    """Who acts (an agent's email), the text of a reply or note, whom to assign to (admins)."""

    agent: str = Field(min_length=3, max_length=320)
    text: str = Field("", max_length=MAX_TEXT)
    to: str = Field("", max_length=320, description="assign: the agent's email")


class TemplateIn(BaseModel):
    """Who sends (an agent's email), the approved template's name and its body parameters."""

    agent: str = Field(min_length=3, max_length=320)
    template: str = Field(min_length=1, max_length=MAX_TEMPLATE_NAME)
    parameters: list[Annotated[str, Field(max_length=MAX_PARAMETER)]] = Field(
        default_factory=list,
        max_length=MAX_TEMPLATE_PARAMETERS,
        description="{{1}}, {{2}}, ... in order; as many as the template takes",
    )


@router.get("", responses=ERRORS)
async def list_handoffs(
    request: Request,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
    after: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Open handoffs of the key's workspace with their packets: waiting ones first, oldest first.

    A page holds at most ``limit``; ``next`` (null on the last page) is the ``after`` of the
    next one.
    """
    handoffs = services_of(request).console.handoffs
    try:
        page = await handoffs.queue(principal.workspace_id, limit + 1, after)
    except HandoffError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    more = len(page) > limit
    shown = [_shown(h.as_dict(), principal) for h in page[:limit]]
    return {"handoffs": shown, "next": page[limit - 1].id if more else None}


def _shown(handoff: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """A handoff as the key's role may see it.

    The packet's customer profile (name, identifiers, attributes) only with ``customers.read``
    (not analysts).
    """
    if allows(principal.role, Permission.CUSTOMERS_READ):
        return handoff
    packet = {k: v for k, v in (handoff.get("packet") or {}).items() if k != "customer"}
    return {**handoff, "packet": packet}


@router.get("/{handoff_id}", responses=ERRORS)
async def get_handoff(handoff_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    """One handoff with its conversation's messages."""
    services, ws_id = services_of(request), principal.workspace_id
    try:
        view = await services.console.handoffs.get(ws_id, handoff_id)
    except HandoffError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    conversation = await services.store.conversation(view.conversation_id, ws_id)
    messages = [m.as_dict() for m in conversation.messages] if conversation else []
    await services.console.audit.append(
        ws_id, principal.actor, "conversation.read", view.conversation_id
    )
    return {**_shown(view.as_dict(), principal), "messages": messages}


async def _acting(
    services: Services, principal: Principal, email: str
) -> tuple[WorkspaceSettings, Agent]:
    """The key's workspace and the agent of it named by ``email``; 403/404 when there is none."""
    ws = services.settings.workspace(principal.workspace_id)
    if ws is None:
        raise api_error(404, "unknown_workspace", f"no workspace {principal.workspace_id!r}")
    agent = await services.console.handoffs.agent_by_email(ws.id, email.strip().lower())
    if agent is None:
        raise api_error(404, "unknown_agent", f"no agent {email!r} in {ws.id!r}")
    if agent.disabled_at is not None:
        raise api_error(403, "agent_disabled", f"the agent {email!r} is disabled")
    return ws, agent


@router.post("/{handoff_id}/template", responses=ERRORS)
async def send_template(
    handoff_id: str, body: TemplateIn, request: Request, principal: Actor
) -> dict[str, Any]:
    """Send an approved WhatsApp template as the named agent (it claims a waiting handoff).

    For a customer outside WhatsApp's 24-hour window. Refused with nothing claimed, stored or
    sent: another agent holds the conversation, or the customer's latest message is not a
    WhatsApp one (409); no such template, or parameters that do not fit it (422). One the Cloud
    API refuses is 502 and stored as failed, like a refused reply.
    """
    services = services_of(request)
    ws, agent = await _acting(services, principal, body.agent)
    params = [p.strip() for p in body.parameters]
    try:
        await services.console.send_template(
            ws, agent, handoff_id, body.template, params, principal.actor
        )
        view = await services.console.handoffs.get(ws.id, handoff_id)
    except HandoffError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    return view.as_dict()


@router.post("/{handoff_id}/{action}", responses=ERRORS)
async def act(
    handoff_id: str, action: str, body: ActionIn, request: Request, principal: Actor
) -> dict[str, Any]:
    """Claim | reply | note | resolve | return | assign, as the named agent."""
    services = services_of(request)
    if action == "assign" and principal.role != Role.ADMIN:  # the key's role, not the agent's
        raise api_error(403, "admins_only", "assigning a conversation needs an admin key")
    ws, agent = await _acting(services, principal, body.agent)
    console = services.console
    try:
        text = body.to if action == "assign" else body.text
        await console.act(ws, agent, handoff_id, action, text.strip(), principal.actor)
        view = await console.handoffs.get(ws.id, handoff_id)
    except HandoffError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    return view.as_dict()
