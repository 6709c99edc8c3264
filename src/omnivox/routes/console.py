"""The agent console at ``/console``: server-rendered pages, a little JavaScript, live events.

Every page is sent with a strict Content-Security-Policy (scripts and styles from this server
only, no inline code, no framing). Customer text is escaped by the templates, shown with
``dir="auto"``, and invisible characters (zero-width, bidirectional controls) are made visible.
Sessions are HMAC-signed cookies (``HttpOnly``, ``SameSite=Strict``) that expire after 8 hours;
an expired session or an agent of another workspace is refused with nothing changed or sent.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from omnivox.analytics.metrics import figures
from omnivox.channels.whatsapp import Template, WhatsAppChannel, outside_window
from omnivox.handoff.auth import COOKIE, password_matches
from omnivox.handoff.csat import RATING_DAYS
from omnivox.ratelimit import Window, client_key
from omnivox.routes.analytics import workspace_drift
from omnivox.routes.deps import services_of
from omnivox.services import Services
from omnivox.settings import WorkspaceSettings
from omnivox.storage.handoffs import HandoffError, HandoffView
from omnivox.storage.models import Agent
from omnivox.storage.repositories import StoredMessage
from omnivox.types import aware, utcnow

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "console"
QUEUE_PAGE = 200  # open handoffs a queue page shows
RATING_GONE = "This rating link has expired or was used already."
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def visible(text: object) -> Markup:
    """Escaped text with zero-width and bidi-control characters shown as ``[U+200B]`` badges."""
    escaped = str(escape(str(text)))
    return Markup(
        _INVISIBLE.sub(
            lambda m: f'<span class="invisible-char">[U+{ord(m.group(0)):04X}]</span>', escaped
        )
    )


def duration(seconds: float | None) -> str:
    """A wait as people say it: ``45 s``, ``12 min``, ``3.5 h``, ``2.0 days`` (None: ``–``)."""
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def intent(packet: Mapping[str, Any]) -> str:
    """A handoff packet's intent as the page shows it: ``returns (87%)``, ``out of scope``.

    Out of scope, the packet's confidence is that of the closest intent, which was not
    chosen: it is not shown. ``—``: the message was not classified.
    """
    name, confidence = packet.get("intent"), packet.get("confidence")
    if name:
        return f"{name} ({confidence * 100:.0f}%)" if confidence is not None else str(name)
    return "out of scope" if confidence is not None else "—"


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_env.filters["visible"] = visible
_env.filters["duration"] = duration
_env.filters["intent"] = intent


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A rendered console page with the console's security headers."""
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=_headers())


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode(errors="replace")))


