"""The workspace's figures, and what changed in them, over the REST API.

``GET /api/v1/analytics``: containment, CSAT, latency, cost, ...;
``GET /api/v1/analytics/drift``: what changed against the window before, and the knowledge gaps.
The same figures as the dashboard page (``/dashboard``, for console agents); definitions in
:mod:`omnivox.analytics.metrics` and :mod:`omnivox.analytics.drift`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from omnivox.analytics.drift import Drift, drift
from omnivox.analytics.gaps import QuestionReader
from omnivox.analytics.metrics import MAX_DAYS, figures
from omnivox.governance.apikeys import Principal
from omnivox.governance.rbac import GRANTS, Permission
from omnivox.routes.auth import AUTH_ERRORS, Require
from omnivox.routes.deps import services_of
from omnivox.services import Services

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], responses=AUTH_ERRORS)
Analyst = Annotated[Principal, Depends(Require(Permission.ANALYTICS_READ))]
Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="Window, in days up to now.")]


@router.get("")
async def analytics(request: Request, principal: Analyst, days: Days = 7) -> dict[str, Any]:
    """The key's workspace's figures over the last ``days`` days (and its experiment's)."""
    services = services_of(request)
    ws = services.settings.workspace(principal.workspace_id)
    experiment = ws.experiment if ws else None
    found = await figures(services.db, principal.workspace_id, days, experiment=experiment)
    return found.as_dict()


@router.get("/drift")
async def analytics_drift(request: Request, principal: Analyst, days: Days = 7) -> dict[str, Any]:
    """The last ``days`` days against the ``days`` before, and the questions left unanswered.

    The unanswered questions' examples (redacted) only for keys that may read conversations.
    """
    found = await workspace_drift(services_of(request), principal.workspace_id, days)
    return found.as_dict(examples=Permission.CONVERSATIONS_READ in GRANTS[principal.role])


async def workspace_drift(services: Services, workspace_id: str, days: int) -> Drift:
    """:func:`~omnivox.analytics.drift.drift` with the knowledge gaps' questions grouped.

    Reused while no turn, erasure or merge came since, for up to a minute
    (:mod:`omnivox.analytics.cache`).
    """
    ws = services.settings.workspace(workspace_id)
    region = ws.understanding.phone_region if ws else "US"
    reader = QuestionReader(services.kb.bundled, services.verifier.key, region)
    return await services.drift_cache.get(
        services.db,
        workspace_id,
        days,
        lambda: drift(services.db, workspace_id, days, reader=reader),
    )
