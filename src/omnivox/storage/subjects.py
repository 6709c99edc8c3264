"""Data-subject requests: everything held about a customer, exported or erased.

A customer's data: the profile (and profiles merged into it), identities, conversations with
their messages, events, handoffs, notes and ratings, tickets, consent decisions and
verifications. Erasure deletes all of it in one transaction and appends a ``customer.erased``
event that names the subject only by keyed hashes (of each erased id and external id); erasing
again finds nothing, changes nothing, and is told apart from an id never held.

The hashes are keyed with a key derived from the key ring (:func:`subject_keys`), which must be
kept and backed up with the database anyway, so a new ``server.secret_key`` does not bring an
erased seeded customer back. Until 2026-12-05 they were keyed with the server's signing key:
those are still recognized under it, and a seeded id found that way gains its ring-keyed hash.

A request may name the customer by id or by external id, and may name a profile merged into
another: the merge said they are one person, so the request covers the whole profile it lives
in (and every profile merged into that).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select

from omnivox import events
from omnivox.events import CUSTOMER_MERGED as MERGED
from omnivox.events import CUSTOMER_UNMERGED as UNMERGED
from omnivox.privacy.crypto import RING
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
from omnivox.storage.repositories import identity_owner_statement

ERASED = "customer.erased"
# events outside any conversation that name a customer in their payload
_SUBJECT_EVENTS = (MERGED, UNMERGED, events.IDENTITY_CODE_SENT, events.IDENTITY_VERIFIED)


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure did: rows deleted per table (empty: nothing was held)."""

    counts: dict[str, int] = field(default_factory=dict)
    customer_ids: tuple[str, ...] = ()  # the profiles erased
    before: bool = False  # nothing held now, but this id was erased earlier


SUBJECT_LABEL = b"omnivox:erasure-subject:v1"


