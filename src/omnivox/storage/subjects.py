"""Data-subject requests: everything held about a customer, exported or erased.

A customer's data: the profile (and profiles merged into it), identities, conversations with
their messages, events, handoffs, notes and ratings, tickets, consent decisions and
verifications. Erasure deletes all of it in one transaction and appends a ``customer.erased``
event that names the subject only by a keyed hash; erasing again finds nothing and changes
nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import delete, select

from omnivox.events import CUSTOMER_MERGED as MERGED
from omnivox.events import CUSTOMER_UNMERGED as UNMERGED
from omnivox.storage.audit import AuditLog
from omnivox.storage.db import AsyncSession, Database
from omnivox.storage.models import (
    Consent,
    Conversation,
    Customer,
    Event,
    Handoff,
    Identity,
    Message,
    Note,
    Rating,
    Ticket,
    Verification,
)

ERASED = "customer.erased"


def subject_hash(key: bytes, customer_id: str) -> str:
    """The subject of an erasure as the audit trail may name it."""
    return hmac.new(key, f"subject:{customer_id}".encode(), hashlib.sha256).hexdigest()


class SubjectStore:
    """Export and erase one customer's data."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _profiles(
        self, session: AsyncSession, workspace_id: str, customer_id: str
    ) -> list[str]:
        """The customer and every profile merged into it, however many merges deep.

        A merged profile may itself have been merged into before (A into B, then B into C):
        erasing or exporting C covers A too.
        """
        ids, frontier = [customer_id], [customer_id]
        while frontier:
            rows = await session.execute(
                select(Customer.id).where(
                    Customer.workspace_id == workspace_id, Customer.merged_into.in_(frontier)
                )
            )
            frontier = [r[0] for r in rows if r[0] not in ids]
            ids += frontier
        return ids

    async def export(self, workspace_id: str, customer_id: str) -> dict[str, Any] | None:
        """Everything held about the customer, as JSON-ready data (None if unknown)."""
        async with self.db.sessions() as session:
            customer = await session.get(Customer, customer_id)
            if customer is None or customer.workspace_id != workspace_id:
                return None
            ids = await self._profiles(session, workspace_id, customer_id)
            convs = list(
                (
                    await session.execute(
                        select(Conversation).where(Conversation.customer_id.in_(ids))
                    )
                ).scalars()
            )
            conv_ids = [c.id for c in convs]
            messages = (
                await session.execute(
                    select(Message)
                    .where(Message.conversation_id.in_(conv_ids))
                    .order_by(Message.seq)
                )
            ).scalars()
            by_conv: dict[str, list[dict[str, Any]]] = {c: [] for c in conv_ids}
            for m in messages:
                by_conv[m.conversation_id].append(
                    {
                        "id": m.id,
                        "direction": m.direction,
                        "channel": m.channel,
                        "text": m.text,
                        "metadata": m.meta,
                        "created_at": m.created_at.isoformat(),
                    }
                )
            return {
                "customer": {
                    "id": customer.id,
                    "external_id": customer.external_id,
                    "name": customer.display_name,
                    "attributes": customer.attributes,
                    "merged_profiles": ids[1:],
                },
                "identities": [
                    {
                        "kind": i.channel,
                        "address": i.address,
                        "verified": i.verified,
                        "source": i.source,
                    }
                    for i in (
                        await session.execute(select(Identity).where(Identity.customer_id.in_(ids)))
                    ).scalars()
                ],
                "conversations": [
                    {
                        "id": c.id,
                        "status": c.status,
                        "summary": c.summary,
                        "messages": by_conv[c.id],
                    }
                    for c in convs
                ],
                "consents": [
                    {
                        "purpose": c.purpose,
                        "channel": c.channel,
                        "granted": c.granted,
                        "source": c.source,
                        "at": c.created_at.isoformat(),
                    }
                    for c in (
                        await session.execute(select(Consent).where(Consent.customer_id.in_(ids)))
                    ).scalars()
                ],
                "tickets": [
                    {"id": t.id, "subject": t.subject, "body": t.body, "status": t.status}
                    for t in (
                        await session.execute(select(Ticket).where(Ticket.customer_id.in_(ids)))
                    ).scalars()
                ],
                "handoffs": [
                    {"id": h.id, "status": h.status, "packet": h.packet}
                    for h in (
                        await session.execute(select(Handoff).where(Handoff.customer_id.in_(ids)))
                    ).scalars()
                ],
                "ratings": [
                    {"conversation_id": r.conversation_id, "channel": r.channel, "score": r.score}
                    for r in (
                        await session.execute(
                            select(Rating).where(Rating.conversation_id.in_(conv_ids))
                        )
                    ).scalars()
                ],
                "notes": await _notes(session, conv_ids),
                "verifications": await _verifications(session, ids),
            }

    async def erase(self, workspace_id: str, customer_id: str, key: bytes) -> dict[str, int]:
        """Delete every row about the customer; counts per table (all zero when repeated)."""
        counts: dict[str, int] = {}
        async with self.db.sessions.begin() as session:
            customer = await session.get(Customer, customer_id)
            if customer is None or customer.workspace_id != workspace_id:
                return counts
            ids = await self._profiles(session, workspace_id, customer_id)
            conv_ids = [
                r[0]
                for r in await session.execute(
                    select(Conversation.id).where(Conversation.customer_id.in_(ids))
                )
            ]
            steps: list[tuple[str, Any]] = [
                ("ratings", delete(Rating).where(Rating.conversation_id.in_(conv_ids))),
                ("notes", delete(Note).where(Note.conversation_id.in_(conv_ids))),
                ("handoffs", delete(Handoff).where(Handoff.customer_id.in_(ids))),
                ("events", delete(Event).where(Event.conversation_id.in_(conv_ids))),
                ("messages", delete(Message).where(Message.conversation_id.in_(conv_ids))),
                ("tickets", delete(Ticket).where(Ticket.customer_id.in_(ids))),
                ("conversations", delete(Conversation).where(Conversation.id.in_(conv_ids))),
                ("consents", delete(Consent).where(Consent.customer_id.in_(ids))),
                ("verifications", delete(Verification).where(Verification.customer_id.in_(ids))),
                ("identities", delete(Identity).where(Identity.customer_id.in_(ids))),
                ("customers", delete(Customer).where(Customer.id.in_(ids))),
            ]
            for name, statement in steps:
                result = await session.execute(statement)
                counts[name] = int(getattr(result, "rowcount", 0) or 0)
            counts["merge_events"] = await _erase_merge_events(session, workspace_id, ids)
            payload = {"subject": subject_hash(key, customer_id), "deleted": counts}
            session.add(Event(type=ERASED, workspace_id=workspace_id, payload=payload, timings={}))
        return counts

    async def export_logged(
        self, workspace_id: str, customer_id: str, actor: str
    ) -> dict[str, Any] | None:
        """:meth:`export`, with a ``customer.exported`` audit entry when there was a customer."""
        data = await self.export(workspace_id, customer_id)
        if data is not None:
            await AuditLog(self.db).append(workspace_id, actor, "customer.exported", customer_id)
        return data

    async def erase_logged(
        self, workspace_id: str, customer_id: str, key: bytes, actor: str
    ) -> dict[str, int]:
        """:meth:`erase`, with a ``customer.erased`` audit entry naming the keyed hash only."""
        counts = await self.erase(workspace_id, customer_id, key)
        if counts:
            subject = subject_hash(key, customer_id)
            await AuditLog(self.db).append(workspace_id, actor, "customer.erased", subject, counts)
        return counts


