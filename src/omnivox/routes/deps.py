"""Shared route helpers: the services object and error bodies."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from omnivox.services import Services


def services_of(conn: HTTPConnection) -> Services:
    """The app's services (set by the lifespan)."""
    services: Services = conn.app.state.services
    return services


ERROR_BODY: dict[str, Any] = {"description": 'JSON body: {"error": code, "message": text}'}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: ERROR_BODY}
TOO_LARGE: dict[int | str, dict[str, Any]] = {413: ERROR_BODY}


def api_error(status: int, code: str, message: str, **extra: Any) -> HTTPException:
    """An HTTPException whose body is ``{"error": code, "message": ..., ...}``."""
    return HTTPException(status, detail={"error": code, "message": message, **extra})
