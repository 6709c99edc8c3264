"""Handoffs, agents and notes: the SQL behind the agent console.

A handoff is ``waiting`` (in the queue), ``claimed`` (an agent holds it), then ``resolved`` or
``returned`` (to the bot). While one is open its conversation's status is ``human`` and the bot
stays silent. Claiming is one conditional UPDATE, so of two agents claiming at once exactly one
wins.

Removing an agent leaves an ``agent.removed`` event, kept for good, that names the email only by
a keyed digest (``email_hmac``: HMAC-SHA256 under a key derived from the key ring's primary, like
blind indexes, and found under every key of the ring), so the record cannot be reversed by
hashing guessed emails. With encryption off there is no ring and the key is a fixed label: no
better than a plain hash, like everything else stored then. Until 2026-12-06 the event kept a
plain SHA-256 (``email_sha256``); those are still recognised, and cannot be re-keyed (the email
is not known until someone asks about it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, tuple_, update

from omnivox import events
from omnivox.ids import new_id
from omnivox.privacy.crypto import RING
from omnivox.storage.db import AsyncSession, Database
from omnivox.storage.models import Agent, Conversation, Event, Handoff, Note, Rating
from omnivox.types import aware, utcnow

OPEN = ("waiting", "claimed")
# a removed agent kept for the history it names has this email prefix: no command finds it again
_REMOVED = "removed:"
REMOVAL_LABEL = b"omnivox:agent-removed:v1"  # derives the key of removed agents' email digests


@dataclass(frozen=True, slots=True)
class RemovedAgent:
    """What removing an agent did: conversations put back in the queue, the row kept or not."""

    released: int
    kept: bool  # notes, ratings or handoffs name the agent: the row stays, disabled


class HandoffError(Exception):
    """A refused console action; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class HandoffView:
    """A handoff as the console shows it."""

    id: str
    workspace_id: str
    conversation_id: str
    customer_id: str
    status: str
    agent_id: str | None
    packet: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: Handoff) -> HandoffView:
        """Build from an ORM row."""
        return cls(
            row.id,
            row.workspace_id,
            row.conversation_id,
            row.customer_id,
            row.status,
            row.agent_id,
            dict(row.packet),
            row.created_at,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (queue events, the REST API)."""
        return {
            "id": self.id,
            "workspace": self.workspace_id,
            "conversation_id": self.conversation_id,
            "customer_id": self.customer_id,
            "status": self.status,
            "agent_id": self.agent_id,
            "packet": self.packet,
            "created_at": self.created_at.isoformat(),
        }


class HandoffStore:
    """Async repository for handoffs, agents, notes and ratings."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(
        self, workspace_id: str, conversation_id: str, customer_id: str, packet: dict[str, Any]
    ) -> tuple[HandoffView, bool]:
        """Queue the conversation for people (or return its open handoff); (view, created)."""
        async with self.db.sessions.begin() as session:
            existing = (
                await session.execute(
                    select(Handoff).where(
                        Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN)
                    )
                )
            ).scalar_one_or_none()
            if existing is not None:
                return HandoffView.of(existing), False
            row = Handoff(
                id=new_id("hof"),
                workspace_id=workspace_id,
                conversation_id=conversation_id,
                customer_id=customer_id,
                status="waiting",
                packet=packet,
                created_at=utcnow(),
            )
            session.add(row)
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(status="human")
            )
        return HandoffView.of(row), True

    async def merge_packet(self, handoff_id: str, changes: dict[str, Any]) -> None:
        """Write ``changes`` over the packet's fields of the same names, keeping the others.

        Read and written under the row's lock (PostgreSQL: ``FOR UPDATE``; SQLite has one
        writer), so writers of different fields (the suggested reply, which arrives late; the
        rating; an unmerge's rewritten customer) all keep theirs. The packet is encrypted:
        no JSON merge in SQL. Until 2026-12-05 each writer replaced the whole packet with its
        own (possibly stale) copy: a late suggestion undid a rating request, for one.
        """
        async with self.db.sessions.begin() as session:
            row = await _locked(session, handoff_id)
            if row is not None:
                row.packet = {**row.packet, **changes}

    async def get(self, workspace_id: str, handoff_id: str) -> HandoffView:
        """One handoff of the workspace, or HandoffError 404."""
        async with self.db.sessions() as session:
            row = await session.get(Handoff, handoff_id)
        if row is None or row.workspace_id != workspace_id:
            raise HandoffError(404, "not_found", f"no handoff {handoff_id!r}")
        return HandoffView.of(row)

    async def find(self, handoff_id: str) -> HandoffView | None:
        """A handoff by id, whatever its workspace (for signed links that name it)."""
        async with self.db.sessions() as session:
            row = await session.get(Handoff, handoff_id)
        return HandoffView.of(row) if row else None

    async def queue(
        self, workspace_id: str, limit: int = 200, after: str | None = None
    ) -> list[HandoffView]:
        """Open handoffs of the workspace: waiting ones first, each group oldest first.

        At most ``limit``; ``after`` (a handoff id of the previous page) continues where that
        page ended. Waiting customers come first so that long-held claims never push a new
        one off the page.
        """
        waiting_last = case((Handoff.status == "waiting", 0), else_=1)
        query = select(Handoff).where(
            Handoff.workspace_id == workspace_id, Handoff.status.in_(OPEN)
        )
        async with self.db.sessions() as session:
            if after is not None:
                mark = await session.get(Handoff, after)
                if mark is None or mark.workspace_id != workspace_id:
                    raise HandoffError(404, "not_found", f"no handoff {after!r}")
                key = (int(mark.status != "waiting"), mark.created_at, mark.id)
                query = query.where(tuple_(waiting_last, Handoff.created_at, Handoff.id) > key)
            rows = await session.execute(
                query.order_by(waiting_last, Handoff.created_at, Handoff.id).limit(limit)
            )
            return [HandoffView.of(r) for r in rows.scalars()]

    async def claim(self, workspace_id: str, handoff_id: str, agent_id: str) -> HandoffView:
        """Take a waiting handoff; exactly one of several agents at once wins (409 for others)."""
        async with self.db.sessions.begin() as session:
            if not await _take(session, workspace_id, handoff_id, agent_id, ("waiting",)):
                current = await session.get(Handoff, handoff_id)
                if current is None or current.workspace_id != workspace_id:
                    raise HandoffError(404, "not_found", f"no handoff {handoff_id!r}")
                raise HandoffError(409, "already_claimed", f"this conversation is {current.status}")
        return await self.get(workspace_id, handoff_id)

    async def assign(self, workspace_id: str, handoff_id: str, agent_id: str) -> HandoffView:
        """Give an open handoff to an agent (an admin's decision, over any claim)."""
        async with self.db.sessions.begin() as session:
            if not await _take(session, workspace_id, handoff_id, agent_id, OPEN):
                current = await session.get(Handoff, handoff_id)
                if current is None or current.workspace_id != workspace_id:
                    raise HandoffError(404, "not_found", f"no handoff {handoff_id!r}")
                raise HandoffError(409, "closed", "only an open conversation can be assigned")
        return await self.get(workspace_id, handoff_id)

    async def close(
        self, workspace_id: str, handoff_id: str, agent_id: str, outcome: str
    ) -> HandoffView:
        """``resolved`` (conversation closed) or ``returned`` (the bot answers again).

        One conditional update: of two closes at once (a double click, resolve and return
        from two tabs, a reassignment in between) exactly one wins; the other gets the 409
        that :meth:`held_by` would give now.
        """
        view = await self.held_by(workspace_id, handoff_id, agent_id)
        status = "closed" if outcome == "resolved" else "bot"
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(
                    Handoff.id == handoff_id,
                    Handoff.status == "claimed",
                    Handoff.agent_id == agent_id,
                )
                .values(status=outcome, closed_at=utcnow())
            )
            won = getattr(result, "rowcount", 0) == 1
            if won:
                await session.execute(
                    update(Conversation)
                    .where(Conversation.id == view.conversation_id)
                    .values(status=status)
                )
        if not won:  # read once the transaction is over (SQLite: one connection)
            raise await self._lost(workspace_id, handoff_id, agent_id)
        return await self.get(workspace_id, handoff_id)

    async def _lost(self, workspace_id: str, handoff_id: str, agent_id: str) -> HandoffError:
        """Why a close found the handoff no longer held by ``agent_id`` (nothing is changed)."""
        view = await self.get(workspace_id, handoff_id)
        if view.status not in OPEN:
            return HandoffError(409, "closed", f"this conversation was {view.status}")
        if view.agent_id != agent_id:
            return HandoffError(409, "claimed_by_another", "another agent holds this conversation")
        return HandoffError(409, "changed", "this conversation changed meanwhile; try again")

    async def held_by(self, workspace_id: str, handoff_id: str, agent_id: str) -> HandoffView:
        """The handoff if it is open and this agent holds it (claiming a waiting one)."""
        view = await self.get(workspace_id, handoff_id)
        if view.status not in OPEN:
            raise HandoffError(409, "closed", f"this conversation was {view.status}")
        if view.status == "waiting":
            return await self.claim(workspace_id, handoff_id, agent_id)
        if view.agent_id != agent_id:
            raise HandoffError(409, "claimed_by_another", "another agent holds this conversation")
        return view

    async def add_note(self, conversation_id: str, agent_id: str, text: str) -> None:
        """An internal note (never sent to the customer)."""
        async with self.db.sessions.begin() as session:
            session.add(
                Note(
                    conversation_id=conversation_id,
                    agent_id=agent_id,
                    text=text,
                    created_at=utcnow(),
                )
            )

    async def notes(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's notes, oldest first, with their authors."""
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(Note, Agent.name)
                .join(Agent, Agent.id == Note.agent_id)
                .where(Note.conversation_id == conversation_id)
                .order_by(Note.id)
            )
            return [
                {"text": n.text, "agent": name, "at": n.created_at.isoformat()} for n, name in rows
            ]

    async def awaiting_rating(self, customer_id: str, since: datetime) -> HandoffView | None:
        """The customer's latest handoff resolved after ``since`` whose rating is still due."""
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(Handoff)
                .where(
                    Handoff.customer_id == customer_id,
                    Handoff.status == "resolved",
                    Handoff.closed_at >= since,
                )
                .order_by(Handoff.closed_at.desc())
                .limit(1)
            )
            row = rows.scalar_one_or_none()
        if row is None or row.packet.get("rating") != "requested":
            return None
        return HandoffView.of(row)

    async def rating_due(self, handoff_id: str, since: datetime) -> HandoffView | None:
        """The handoff if it was resolved after ``since`` and its rating is still due."""
        async with self.db.sessions() as session:
            row = await session.get(Handoff, handoff_id)
        if row is None or not _due(row, since):
            return None
        return HandoffView.of(row)

    async def rate(
        self, view: HandoffView, channel: str, score: int, since: datetime | None = None
    ) -> bool:
        """Store the customer's score once (False when it was already rated).

        With ``since``: only for a handoff resolved after it (a rating link expires).
        """
        async with self.db.sessions.begin() as session:
            row = await _locked(session, view.id)
            if row is None or row.packet.get("rating") != "requested":
                return False
            if since is not None and not _due(row, since):
                return False
            row.packet = {**row.packet, "rating": score}
            session.add(
                Rating(
                    workspace_id=view.workspace_id,
                    conversation_id=view.conversation_id,
                    channel=channel,
                    agent_id=view.agent_id,
                    score=score,
                    created_at=utcnow(),
                )
            )
        return True

    # -- agents ----------------------------------------------------------------------------

    async def add_agent(
        self, workspace_id: str, email: str, name: str, role: str, password_hash: str
    ) -> str:
        """Create an agent, or update the one with this email; returns the id.

        A new password hash ends the agent's sessions issued until now (a reset password locks
        out whoever had the old one).
        """
        async with self.db.sessions.begin() as session:
            row = await _agent_by_email(session, workspace_id, email)
            if row is None:
                row = Agent(id=new_id("agt"), workspace_id=workspace_id, email=email)
                session.add(row)
            elif row.password_hash != password_hash:
                row.signed_out_at = utcnow()
            row.name, row.role, row.password_hash = name, role, password_hash
            return row.id

    async def set_disabled(self, workspace_id: str, email: str, disabled: bool) -> bool:
        """Disable (ending their sessions) or enable an agent; False when there is no such agent.

        A disabled agent cannot log in, and is refused as a help-desk actor or an assignee.
        """
        now = utcnow()
        values: dict[str, Any] = {"disabled_at": now, "signed_out_at": now}
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Agent)
                .where(Agent.workspace_id == workspace_id, Agent.email == email)
                .where(Agent.email.not_like(f"{_REMOVED}%"))
                .values(values if disabled else {"disabled_at": None})
            )
        return getattr(result, "rowcount", 0) == 1

    async def remove_agent(self, workspace_id: str, email: str) -> RemovedAgent | None:
        """Remove an agent's account; None when there is no such agent.

        The conversations they hold go back to the queue (``waiting``, nobody's). An agent no
        note, rating or handoff names is deleted; otherwise the row stays so that those still
        name them, disabled with their sessions ended and its email replaced by
        ``removed:<agent id>``: nobody can log in as them, enable them again or be assigned to
        them, and ``add_agent`` with the email creates a new account.

        Either way an ``agent.removed`` event keeps a keyed digest of the email (never purged):
        seeding does not bring the agent back (:meth:`was_removed`).
        """
        async with self.db.sessions.begin() as session:
            row = await _agent_by_email(session, workspace_id, email)
            if row is None:
                return None
            released = await session.execute(
                update(Handoff)
                .where(Handoff.agent_id == row.id, Handoff.status == "claimed")
                .values(status="waiting", agent_id=None)
            )
            kept = await _named(session, row.id)
            if kept:
                row.email = f"{_REMOVED}{row.id}"
                row.disabled_at = row.signed_out_at = utcnow()
            else:
                await session.delete(row)
            payload = {"email_hmac": _email_digests(email)[0]}
            removal = Event(
                type=events.AGENT_REMOVED, workspace_id=workspace_id, payload=payload, timings={}
            )
            session.add(removal)
        return RemovedAgent(getattr(released, "rowcount", 0), kept)

    async def was_removed(self, workspace_id: str, email: str) -> bool:
        """Whether an agent with this email was removed from the workspace (:meth:`remove_agent`).

        Also true when the email has a new account since (``omnivox agents add``): ask
        :meth:`agent_by_email` first.
        """
        keyed, plain = set(_email_digests(email)), _plain_digest(email)
        query = select(Event.payload).where(
            Event.workspace_id == workspace_id, Event.type == events.AGENT_REMOVED
        )
        async with self.db.sessions() as session:
            payloads = (await session.execute(query)).scalars()
            return any(
                p.get("email_hmac") in keyed or p.get("email_sha256") == plain for p in payloads
            )

    async def agent_by_email(self, workspace_id: str, email: str) -> Agent | None:
        """The agent who logs in with this email in the workspace."""
        async with self.db.sessions() as session:
            return (
                await session.execute(
                    select(Agent).where(Agent.workspace_id == workspace_id, Agent.email == email)
                )
            ).scalar_one_or_none()

    async def agents(self, workspace_id: str) -> list[Agent]:
        """The workspace's agents, by name."""
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(Agent).where(Agent.workspace_id == workspace_id).order_by(Agent.name)
            )
            return list(rows.scalars())

    async def agent(self, agent_id: str) -> Agent | None:
        """An agent by id."""
        async with self.db.sessions() as session:
            return await session.get(Agent, agent_id)

    async def sign_out(self, agent_id: str) -> None:
        """End the agent's console sessions issued until now."""
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(Agent).where(Agent.id == agent_id).values(signed_out_at=utcnow())
            )