def cross_site(request: Request) -> bool:
    """Whether a form post came from another origin (a sibling subdomain included).

    The session cookie is ``SameSite=Strict``, which a page on another subdomain of the same
    site still gets sent with; the browser's ``Sec-Fetch-Site`` (or, from browsers without it,
    ``Origin``) says where the form was. ``Origin: null`` is what the console's own forms send
    (its pages have no referrer), and a client that sends neither header (curl) is not a
    browser being tricked.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("cross-site", "same-site")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


def refused_cross_site() -> HTMLResponse:
    """The page answering a form posted from another site (nothing was done)."""
    return page(
        "base.html", 403, agent=None, error="This form came from another site. Nothing was done."
    )


class NotLoggedIn(Exception):
    """No valid session: the reason is shown on the login page."""


async def _agent(request: Request) -> tuple[Services, Agent, WorkspaceSettings]:
    services = services_of(request)
    session = services.console.sessions.check(request.cookies.get(COOKIE))
    if session.agent_id is None:
        raise NotLoggedIn(session.problem or "not logged in")
    agent = await services.console.handoffs.agent(session.agent_id)
    ws = services.settings.workspace(agent.workspace_id) if agent else None
    if agent is None or ws is None:
        raise NotLoggedIn("this agent no longer exists")
    if agent.disabled_at is not None:
        raise NotLoggedIn("this agent was disabled")
    if agent.signed_out_at is not None and session.issued_ms <= _ms(agent.signed_out_at):
        raise NotLoggedIn("you logged out; log in again")
    return services, agent, ws


def _ms(at: datetime) -> int:
    """Milliseconds since the epoch (SQLite hands datetimes back without their zone: UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def _login_page(request: Request, error: str | None, status: int = 200) -> HTMLResponse:
    workspaces = services_of(request).settings.workspaces
    return page("login.html", status, workspaces=workspaces, error=error, agent=None)


@router.get("/console/login")
async def login_form(request: Request) -> HTMLResponse:
    """The login page."""
    return _login_page(request, None)


LOGIN_FAILURES_PER_EMAIL = 10  # failed logins to one email of a workspace in LOGIN_WINDOW_S
LOGIN_FAILURES_PER_ADDRESS = 30  # failed logins from one client address in LOGIN_WINDOW_S
LOGIN_WINDOW_S = 900  # 15 minutes


def _login_windows(request: Request, workspace: str, email: str) -> list[Window]:
    """The failed-login windows of this email and this client address (shared with Redis)."""
    address = client_key(request.client.host) if request.client else "unknown"
    by_email = f"email:{workspace}:{email}"
    return [
        Window("console-login", by_email, LOGIN_FAILURES_PER_EMAIL, LOGIN_WINDOW_S),
        Window("console-login", f"address:{address}", LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_S),
    ]


def _too_many_logins(request: Request) -> HTMLResponse:
    response = _login_page(request, "Too many failed logins. Try again in 15 minutes.", 429)
    response.headers["Retry-After"] = str(LOGIN_WINDOW_S)
    return response


@router.post("/console/login")
async def login(request: Request) -> Response:
    """Check the password (argon2id, in a worker thread) and start an 8-hour session.

    After ``LOGIN_FAILURES_PER_EMAIL`` failed logins to an email, or
    ``LOGIN_FAILURES_PER_ADDRESS`` from a client address, in 15 minutes, a login is refused
    with 429 and ``Retry-After`` without its password being checked.
    """
    if cross_site(request):
        return refused_cross_site()
    form = await _form(request)
    services = services_of(request)
    console, windows = services.console, services.coordination.windows
    workspace, email = form.get("workspace", ""), form.get("email", "").strip().lower()
    limits = _login_windows(request, workspace, email)
    if await windows.full(limits) is not None:
        return _too_many_logins(request)
    agent = await console.handoffs.agent_by_email(workspace, email)
    stored = agent.password_hash if agent else None  # None: a throwaway hash is checked
    matched = await password_matches(stored, form.get("password", ""))
    if not matched or agent is None or agent.disabled_at is not None:
        await windows.admit(limits)
        return _login_page(request, "Wrong email or password.", 401)
    if await windows.full(limits) is not None:  # guesses sent at once with this one failed
        return _too_many_logins(request)
    response = RedirectResponse("/console", status_code=303, headers=_headers())
    response.set_cookie(
        COOKIE,
        console.sessions.issue(agent.id),
        max_age=console.sessions.ttl_s,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    """End the agent's sessions (every browser's: a copied cookie stops working too)."""
    if cross_site(request):
        return refused_cross_site()
    try:
        services, agent, _ = await _agent(request)
        await services.console.handoffs.sign_out(agent.id)
    except NotLoggedIn:
        pass  # nothing to end
    response = RedirectResponse("/console/login", status_code=303, headers=_headers())
    response.delete_cookie(COOKIE)
    return response


@router.get("/console")
async def queue_page(request: Request, after: str | None = None) -> Response:
    """The live queue of the agent's workspace: waiting customers first, 200 a page."""
    try:
        services, agent, ws = await _agent(request)
    except NotLoggedIn:
        return RedirectResponse("/console/login", status_code=303)
    try:
        queue = await services.console.handoffs.queue(ws.id, QUEUE_PAGE + 1, after)
    except HandoffError:  # a stale link: the first page
        return RedirectResponse("/console", status_code=303)
    more, queue = len(queue) > QUEUE_PAGE, queue[:QUEUE_PAGE]
    holders = {a: await _name(services, a) for a in {h.agent_id for h in queue if h.agent_id}}
    return page(
        "queue.html",
        agent=agent,
        workspace=ws,
        queue=queue,
        agents=holders,
        next_after=queue[-1].id if more else None,
        paged=after is not None,
    )


@router.get("/dashboard")
async def dashboard_link(days: str = "7") -> Response:
    """The dashboard's short address."""
    return RedirectResponse(f"/console/dashboard?days={_window(days)}", status_code=303)


@router.get("/console/dashboard")
async def dashboard_page(request: Request, days: str = "7") -> Response:
    """The workspace's figures, what changed against the window before, the knowledge gaps.

    Figures: containment, CSAT, latency, cost, answers, per day, experiment.
    """
    try:
        services, agent, ws = await _agent(request)
    except NotLoggedIn:
        return RedirectResponse("/console/login", status_code=303)
    found = await figures(services.db, ws.id, _window(days), experiment=ws.experiment)
    return page(
        "dashboard.html",
        agent=agent,
        workspace=ws,
        f=found,
        d=await workspace_drift(services, ws.id, found.days),
        windows=WINDOWS,
        bars=_bars(found.daily),
    )


WINDOWS = (1, 7, 30, 90)


def _window(days: str) -> int:
    """The dashboard's window in days: one of ``WINDOWS``, else (``abc``, ``-1``, ``5``) 7."""
    return next((w for w in WINDOWS if str(w) == days.strip()), 7)


def _bars(daily: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each day's turns and handoffs as bar heights out of 100 (the busiest day is 100)."""
    top = max([d["turns"] for d in daily] + [1])
    return [
        {
            **d,
            "turns_h": round(100 * d["turns"] / top, 1),
            "handoffs_h": round(100 * d["handoffs"] / top, 1),
        }
        for d in daily
    ]


async def _name(services: Services, agent_id: str) -> str:
    agent = await services.console.handoffs.agent(agent_id)
    return agent.name if agent else agent_id


RECHECK_S = 5.0  # an open event stream re-checks its session at least this often


@router.get("/console/events")
async def events(request: Request) -> Response:
    """Server-sent events: new handoffs, customer messages, suggestions (the agent is online).

    The session is checked again before every event and every ``RECHECK_S`` seconds: once the
    agent logs out (or the session expires, or the agent is disabled) the stream ends without
    sending anything more, and no longer counts as an agent online.
    """
    try:
        services, _, ws = await _agent(request)
    except NotLoggedIn as exc:
        return Response(str(exc), status_code=401)
    bus = services.console.bus
    queue = bus.subscribe(ws.id)

    async def stream() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=RECHECK_S)
                except TimeoutError:
                    event = None
                try:
                    await _agent(request)
                except NotLoggedIn:
                    return
                yield ": keep-alive\n\n" if event is None else f"data: {json.dumps(event)}\n\n"
        finally:
            bus.unsubscribe(ws.id, queue)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=_headers())


@router.get("/console/handoffs/{handoff_id}")
async def conversation_page(handoff_id: str, request: Request) -> Response:
    """The packet, the cross-channel transcript, the reply box, notes and actions."""
    try:
        services, agent, ws = await _agent(request)
    except NotLoggedIn:
        return RedirectResponse("/console/login", status_code=303)
    try:
        handoff = await services.console.handoffs.get(ws.id, handoff_id)
    except HandoffError as exc:
        return page("base.html", exc.status, agent=agent, workspace=ws, error=exc.message)
    actor = f"agent:{agent.id}"
    await services.console.audit.append(
        ws.id, actor, "conversation.viewed", handoff.conversation_id
    )
    return await _conversation(services, agent, ws, handoff)


async def _refused(
    services: Services,
    agent: Agent,
    ws: WorkspaceSettings,
    handoff_id: str,
    exc: HandoffError,
    draft: str = "",
    template_draft: tuple[str, list[str]] = ("", []),
) -> HTMLResponse:
    """The conversation page again with why an action was refused (and what was typed)."""
    try:
        handoff = await services.console.handoffs.get(ws.id, handoff_id)
    except HandoffError:
        return page("base.html", exc.status, agent=agent, workspace=ws, error=exc.message)
    return await _conversation(
        services, agent, ws, handoff, exc.message, exc.status, draft, template_draft
    )


async def _conversation(
    services: Services,
    agent: Agent,
    ws: WorkspaceSettings,
    handoff: HandoffView,
    error: str | None = None,
    status: int = 200,
    draft: str = "",
    template_draft: tuple[str, list[str]] = ("", []),
) -> HTMLResponse:
    """The conversation page.

    ``draft``: a refused reply's text, given back to edit; ``template_draft``: a refused
    template's name and parameters, the same way.
    """
    view = await services.store.conversation(handoff.conversation_id, ws.id)
    messages = view.messages if view else []
    last_in = next((m for m in reversed(messages) if m.direction == "in"), None)
    window_closed = _window_closed(last_in)
    return page(
        "conversation.html",
        status,
        agent=agent,
        workspace=ws,
        handoff=handoff,
        packet=handoff.packet,
        messages=messages,
        notes=await services.console.handoffs.notes(handoff.conversation_id),
        holder=await _name(services, handoff.agent_id) if handoff.agent_id else None,
        channel=last_in.channel if last_in else "—",
        window_closed=window_closed,
        templates=_templates(services, ws) if window_closed else [],
        template_draft=template_draft,
        canned=ws.handoff.canned,
        colleagues=await _colleagues(services, ws) if agent.role == "admin" else [],
        error=error,
        draft=draft,
    )


def _templates(services: Services, ws: WorkspaceSettings) -> list[Template]:
    """The workspace's approved WhatsApp templates (none while its WhatsApp channel is off)."""
    channel = services.console.replies.channel_for(ws.id, "whatsapp")
    return list(channel.templates.values()) if isinstance(channel, WhatsAppChannel) else []


def _window_closed(last_in: StoredMessage | None) -> datetime | None:
    """When a WhatsApp customer last wrote, if that is over 24 hours ago (templates only)."""
    if last_in is None or last_in.channel != "whatsapp":
        return None
    return aware(last_in.created_at) if outside_window(last_in.created_at) else None


async def _colleagues(services: Services, ws: WorkspaceSettings) -> list[Agent]:
    """The agents an admin may assign to: not the disabled ones (assigning them is refused)."""
    return [a for a in await services.console.handoffs.agents(ws.id) if a.disabled_at is None]


@router.post("/console/handoffs/{handoff_id}/template")
async def send_template(handoff_id: str, request: Request) -> Response:
    """Send an approved WhatsApp template (form: ``template``, one ``param`` per parameter).

    For a customer outside WhatsApp's 24-hour window; refused (the page again, with the reason
    and the template as filled in) like the other actions, with nothing stored or sent.
    """
    if cross_site(request):
        return refused_cross_site()
    try:
        services, agent, ws = await _agent(request)
    except NotLoggedIn as exc:
        return _login_page(request, f"{exc}. Nothing was sent.", 401)
    fields = parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True)
    name = next((v for k, v in fields if k == "template"), "")
    params = [v.strip() for k, v in fields if k == "param"]
    try:
        await services.console.send_template(ws, agent, handoff_id, name, params)
    except HandoffError as exc:
        return await _refused(services, agent, ws, handoff_id, exc, template_draft=(name, params))
    return RedirectResponse(f"/console/handoffs/{handoff_id}", status_code=303, headers=_headers())