def subject_hash(key: bytes, customer_id: str) -> str:
    """The subject of an erasure as the audit trail may name it."""
    return hmac.new(key, f"subject:{customer_id}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SubjectKeys:
    """The keys erasure subjects are hashed with: ``read[0]`` writes, each of ``read`` finds."""

    read: tuple[bytes, ...]
    durable: bool  # read[0] comes from the key ring, not from the server's signing key

    @property
    def write(self) -> bytes:
        """The key a new erasure's hashes are made with."""
        return self.read[0]

    def hashes(self, name: str) -> list[str]:
        """``name``'s hash under every key, the written one first."""
        return [subject_hash(key, name) for key in self.read]


def subject_keys(legacy: bytes | Sequence[bytes]) -> SubjectKeys:
    """Keys derived from the installed key ring (primary first), then the ``legacy`` ones.

    Every key of the ring counts (rotation keeps the old keys, to read), like blind indexes.
    ``legacy``: the server's signing key(s), which keyed erasures until 2026-12-05 and still do
    while encryption is off (no ring is installed then).
    """
    olds = [legacy] if isinstance(legacy, bytes) else list(legacy)
    ring = sorted(RING.keys.items(), key=lambda item: item[0] != RING.primary)
    derived = [hmac.new(key, SUBJECT_LABEL, hashlib.sha256).digest() for _, key in ring]
    read = tuple(dict.fromkeys([*derived, *olds]))
    assert read, "no key for erasure subjects"
    return SubjectKeys(read, durable=RING.primary is not None)


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

    async def _subject(
        self, session: AsyncSession, workspace_id: str, customer_id: str
    ) -> Customer | None:
        """The profile a request means: by id, external id or REST customer id, then merges."""
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.workspace_id != workspace_id:
            # the business's own id: a seeded external id, or the REST channel's customer.id
            query, params = identity_owner_statement(
                workspace_id, "api", customer_id, business_id=True
            )
            found = (await session.execute(query, params)).scalar()
            customer = await session.get(Customer, found) if found else None
        seen: set[str] = set()
        while customer is not None and customer.merged_into and customer.id not in seen:
            seen.add(customer.id)
            customer = await session.get(Customer, customer.merged_into)
        return customer

    async def export(self, workspace_id: str, customer_id: str) -> dict[str, Any] | None:
        """Everything held about the customer, as JSON-ready data (None if unknown)."""
        async with self.db.sessions() as session:
            customer = await self._subject(session, workspace_id, customer_id)
            if customer is None:
                return None
            ids = await self._profiles(session, workspace_id, customer.id)
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
                    "merged_profiles": await _merged_profiles(session, ids[1:]),
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
                        await session.execute(select(Ticket).where(_theirs(Ticket, ids, conv_ids)))
                    ).scalars()
                ],
                "handoffs": [
                    {"id": h.id, "status": h.status, "packet": h.packet}
                    for h in (
                        await session.execute(
                            select(Handoff).where(_theirs(Handoff, ids, conv_ids))
                        )
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
                "events": await _events(session, workspace_id, ids, conv_ids),
            }

    async def erase(
        self, workspace_id: str, customer_id: str, key: bytes | Sequence[bytes]
    ) -> Erasure:
        """Delete every row about the customer; counts per table (none when repeated).

        ``key``: the server's signing key, for erasures recorded under it (:func:`subject_keys`).
        """
        keys = subject_keys(key)
        async with self.db.sessions.begin() as session:
            customer = await self._subject(session, workspace_id, customer_id)
            if customer is None:
                gone = await _erased_names(session, workspace_id, keys, [customer_id])
                return Erasure(before=bool(gone))
            ids = await self._profiles(session, workspace_id, customer.id)
            subjects = await _subject_hashes(session, keys.write, ids, customer_id)
            conv_ids = [
                r[0]
                for r in await session.execute(
                    select(Conversation.id).where(Conversation.customer_id.in_(ids))
                )
            ]
            counts: dict[str, int] = {}
            for name, statement in _erasing(ids, conv_ids):
                result = await session.execute(statement)
                counts[name] = int(getattr(result, "rowcount", 0) or 0)
            counts["profile_events"] = await _erase_subject_events(session, workspace_id, ids)
            payload = {
                "subject": subject_hash(keys.write, customer_id),
                "subjects": subjects,
                "deleted": counts,
            }
            session.add(Event(type=ERASED, workspace_id=workspace_id, payload=payload, timings={}))
        return Erasure(counts, tuple(ids))

    async def erased(
        self, workspace_id: str, key: bytes | Sequence[bytes], names: list[str]
    ) -> set[str]:
        """Which of ``names`` (ids, external ids) an erasure in the workspace covered.

        ``key``: the server's signing key(s) (:func:`subject_keys`). A name found only under
        one of them gains its hash under the ring's key in that erasure's record, so it stays
        erased when the signing key changes (the migration of records made before 2026-12-05).
        """
        async with self.db.sessions.begin() as session:
            return await _erased_names(session, workspace_id, subject_keys(key), names)

    async def export_logged(
        self, workspace_id: str, customer_id: str, actor: str
    ) -> dict[str, Any] | None:
        """:meth:`export`, with a ``customer.exported`` audit entry when there was a customer.

        The entry names the profile by its own id (``cus_…``, random, like every other entry
        about a customer), never by the name asked: that may be the business's customer id or
        an address, and the log outlives an erasure (until 2026-12-05 it kept it in clear).
        """
        data = await self.export(workspace_id, customer_id)
        if data is not None:
            profile = str(data["customer"]["id"])
            await AuditLog(self.db).append(workspace_id, actor, "customer.exported", profile)
        return data

    async def erase_logged(
        self, workspace_id: str, customer_id: str, key: bytes | Sequence[bytes], actor: str
    ) -> Erasure:
        """:meth:`erase`, with a ``customer.erased`` audit entry naming the keyed hash only."""
        erasure = await self.erase(workspace_id, customer_id, key)
        if erasure.counts:
            subject = subject_hash(subject_keys(key).write, customer_id)
            await AuditLog(self.db).append(
                workspace_id, actor, "customer.erased", subject, erasure.counts
            )
        return erasure


def _theirs(model: type[Ticket] | type[Handoff], ids: list[str], conv_ids: list[str]) -> Any:
    """A ticket's or handoff's rows about the customer: theirs, or on their conversations.

    One opened while the conversation was merged into another profile names that profile.
    """
    return or_(model.customer_id.in_(ids), model.conversation_id.in_(conv_ids))


def _erasing(ids: list[str], conv_ids: list[str]) -> list[tuple[str, Any]]:
    """The deletes of an erasure, children before parents."""
    return [
        ("ratings", delete(Rating).where(Rating.conversation_id.in_(conv_ids))),
        ("notes", delete(Note).where(Note.conversation_id.in_(conv_ids))),
        ("handoffs", delete(Handoff).where(_theirs(Handoff, ids, conv_ids))),
        ("events", delete(Event).where(Event.conversation_id.in_(conv_ids))),
        ("messages", delete(Message).where(Message.conversation_id.in_(conv_ids))),
        ("tickets", delete(Ticket).where(_theirs(Ticket, ids, conv_ids))),
        ("conversations", delete(Conversation).where(Conversation.id.in_(conv_ids))),
        ("consents", delete(Consent).where(Consent.customer_id.in_(ids))),
        ("verifications", delete(Verification).where(Verification.customer_id.in_(ids))),
        ("identities", delete(Identity).where(Identity.customer_id.in_(ids))),
        ("customers", delete(Customer).where(Customer.id.in_(ids))),
    ]


async def _subject_hashes(
    session: AsyncSession, key: bytes, ids: list[str], asked: str
) -> list[str]:
    """Keyed hashes of every name the erased profiles had: ids, external ids, the one asked."""
    rows = await session.execute(select(Customer.external_id).where(Customer.id.in_(ids)))
    names = {asked, *ids, *(r[0] for r in rows if r[0])}
    return sorted(subject_hash(key, name) for name in names)


async def _erased_names(
    session: AsyncSession, workspace_id: str, keys: SubjectKeys, names: list[str]
) -> set[str]:
    """Which of ``names`` an erasure in the workspace covered, under any of ``keys``.

    A name found only under a signing key gains its ring-keyed hash in that erasure's record.
    """
    records = list(
        (
            await session.execute(
                select(Event).where(Event.workspace_id == workspace_id, Event.type == ERASED)
            )
        ).scalars()
    )
    held = [(r, set(r.payload.get("subjects") or [r.payload.get("subject")])) for r in records]
    gone: set[str] = set()
    for name in names:
        hashes = keys.hashes(name)
        found = [(record, have) for record, have in held if have.intersection(hashes)]
        if not found:
            continue
        gone.add(name)
        if keys.durable and not any(hashes[0] in have for _, have in found):
            record, have = found[0]
            have.add(hashes[0])
            record.payload = {**record.payload, "subjects": sorted(have)}
    return gone


async def _merged_profiles(session: AsyncSession, ids: list[str]) -> list[dict[str, Any]]:
    """What each profile merged into this one still holds of its own."""
    rows = await session.execute(select(Customer).where(Customer.id.in_(ids)))
    return [
        {
            "id": c.id,
            "external_id": c.external_id,
            "name": c.display_name,
            "attributes": c.attributes,
        }
        for c in rows.scalars()
    ]


async def _subject_events(session: AsyncSession, workspace_id: str, ids: list[str]) -> list[Event]:
    """Merge, unmerge and verification events naming one of the profiles ``ids``.

    They belong to no conversation, so the conversations' events do not cover them (a merge's
    evidence may quote the customer; a verification names them).
    """
    rows = await session.execute(
        select(Event).where(Event.workspace_id == workspace_id, Event.type.in_(_SUBJECT_EVENTS))
    )
    named = ("source", "target", "customer", "merged_from")
    return [e for e in rows.scalars() if {e.payload.get(k) for k in named} & set(ids)]


async def _erase_subject_events(session: AsyncSession, workspace_id: str, ids: list[str]) -> int:
    """Delete the events of :func:`_subject_events`; how many."""
    doomed = [e.id for e in await _subject_events(session, workspace_id, ids)]
    if doomed:
        await session.execute(delete(Event).where(Event.id.in_(doomed)))
    return len(doomed)


async def _events(
    session: AsyncSession, workspace_id: str, ids: list[str], conv_ids: list[str]
) -> list[dict[str, Any]]:
    """The events an erasure deletes, oldest first.

    Their conversations' (each turn's intent, sentiment, decisions) and those naming their
    profiles (merges with their reasons, verifications).
    """
    rows = await session.execute(select(Event).where(Event.conversation_id.in_(conv_ids)))
    found = {e.id: e for e in rows.scalars()}
    found.update((e.id, e) for e in await _subject_events(session, workspace_id, ids))
    return [
        {
            "type": e.type,
            "conversation_id": e.conversation_id,
            "turn_id": e.turn_id,
            "payload": e.payload,
            "at": e.created_at.isoformat(),
        }
        for _, e in sorted(found.items())
    ]


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
