"""Customers: profile, verification, merge and unmerge, consent, export and erasure.

Every endpoint takes an API key of the customer's workspace (docs/security.md has which role
may call which); a ``workspace`` field naming another workspace is refused with 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from omnivox.governance.apikeys import Principal
from omnivox.governance.rbac import Permission
from omnivox.identity.consent import ConsentStore
from omnivox.identity.verification import NAMES, VerificationError
from omnivox.routes.auth import AUTH_ERRORS, Require, same_workspace
from omnivox.routes.console import cross_site, page, refused_cross_site
from omnivox.routes.deps import NOT_FOUND, api_error, services_of
from omnivox.storage.identities import MergeError
from omnivox.storage.subjects import SubjectStore

router = APIRouter(tags=["customers"], responses=AUTH_ERRORS)
Reader = Annotated[Principal, Depends(Require(Permission.CUSTOMERS_READ))]
Verifier = Annotated[Principal, Depends(Require(Permission.CUSTOMERS_VERIFY))]
Merger = Annotated[Principal, Depends(Require(Permission.CUSTOMERS_MERGE))]
Recorder = Annotated[Principal, Depends(Require(Permission.CUSTOMERS_CONSENT))]
Exporter = Annotated[Principal, Depends(Require(Permission.CUSTOMERS_EXPORT))]
Eraser = Annotated[Principal, Depends(Require(Permission.CUSTOMERS_ERASE))]
ERRORS: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    400: {"description": "bad input"},
    409: {"description": "conflict"},
    429: {"description": "too many tries"},
}


class VerificationIn(BaseModel):
    """Send a one-time code to an email address or phone number the customer claims."""

    workspace: str
    kind: str = Field(pattern="^(email|phone)$")
    address: str = Field(min_length=3, max_length=320)


class CodeIn(BaseModel):
    """The code the customer received."""

    workspace: str
    code: str = Field(pattern=r"^\d{6}$")


class MergeIn(BaseModel):
    """Fold ``other`` into this customer; ``reason`` is kept as the evidence."""

    workspace: str
    other: str
    reason: str = Field(min_length=1, max_length=500)


class ConsentIn(BaseModel):
    """One consent decision: a purpose on a channel (or ``*``), granted or withdrawn."""

    workspace: str
    purpose: str = Field(pattern="^(support|marketing)$")
    channel: str = Field(pattern=r"^(\*|[a-z]{2,20})$")
    granted: bool
    source: str = Field(min_length=1, max_length=200, description="where it was given")


class UnmergeIn(BaseModel):
    """Undo the merge of this (merged-away) customer."""

    workspace: str
    reason: str = Field(min_length=1, max_length=500)


@router.get("/api/v1/customers/{customer_id}", responses=NOT_FOUND)
async def get_customer(
    customer_id: str, request: Request, principal: Reader, workspace: str | None = None
) -> dict[str, Any]:
    """The profile: attributes, identifiers (with how each was proven), conversations, consent."""
    ws = same_workspace(request, principal, workspace or principal.workspace_id)
    store = services_of(request).verifier.store
    profile = await store.profile(ws, customer_id)
    if profile is None:
        raise api_error(404, "not_found", f"no customer {customer_id!r} in {ws!r}")
    await store.audit.append(ws, principal.actor, "customer.read", customer_id)
    return profile.as_dict()


@router.post("/api/v1/customers/{customer_id}/verifications", status_code=202, responses=ERRORS)
async def start_verification(
    customer_id: str, body: VerificationIn, request: Request, principal: Verifier
) -> dict[str, Any]:
    """Send a code to the claimed address over the workspace's SMS or email channel."""
    same_workspace(request, principal, body.workspace)
    services = services_of(request)
    ws = services.settings.workspace(body.workspace)
    if ws is None or await services.verifier.store.customer(ws.id, customer_id) is None:
        raise api_error(404, "not_found", f"no customer {customer_id!r} in {body.workspace!r}")
    customer_id = await services.verifier.store.resolve_merged(ws.id, customer_id)
    try:
        started = await services.verifier.start(
            ws.id,
            customer_id,
            body.kind,
            body.address,
            region=ws.understanding.phone_region,
            public_url=ws.channels.public_url,
            per_workspace=ws.limits.verification_codes_per_hour,
        )
    except VerificationError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    await services.verifier.store.audit.append(
        ws.id, principal.actor, "identity.verification_started", customer_id, {"kind": body.kind}
    )
    return {
        "verification_id": started.verification_id,
        "kind": started.kind,
        "sent_to": started.sent_to,
        "expires_at": started.expires_at,
    }


@router.post("/api/v1/customers/{customer_id}/verifications/confirm", responses=ERRORS)
async def confirm_verification(
    customer_id: str, body: CodeIn, request: Request, principal: Verifier
) -> dict[str, Any]:
    """Check the code; the identifier is linked (and profiles merged when it had an owner)."""
    same_workspace(request, principal, body.workspace)
    services = services_of(request)
    customer_id = await services.verifier.store.resolve_merged(body.workspace, customer_id)
    try:
        linked = await services.verifier.confirm(body.workspace, customer_id, body.code)
    except VerificationError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    await services.verifier.store.audit.append(
        body.workspace,
        principal.actor,
        "identity.linked",
        linked.customer_id,
        {"kind": linked.kind, "merged_from": linked.merged_from},
    )
    return {
        "customer_id": linked.customer_id,
        "kind": linked.kind,
        "address": linked.address,
        "merged_from": linked.merged_from,
    }