@router.post("/console/handoffs/{handoff_id}/{action}")
async def act(handoff_id: str, action: str, request: Request) -> Response:
    """Claim, reply, note, resolve or return; a refusal re-renders the page with the reason."""
    if cross_site(request):
        return refused_cross_site()
    try:
        services, agent, ws = await _agent(request)
    except NotLoggedIn as exc:
        return _login_page(request, f"{exc}. Nothing was sent.", 401)
    form = await _form(request)
    text = form.get("text", "").strip()
    try:
        await services.console.act(ws, agent, handoff_id, action, text)
    except HandoffError as exc:
        draft = text if action == "reply" else ""  # a refused reply is not lost
        return await _refused(services, agent, ws, handoff_id, exc, draft=draft)
    target = "/console" if action in ("resolve", "return") else f"/console/handoffs/{handoff_id}"
    return RedirectResponse(target, status_code=303, headers=_headers())


@router.get("/rate/{token}")
async def rate_link(token: str, request: Request) -> HTMLResponse:
    """A rating link from a resolve email: a page with a button that records the score.

    Opening the link records nothing, so a mail scanner that opens every link rates nothing.
    """
    checked = await _rating(request, token)
    if isinstance(checked, HTMLResponse):
        return checked
    view, score = checked
    csat = services_of(request).console.csat
    choices = [(n, csat.token(view.id, n)) for n in range(1, 6)]
    return page("rate.html", agent=None, score=score, choices=choices)


