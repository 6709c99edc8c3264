"""``POST /api/v1/knowledge/search``: the same hybrid search as ``omnivox kb search``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from omnivox.governance.apikeys import Principal
from omnivox.governance.rbac import Permission
from omnivox.routes.auth import AUTH_ERRORS, Require, same_workspace
from omnivox.routes.deps import NOT_FOUND, TOO_LARGE, api_error, services_of

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"], responses=AUTH_ERRORS)
Searcher = Annotated[Principal, Depends(Require(Permission.KNOWLEDGE_SEARCH))]


class SearchIn(BaseModel):
    """A knowledge search."""

    model_config = ConfigDict(extra="forbid")
    workspace: str = Field(min_length=1, max_length=64)
    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(5, ge=1, le=50)
    filters: dict[str, str | int | float | bool] | None = Field(
        None, description='Metadata equality filters, e.g. {"domain": "dmv"}.'
    )


@router.post("/search", responses={**NOT_FOUND, **TOO_LARGE})
async def search(body: SearchIn, request: Request, principal: Searcher) -> dict[str, Any]:
    """Ranked passages of the key's workspace with scores and sources."""
    same_workspace(request, principal, body.workspace)
    services = services_of(request)
    if services.settings.workspace(body.workspace) is None:
        raise api_error(404, "unknown_workspace", f"no workspace with id {body.workspace!r}")
    hits = await services.kb.search(body.workspace, body.query, body.k, body.filters)
    return {"results": [h.as_dict() for h in hits]}
