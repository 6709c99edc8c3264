"""``create_app(settings)`` -> the FastAPI application; the lifespan opens and closes services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException

from omnivox import __version__
from omnivox.limits import BodyLimitMiddleware
from omnivox.logs import get_logger
from omnivox.routes import (
    analytics,
    apidocs,
    campaigns,
    chat,
    console,
    customers,
    health,
    helpdesk,
    knowledge,
    messages,
    pages,
    webhooks,
)
from omnivox.scaleout.errors import CoordinationUnavailableError
from omnivox.services import Services, build_services
from omnivox.settings import Settings
from omnivox.turns import NotStoredYetError

log = get_logger(__name__)


def create_app(
    settings: Settings, services: Services | None = None, *, warm_up: bool = True
) -> FastAPI:
    """Build the app. The model loads in the background; ``/readyz`` says when it is ready."""
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start(warm_up=False)
        await services.start_mail()
        services.start_retention()
        app.state.services = services
        # the models first (when warming up): the turns it runs again answer with them
        warm = asyncio.create_task(_warm_up(services, warm_up))
        log.info(
            "server.started",
            workspaces=[w.id for w in settings.workspaces],
            database=services.db.backend,
        )
        try:
            yield
        finally:
            warm.cancel()
            await services.close()
            log.info("server.stopped")

    app = FastAPI(
        title="Omnivox",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # /docs is served offline by routes.apidocs (Swagger UI needs a CDN)
        redoc_url=None,
        description="One AI assistant across every customer channel.",
    )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.server.max_body_bytes,
        webhook_max_bytes=settings.server.webhook_max_body_bytes,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)  # Starlette's: FastAPI's own too
    app.add_exception_handler(NotStoredYetError, _not_stored_yet)  # no traceback: expected
    app.add_exception_handler(Exception, _unexpected)  # logged by Starlette, answered in JSON
    modules = (
        messages,
        knowledge,
        campaigns,
        analytics,
        customers,
        helpdesk,
        console,
        chat,
        health,
        pages,
        apidocs,
        webhooks,
    )
    for module in modules:
        app.include_router(module.router)
    # the routes as declared (newer FastAPI wraps included routers in app.routes): /docs and
    # the authorization tests read each route's permission from here
    app.state.routers = [module.router for module in modules]
    return app


def server_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options from ``settings`` (``omnivox serve``'s, and the tests' servers).

    X-Forwarded-For and X-Forwarded-Proto name the client only when the peer is in
    ``server.forwarded_allow_ips`` (uvicorn's ``FORWARDED_ALLOW_IPS`` variable is not read):
    from another peer they could set the address the login and web chat limits count.
    ``server.limit_concurrency`` and ``server.timeout_keep_alive`` bound what slow or idle
    clients hold (uvicorn has no header timeout: a reverse proxy in front gives one).
    """
    return {
        "ws_max_size": settings.server.max_body_bytes,
        "log_config": None,
        "proxy_headers": True,
        "forwarded_allow_ips": list(settings.server.forwarded_allow_ips),
        "limit_concurrency": settings.server.limit_concurrency,
        "timeout_keep_alive": settings.server.timeout_keep_alive,
    }


async def _warm_up(services: Services, models: bool) -> None:
    if models:
        try:
            await services.start_models()
        except Exception as exc:  # the fallback providers still answer; readyz shows the state
            log.error("llm.warm_up.failed", error=str(exc))
        _log_ready(await services.ready())
    again = await services.recover()
    if again:
        log.info("turn.recovery_done", messages=again)


def _log_ready(checks: dict[str, bool]) -> None:
    """Say once the warm-up is over, and what is not ready yet (``/readyz`` has the same)."""
    waiting = sorted(name for name, ok in checks.items() if not ok)
    if waiting:
        log.warning("server.not_ready", waiting=waiting, see="/readyz")
    else:
        log.info("server.ready", checks=sorted(checks))


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    """The field's dotted path without its location (a body field may be named ``query``)."""
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _problem(error: dict[str, Any]) -> dict[str, str]:
    """One validation error as ``field``, ``message`` and ``type``.

    A body that is not JSON is the ``body`` field (its location is where decoding failed).
    """
    if error["type"] == "json_invalid":
        return {"field": "body", "message": "the body is not valid JSON", "type": "json_invalid"}
    return {"field": _field(error["loc"]), "message": error["msg"], "type": error["type"]}


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [_problem(e) for e in exc.errors()]
    fields = ", ".join(d["field"] for d in detail)
    return JSONResponse(
        {"error": "validation_error", "message": f"invalid field(s): {fields}", "detail": detail},
        status_code=422,
    )


def _database_down(exc: BaseException) -> bool:
    """A database that cannot be reached or is saturated, as opposed to a bug."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return isinstance(exc, ConnectionError)


async def _not_stored_yet(_: Request, exc: Exception) -> JSONResponse:
    """A webhook message still waiting for its turn: its turn goes on, the retry is deduplicated."""
    return JSONResponse(
        {"error": "not_stored_yet", "message": "the message is not stored yet; retry"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    """Any uncaught error as JSON: 503 with Retry-After when the database is down, else 500."""
    if _database_down(exc):
        return JSONResponse(
            {"error": "database_unavailable", "message": "the database is not answering; retry"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, CoordinationUnavailableError):  # Redis, with several servers
        return JSONResponse(
            {"error": "coordination_unavailable", "message": "Redis is not answering; retry"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse(
        {"error": "internal_error", "message": "something went wrong; it was logged"},
        status_code=500,
    )


# what FastAPI raises (400) when a JSON body cannot be decoded: not UTF-8 text
_UNDECODABLE = "There was an error parsing the body"


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == _UNDECODABLE:
        detail = [
            {"field": "body", "message": "the body is not UTF-8 JSON", "type": "json_invalid"}
        ]
        return JSONResponse(
            {"error": "validation_error", "message": "invalid field(s): body", "detail": detail},
            status_code=422,
        )
    body = (
        exc.detail
        if isinstance(exc.detail, dict)
        else {"error": "http_error", "message": str(exc.detail)}
    )
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
