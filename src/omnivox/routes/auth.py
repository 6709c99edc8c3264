"""API-key authentication for the REST API: ``Authorization: Bearer ovx_…``.

``Depends(Require(Permission.X))`` gives the route the caller's :class:`Principal` or answers
401 (no key, a malformed, unknown or revoked key) or 403 (the key's role lacks the
permission) before the route runs, so a refused call changes nothing. The key decides the
workspace: a body or query naming another workspace is 403, and ids of another workspace's
records are 404, exactly as if they did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from omnivox.governance.apikeys import Principal
from omnivox.governance.rbac import GRANTS, Permission, Role, allows
from omnivox.routes.deps import ERROR_BODY, services_of

_bearer = HTTPBearer(auto_error=False, description="An API key: omnivox keys create")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: ERROR_BODY, 403: ERROR_BODY}


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        401,
        detail={"error": "unauthorized", "message": message},
        headers={"WWW-Authenticate": "Bearer"},
    )


class Require:
    """A dependency that admits only keys whose role grants ``permission``."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request, credentials: Credentials) -> Principal:
        """The caller's principal, or 401/403 before the route runs."""
        if credentials is None:
            raise _unauthorized("an API key is required: Authorization: Bearer <key>")
        principal = await services_of(request).api_keys.check(credentials.credentials)
        if principal is None:
            raise _unauthorized("the API key is not valid (unknown, malformed or revoked)")
        if not allows(principal.role, self.permission):
            raise HTTPException(
                403,
                detail={
                    "error": "forbidden",
                    "message": f"a {principal.role} key may not do {self.permission}",
                },
            )
        return principal


def roles_with(permission: Permission) -> list[Role]:
    """The roles whose keys may do ``permission``."""
    return [role for role in Role if permission in GRANTS[role]]


def permission_of(route: APIRoute) -> Permission | None:
    """The permission a route's :class:`Require` dependency asks for (None: no API key)."""
    for dep in route.dependant.dependencies:
        if isinstance(dep.call, Require):
            return dep.call.permission
    return None


def same_workspace(request: Request, principal: Principal, workspace: str) -> str:
    """``workspace`` when it is the key's own; 404 when no such workspace, 403 another's."""
    if services_of(request).settings.workspace(workspace) is None:
        raise HTTPException(
            404,
            detail={"error": "unknown_workspace", "message": f"no workspace {workspace!r}"},
        )
    if workspace != principal.workspace_id:
        raise HTTPException(
            403,
            detail={
                "error": "wrong_workspace",
                "message": f"this key belongs to workspace {principal.workspace_id!r}, "
                f"not {workspace!r}",
            },
        )
    return workspace
