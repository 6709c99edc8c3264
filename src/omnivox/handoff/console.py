"""The console's actions, shared by the HTML pages and the help-desk REST API."""

from __future__ import annotations

from collections.abc import Callable

from omnivox.handoff.auth import Sessions
from omnivox.handoff.bus import ConsoleBus
from omnivox.handoff.csat import Csat
from omnivox.handoff.desk import HandoffDesk
from omnivox.handoff.replies import AgentReplies
from omnivox.handoff.webhooks import WebhookSender
from omnivox.logs import get_logger
from omnivox.settings import WorkspaceSettings
from omnivox.storage.audit import AuditLog
from omnivox.storage.handoffs import HandoffError, HandoffStore, HandoffView
from omnivox.storage.models import Agent

log = get_logger(__name__)
# the audit log's name for each console or help-desk action
AUDITED = {
    "claim": "handoff.claimed",
    "assign": "handoff.assigned",
    "reply": "handoff.replied",
    "note": "handoff.noted",
    "resolve": "handoff.resolved",
    "return": "handoff.returned",
}

ACTIONS = ("claim", "assign", "reply", "note", "resolve", "return")
MAX_TEXT = 4000  # characters of a reply or note, in the console and the help-desk API


class Console:
    """Claim, reply, note, resolve and hand back, for one logged-in agent at a time."""

    def __init__(
        self,
        handoffs: HandoffStore,
        bus: ConsoleBus,
        desk: HandoffDesk,
        replies: AgentReplies,
        csat: Csat,
        key: Callable[[], bytes],
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.handoffs = handoffs
        self.bus = bus
        self.desk = desk
        self.replies = replies
        self.csat = csat
        self.webhooks = webhooks
        self.audit = AuditLog(handoffs.db)
        self._key = key
        self._sessions: Sessions | None = None

    @property
    def sessions(self) -> Sessions:
        """Session cookies, signed with the server key (loaded on first use)."""
        if self._sessions is None:
            self._sessions = Sessions(self._key())
        return self._sessions

    async def _assign(
        self, ws: WorkspaceSettings, admin: Agent, handoff_id: str, email: str
    ) -> HandoffView:
        if admin.role != "admin":
            raise HandoffError(403, "admins_only", "only an admin can assign conversations")
        target = await self.handoffs.agent_by_email(ws.id, email.strip().lower())
        if target is None:
            raise HandoffError(404, "unknown_agent", f"no agent {email!r} in this workspace")
        if target.disabled_at is not None:
            raise HandoffError(409, "agent_disabled", f"the agent {email!r} is disabled")
        return await self.handoffs.assign(ws.id, handoff_id, target.id)

    async def close(self) -> None:
        """Send queued webhooks, then stop their workers."""
        if self.webhooks is not None:
            await self.webhooks.close()

    async def act(
        self,
        ws: WorkspaceSettings,
        agent: Agent,
        handoff_id: str,
        action: str,
        text: str,
        actor: str | None = None,
    ) -> None:
        """Do ``action``; HandoffError (with an HTTP status) when it is refused.

        ``actor`` names the caller in the audit log (an API key); by default the agent.
        """
        if action not in ACTIONS:
            raise HandoffError(404, "unknown_action", f"no action {action!r}")
        if action in ("reply", "note") and not text:
            raise HandoffError(400, "empty", f"write the {action} first")
        if action in ("reply", "note") and len(text) > MAX_TEXT:
            raise HandoffError(
                422,
                "too_long",
                f"a {action} has at most {MAX_TEXT:,} characters (this one has {len(text):,});"
                " nothing was sent",
            )
        if action == "claim":
            view = await self.handoffs.claim(ws.id, handoff_id, agent.id)
        elif action == "assign":
            view = await self._assign(ws, agent, handoff_id, text)
        elif action == "reply":
            view = await self.handoffs.held_by(ws.id, handoff_id, agent.id)
            await self.replies.send(ws, view, agent.id, text)
        elif action == "note":
            view = await self.handoffs.get(ws.id, handoff_id)
            await self.handoffs.add_note(view.conversation_id, agent.id, text)
        else:
            outcome = "resolved" if action == "resolve" else "returned"
            view = await self.handoffs.close(ws.id, handoff_id, agent.id, outcome)
            if outcome == "resolved":
                await self._ask_rating(ws, view, agent.id)
        details = {"to": text} if action == "assign" else {"agent": agent.id}
        await self._announce(ws, view, AUDITED[action], actor or f"agent:{agent.id}", details)

    async def send_template(
        self,
        ws: WorkspaceSettings,
        agent: Agent,
        handoff_id: str,
        name: str,
        params: list[str],
        actor: str | None = None,
    ) -> None:
        """Send WhatsApp template ``name`` to the customer of a handoff the agent holds.

        A waiting handoff is claimed, as a reply claims it, once the template is known to fit
        (:meth:`AgentReplies.check_template`: a refused one claims nothing). HandoffError (with
        an HTTP status) when it is refused: someone else holds the conversation (409), or
        :meth:`AgentReplies.send_template` refuses it. Audited as a reply, with the template's
        name (never its parameters); ``actor`` names the caller (an API key), by default the
        agent.
        """
        await self.replies.check_template(
            ws, await self.handoffs.get(ws.id, handoff_id), name, params
        )
        view = await self.handoffs.held_by(ws.id, handoff_id, agent.id)
        await self.replies.send_template(ws, view, agent.id, name, params)
        details = {"agent": agent.id, "template": name}
        await self._announce(ws, view, AUDITED["reply"], actor or f"agent:{agent.id}", details)

    async def _announce(
        self,
        ws: WorkspaceSettings,
        view: HandoffView,
        action: str,
        actor: str,
        details: dict[str, str],
    ) -> None:
        """Audit an action and tell consoles and webhooks about the handoff as it is now."""
        # every action on a customer's conversation is audited (never a reply's or note's text)
        await self.audit.append(ws.id, actor, action, view.id, details)
        holder = await self.handoffs.agent(view.agent_id) if view.agent_id else None
        update = {"type": "update", "handoff": view.as_dict()}
        self.bus.publish(ws.id, update | {"agent_name": holder.name if holder else None})

    async def _ask_rating(self, ws: WorkspaceSettings, view: HandoffView, agent_id: str) -> None:
        """Ask the customer to rate, when their channel can still be reached.

        The handoff is resolved already: a channel since switched off (or one that refuses the
        question) must not turn that into an error, nor keep the update from consoles and
        webhooks.
        """
        try:
            await self.csat.request(ws, view, agent_id)
        except HandoffError as exc:
            log.warning("handoff.rating_not_asked", handoff_id=view.id, reason=exc.code)
