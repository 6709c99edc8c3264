"""``/docs``: an offline API reference rendered from the OpenAPI schema (no CDN assets)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from omnivox.governance.rbac import Permission
from omnivox.routes.auth import permission_of, roles_with
from omnivox.routes.pages import PAGE_CSP

router = APIRouter(include_in_schema=False)

STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;
color:#1d2b24}h1{margin-bottom:.2rem}.op{border:1px solid #d7e0da;border-radius:10px;
padding:.8rem 1rem;margin:1rem 0}.m{font-weight:700;padding:.1rem .5rem;border-radius:6px;
background:#2f6f4f;color:#fff;margin-right:.5rem}pre{background:#f4f6f5;padding:.6rem;
border-radius:8px;overflow:auto;font-size:13px}code{font-size:13px}"""


def _schema_ref(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else json.dumps(schema)


def _operation(method: str, path: str, op: dict[str, Any], needs: Permission | None) -> str:
    parts = [
        f'<div class="op"><p><span class="m">{escape(method.upper())}</span>'
        f"<code>{escape(path)}</code></p>"
    ]
    if needs is not None:
        roles = ", ".join(r.value for r in roles_with(needs))
        parts.append(
            f"<p>API key with <code>{escape(needs.value)}</code> (roles: {escape(roles)})</p>"
        )
    if op.get("summary"):
        parts.append(f"<p><strong>{escape(op['summary'])}</strong></p>")
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    if body:
        parts.append(f"<p>Body: <code>{escape(_schema_ref(body.get('schema', {})))}</code></p>")
    codes = ", ".join(escape(code) for code in op.get("responses", {}))
    parts.append(f"<p>Responses: {codes}</p></div>")
    return "".join(parts)


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
    """Every endpoint with its body and responses, then the schemas."""
    spec = request.app.openapi()
    needs = {
        (method.lower(), route.path): permission_of(route)
        for router in request.app.state.routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    ops = [
        _operation(method, path, op, needs.get((method, path)))
        for path, methods in spec.get("paths", {}).items()
        for method, op in methods.items()
    ]
    schemas = spec.get("components", {}).get("schemas", {})
    schema_html = "".join(
        f"<h3>{escape(name)}</h3><pre>{escape(json.dumps(s, indent=2))}</pre>"
        for name, s in schemas.items()
    )
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Omnivox API</title>"
        f"<style>{STYLE}</style></head><body><h1>Omnivox REST API</h1>"
        f"<p>Version {escape(spec['info']['version'])}. Machine-readable: "
        f'<a href="/openapi.json">/openapi.json</a>. The web chat WebSocket is '
        f"<code>/ws/chat?workspace=ID[&amp;visitor=ID]</code>. API keys go in "
        f"<code>Authorization: Bearer ovx_…</code> (<code>omnivox keys create</code>).</p>"
        f"{''.join(ops)}"
        f"<h2>Schemas</h2>{schema_html}</body></html>"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_CSP})
