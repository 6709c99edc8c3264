"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from omnivox.routes.deps import services_of

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers and the first model is loaded, else 503."""
    checks = await services_of(request).ready()
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "starting", "checks": checks}, status_code=200 if ok else 503
    )
