"""The demo page and the embeddable widget script."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from omnivox.routes.deps import api_error, services_of

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


@router.get("/", response_class=HTMLResponse)
async def demo_page(request: Request, workspace: str | None = None) -> HTMLResponse:
    """The demo page with the widget for ``workspace`` (default: the first one)."""
    settings = services_of(request).settings
    ws = settings.workspace(workspace) if workspace else settings.workspaces[0]
    if ws is None:
        raise api_error(404, "unknown_workspace", f"no workspace with id {workspace!r}")
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    html = html.replace("__OMNIVOX_WORKSPACE__", escape(ws.id)).replace(
        "__OMNIVOX_TITLE__", escape(ws.name)
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_CSP})


@router.get("/widget.js")
async def widget_js() -> Response:
    """The embeddable chat widget: ``<script src=".../widget.js" data-workspace="ID">``."""
    return Response(
        (STATIC / "widget.js").read_bytes(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )
