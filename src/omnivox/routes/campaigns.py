"""``POST /api/v1/campaigns/copy``: marketing copy for a brief, as ``omnivox campaign write``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ConfigDict, Field

from omnivox.campaigns import Brief, CopyWriter
from omnivox.governance.apikeys import Principal
from omnivox.governance.rbac import Permission
from omnivox.routes.auth import AUTH_ERRORS, Require, same_workspace
from omnivox.routes.deps import NOT_FOUND, api_error, services_of

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"], responses=AUTH_ERRORS)
Writer = Annotated[Principal, Depends(Require(Permission.CAMPAIGNS_WRITE))]


class CopyIn(Brief):
    """A brief, and the workspace whose brand voice, rules and knowledge it uses."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    workspace: str = Field(min_length=1, max_length=64)


@router.post("/copy", responses=NOT_FOUND)
async def write_copy(body: CopyIn, request: Request, principal: Writer) -> dict[str, Any]:
    """Copy for each channel of the brief, in its variants, fitted and checked.

    Nothing is sent or stored: the copies come back to be reviewed. With the bundled model
    each copy takes about a second; without a model they are composed from the brief.
    """
    same_workspace(request, principal, body.workspace)
    services = services_of(request)
    workspace = services.settings.workspace(body.workspace)
    if workspace is None:
        raise api_error(404, "unknown_workspace", f"no workspace with id {body.workspace!r}")
    brief = Brief.model_validate(body.model_dump(exclude={"workspace"}))
    writer = CopyWriter(services.settings, services.chain, services.kb, services.events)
    return (await writer.write(workspace, brief)).as_dict()