@router.post("/rate/{token}")
async def rate_submit(token: str, request: Request) -> HTMLResponse:
    """Record the score of a rating link (once, within the rating window)."""
    checked = await _rating(request, token)
    if isinstance(checked, HTMLResponse):
        return checked
    view, score = checked
    since = utcnow() - timedelta(days=RATING_DAYS)
    if not await services_of(request).console.handoffs.rate(view, "email", score, since):
        return page("base.html", 410, agent=None, error=RATING_GONE)
    return page("rated.html", agent=None, score=score)


async def _rating(request: Request, token: str) -> tuple[HandoffView, int] | HTMLResponse:
    """The handoff and score of a genuine, still-due rating link, else the page saying why."""
    console = services_of(request).console
    checked = console.csat.check(token)
    if checked is None:
        return page("base.html", 403, agent=None, error="This rating link is not valid.")
    handoff_id, score = checked
    since = utcnow() - timedelta(days=RATING_DAYS)
    view = await console.handoffs.rating_due(handoff_id, since)
    if view is None:
        return page("base.html", 410, agent=None, error=RATING_GONE)
    return view, score


@router.get("/console/static/{name}")
async def static(name: str) -> Response:
    """The console's script and stylesheet."""
    types = {"console.js": "text/javascript", "console.css": "text/css"}
    if name not in types:
        return Response(status_code=404)
    return Response((TEMPLATES / name).read_text(), media_type=types[name], headers=_headers())
