"""``GET /api/v1/analytics``: the workspace's figures (containment, CSAT, latency, cost, ...).

The same figures as the dashboard page (``/dashboard``, for console agents); definitions in
:mod:`omnivox.analytics.metrics`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from omnivox.analytics.metrics import MAX_DAYS, figures
from omnivox.governance.apikeys import Principal
from omnivox.governance.rbac import Permission
from omnivox.routes.auth import AUTH_ERRORS, Require
from omnivox.routes.deps import services_of

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], responses=AUTH_ERRORS)
Analyst = Annotated[Principal, Depends(Require(Permission.ANALYTICS_READ))]


@router.get("")
async def analytics(
    request: Request,
    principal: Analyst,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Window, in days up to now.")] = 7,
) -> dict[str, Any]:
    """The key's workspace's figures over the last ``days`` days (and its experiment's)."""
    services = services_of(request)
    ws = services.settings.workspace(principal.workspace_id)
    experiment = ws.experiment if ws else None
    found = await figures(services.db, principal.workspace_id, days, experiment=experiment)
    return found.as_dict()