async def _erase_merge_events(session: AsyncSession, workspace_id: str, ids: list[str]) -> int:
    """Merge and unmerge events naming an erased profile (their evidence may quote them).

    They belong to no conversation, so the conversations' events do not cover them.
    """
    rows = await session.execute(
        select(Event.id, Event.payload).where(
            Event.workspace_id == workspace_id, Event.type.in_((MERGED, UNMERGED))
        )
    )
    doomed = [
        eid
        for eid, payload in rows.all()
        if {payload.get("source"), payload.get("target")} & set(ids)
    ]
    if doomed:
        await session.execute(delete(Event).where(Event.id.in_(doomed)))
    return len(doomed)


async def _notes(session: AsyncSession, conv_ids: list[str]) -> list[dict[str, Any]]:
    """Agents' notes on the customer's conversations (personal data about them too)."""
    rows = await session.execute(
        select(Note).where(Note.conversation_id.in_(conv_ids)).order_by(Note.id)
    )
    return [
        {"conversation_id": n.conversation_id, "text": n.text, "at": n.created_at.isoformat()}
        for n in rows.scalars()
    ]


async def _verifications(session: AsyncSession, ids: list[str]) -> list[dict[str, Any]]:
    """The addresses the customer claimed and how each claim ended (never the code)."""
    rows = await session.execute(
        select(Verification)
        .where(Verification.customer_id.in_(ids))
        .order_by(Verification.created_at)
    )
    return [
        {"kind": v.kind, "address": v.address, "status": v.status, "at": v.created_at.isoformat()}
        for v in rows.scalars()
    ]