async def _named(session: AsyncSession, agent_id: str) -> bool:
    """Whether a handoff, note or rating names the agent."""
    for table in (Handoff, Note, Rating):
        query = select(table.agent_id).where(table.agent_id == agent_id).limit(1)
        if (await session.execute(query)).first() is not None:
            return True
    return False


def _due(row: Handoff, since: datetime) -> bool:
    """Resolved after ``since`` with the rating still requested."""
    closed = aware(row.closed_at) if row.closed_at else None
    return (
        row.status == "resolved"
        and closed is not None
        and closed >= since
        and row.packet.get("rating") == "requested"
    )


async def _locked(session: AsyncSession, handoff_id: str) -> Handoff | None:
    """The handoff, read afresh and locked until the transaction ends (its packet changes)."""
    return await session.get(Handoff, handoff_id, with_for_update=True, populate_existing=True)


async def _take(
    session: AsyncSession,
    workspace_id: str,
    handoff_id: str,
    agent_id: str,
    statuses: Sequence[str],
) -> bool:
    """Give the handoff to the agent if its status is one of ``statuses`` (one atomic update)."""
    result = await session.execute(
        update(Handoff)
        .where(
            Handoff.id == handoff_id,
            Handoff.workspace_id == workspace_id,
            Handoff.status.in_(statuses),
        )
        # the wait for an agent ends at the first claim: a reassignment keeps it
        .values(
            status="claimed",
            agent_id=agent_id,
            claimed_at=func.coalesce(Handoff.claimed_at, utcnow()),
        )
    )
    return getattr(result, "rowcount", 0) == 1


def _email_digests(email: str) -> list[str]:
    """What a removal record keeps of the agent's email (lower case), under each key it may.

    The first is written: keyed with the ring's primary. Then every other key of the ring (a
    rotation keeps them), and the fixed label that keys it while encryption is off.
    """
    ring = sorted(RING.keys.items(), key=lambda item: item[0] != RING.primary)
    keys = [hmac.new(key, REMOVAL_LABEL, hashlib.sha256).digest() for _, key in ring]
    value = email.strip().lower().encode()
    return [hmac.new(key, value, hashlib.sha256).hexdigest() for key in [*keys, REMOVAL_LABEL]]


def _plain_digest(email: str) -> str:
    """The unkeyed SHA-256 a removal record kept of the email until 2026-12-06."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


async def _agent_by_email(session: AsyncSession, workspace_id: str, email: str) -> Agent | None:
    """The workspace's agent with this email, if any (a removed agent's record is nobody's)."""
    query = select(Agent).where(Agent.workspace_id == workspace_id, Agent.email == email)
    query = query.where(Agent.email.not_like(f"{_REMOVED}%"))
    return (await session.execute(query)).scalar_one_or_none()