@router.get("/verify/{token}", response_class=HTMLResponse, include_in_schema=False)
async def verify_link(token: str, request: Request) -> HTMLResponse:
    """The link of a code email: a page that says what confirming does, with its button.

    Opening the link changes nothing (mail scanners open every link); the button posts.
    """
    try:
        check = await services_of(request).verifier.check_link(token)
    except VerificationError as exc:
        return page("base.html", exc.status, agent=None, error=_LINK_FAILED + exc.message)
    return page("verify.html", agent=None, token=token, kind=NAMES[check.kind], to=check.sent_to)


@router.post("/verify/{token}", response_class=HTMLResponse, include_in_schema=False)
async def verify_link_confirm(token: str, request: Request) -> HTMLResponse:
    """The button of a link's page: the address is linked to the conversation that asked."""
    if cross_site(request):
        return refused_cross_site()
    try:
        linked = await services_of(request).verifier.confirm_link(token)
    except VerificationError as exc:
        return page("base.html", exc.status, agent=None, error=_LINK_FAILED + exc.message)
    return page("verified.html", agent=None, kind=NAMES[linked.kind], address=linked.address)


_LINK_FAILED = "This link did not work: "


@router.post("/api/v1/customers/{customer_id}/merge", responses=ERRORS)
async def merge(
    customer_id: str, body: MergeIn, request: Request, principal: Merger
) -> dict[str, Any]:
    """Fold ``other`` into this customer (an agent's decision; the reason is the evidence)."""
    same_workspace(request, principal, body.workspace)
    store = services_of(request).verifier.store
    evidence = {"method": "api", "by": principal.actor, "reason": body.reason}
    try:
        return await store.merge(body.workspace, body.other, customer_id, evidence)
    except MergeError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None


@router.post("/api/v1/customers/{customer_id}/unmerge", responses=ERRORS)
async def unmerge(
    customer_id: str, body: UnmergeIn, request: Request, principal: Merger
) -> dict[str, Any]:
    """Undo the last merge of this customer into another one."""
    same_workspace(request, principal, body.workspace)
    services = services_of(request)
    store = services.verifier.store
    evidence = {"method": "api", "by": principal.actor, "reason": body.reason}
    try:
        # no turn of theirs writes while the rows split: those in progress end first
        async with store.turns_held(services.turns.locks, body.workspace, customer_id):
            await services.events.flush()  # the turns' queued events: the unmerge sorts them too
            return await store.unmerge(body.workspace, customer_id, evidence)
    except MergeError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None


@router.post("/api/v1/customers/{customer_id}/consents", status_code=201, responses=ERRORS)
async def record_consent(
    customer_id: str, body: ConsentIn, request: Request, principal: Recorder
) -> dict[str, Any]:
    """Append a consent decision; every send path checks the latest one."""
    same_workspace(request, principal, body.workspace)
    services = services_of(request)
    if await services.verifier.store.customer(body.workspace, customer_id) is None:
        raise api_error(404, "not_found", f"no customer {customer_id!r} in {body.workspace!r}")
    # a merged-away id's decision belongs to the profile it now lives in
    customer_id = await services.verifier.store.resolve_merged(body.workspace, customer_id)
    await ConsentStore(services.db).record(
        body.workspace, customer_id, body.purpose, body.channel, body.granted, body.source
    )
    decision = {"purpose": body.purpose, "channel": body.channel, "granted": body.granted}
    await services.verifier.store.audit.append(
        body.workspace, principal.actor, "consent.recorded", customer_id, decision
    )
    return body.model_dump()


@router.get("/api/v1/customers/{customer_id}/export", responses=NOT_FOUND)
async def export_customer(
    customer_id: str, request: Request, principal: Exporter
) -> dict[str, Any]:
    """Everything held about the customer as one JSON document (a data-subject access request)."""
    services = services_of(request)
    await services.events.flush()  # the last turns' queued events belong in it
    store = SubjectStore(services.db)
    data = await store.export_logged(principal.workspace_id, customer_id, principal.actor)
    if data is None:
        raise api_error(404, "not_found", f"no customer {customer_id!r}")
    return data


@router.delete("/api/v1/customers/{customer_id}")
async def erase_customer(customer_id: str, request: Request, principal: Eraser) -> dict[str, Any]:
    """Delete everything held about the customer and every profile merged with it.

    By id or external id; repeating it is safe (``erased`` false); an id never held is 404.
    """
    services = services_of(request)
    await services.events.flush()  # queued events of their conversations go with them
    store = SubjectStore(services.db)
    erasure = await store.erase_logged(
        principal.workspace_id, customer_id, services.verifier.key, principal.actor
    )
    if not erasure.counts and not erasure.before:
        raise api_error(404, "not_found", f"no customer {customer_id!r}")
    for erased in erasure.customer_ids:  # cached questions of theirs
        services.cache.forget(principal.workspace_id, erased)
    services.drift_cache.forget(principal.workspace_id)  # the knowledge gaps may quote them
    return {"erased": bool(erasure.counts), "deleted": erasure.counts}
