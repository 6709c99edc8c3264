"""Identities, verifications, merges and unmerges: the SQL behind one customer across channels.

A merge folds a *source* profile into a *target*: the source's identities, conversations,
tickets, consents and verifications move to the target, the source keeps its row with
``merged_into`` set, and one ``customer.merged`` event (written in the same transaction) lists
exactly what moved and the evidence. An unmerge moves those rows back and clears
``merged_into``; identities linked to the target after the merge stay where they are. What
both wrote while merged is first sorted by writer (:mod:`omnivox.storage.unmerging`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import case, delete, select, text, update

from omnivox import events
from omnivox.locks import KeyedLock, customer_key
from omnivox.storage.audit import AuditLog
from omnivox.storage.db import AsyncSession, Database, advisory_key
from omnivox.storage.models import (
    Consent,
    Conversation,
    Customer,
    Event,
    Handoff,
    Identity,
    Ticket,
    Verification,
    Workspace,
)
from omnivox.storage.unmerging import MergeMark, Split, last_seq
from omnivox.types import utcnow

MERGED = events.CUSTOMER_MERGED
UNMERGED = events.CUSTOMER_UNMERGED
_MOVED = (("identities", Identity), ("conversations", Conversation), ("tickets", Ticket))


def _audited(evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence as the audit log keeps it: who and how, never the free-text reason.

    A reason may quote the customer ("same person, phone +1555... per call"), and the
    append-only log outlives an erasure; the merge event holds the reason and goes with it.
    """
    kept = {k: v for k, v in evidence.items() if k != "reason"}
    if evidence.get("reason"):
        kept["reason"] = "in the merge event (erased with the customer)"
    return kept


class MergeError(Exception):
    """A merge or unmerge that cannot be done; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class Owner:
    """Who holds an identifier, and whether it is proven."""

    customer_id: str
    verified: bool


NEWCOMER_AGE = timedelta(days=1)  # a customer first seen since asks from the newcomers' share


@dataclass(frozen=True, slots=True)
class CodeLimits:
    """Codes allowed: an hour per customer, address and workspace; a day per address.

    ``per_newcomers`` is the part of ``per_workspace`` that customers first seen less than
    ``NEWCOMER_AGE`` ago may use between them: the rest is kept for customers seen before.
    """

    per_customer: int
    per_address: int
    per_workspace: int
    per_address_per_day: int
    per_newcomers: int


@dataclass(frozen=True, slots=True)
class Profile:
    """A customer as the API shows it."""

    id: str
    workspace_id: str
    external_id: str | None
    name: str | None
    attributes: dict[str, Any]
    merged_into: str | None
    identities: list[dict[str, Any]]
    conversations: list[dict[str, Any]]
    consents: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "workspace": self.workspace_id,
            "external_id": self.external_id,
            "name": self.name,
            "attributes": self.attributes,
            "merged_into": self.merged_into,
            "identities": self.identities,
            "conversations": self.conversations,
            "consents": self.consents,
        }


class IdentityStore:
    """Async repository for the identity tables."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.audit = AuditLog(db)

    async def owner(self, workspace_id: str, kind: str, address: str) -> Owner | None:
        """The customer holding ``(kind, address)`` in the workspace, if any."""
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    select(Identity.customer_id, Identity.verified).where(
                        Identity.workspace_id == workspace_id,
                        Identity.matches(kind, address),
                    )
                )
            ).first()
        return Owner(row[0], bool(row[1])) if row else None

    async def verified_kinds(self, workspace_id: str, customer_id: str) -> set[str]:
        """The kinds of identifier the customer has proven."""
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(Identity.channel).where(
                    Identity.workspace_id == workspace_id,
                    Identity.customer_id == customer_id,
                    Identity.verified.is_(True),
                )
            )
            return {r[0] for r in rows}

    async def by_external_id(self, workspace_id: str, external_id: str) -> str | None:
        """The customer the business knows by ``external_id``."""
        async with self.db.sessions() as session:
            return (
                await session.execute(
                    select(Customer.id).where(
                        Customer.workspace_id == workspace_id, Customer.external_id == external_id
                    )
                )
            ).scalar_one_or_none()

    async def customer(self, workspace_id: str, customer_id: str) -> Customer | None:
        """The customer row (None when absent or in another workspace)."""
        async with self.db.sessions() as session:
            row = await session.get(Customer, customer_id)
        return row if row is not None and row.workspace_id == workspace_id else None

    # -- verifications ---------------------------------------------------------------------

    async def add_verification(self, verification: Verification, limits: CodeLimits) -> str | None:
        """Store a new code in place of the customer's pending ones, unless a limit is reached.

        None when stored; else the limit that refused it (nothing stored): ``customer``,
        ``address`` (every customer's codes to the claimed address), ``workspace``, each
        counting the codes of the hour before the code's ``created_at``, ``newcomers`` (a
        customer first seen less than ``NEWCOMER_AGE`` before it, when such customers' codes of
        the hour reach ``limits.per_newcomers``), or ``address_day`` (the address's codes of the
        day before it). Counted and stored in one transaction that first locks the workspace's
        row (PostgreSQL, ``FOR NO KEY UPDATE``, which other writes' foreign-key checks do not
        wait for; SQLite runs one writing transaction at a time), so concurrent requests cannot
        all pass the counts before any is stored. The address is encrypted, so the workspace's
        codes of the window (at most ``limits.per_workspace`` an hour) are read and compared
        here.
        """
        async with self.db.sessions.begin() as session:
            await session.execute(
                select(Workspace.id)
                .where(Workspace.id == verification.workspace_id)
                .with_for_update(key_share=True)
            )
            over = await _code_limit_reached(session, verification, limits)
            if over is not None:
                return over
            await session.execute(
                update(Verification)
                .where(
                    Verification.customer_id == verification.customer_id,
                    Verification.status == "pending",
                )
                .values(status="replaced")
            )
            session.add(verification)
        return None

    async def forget_verification(self, verification_id: str) -> None:
        """Delete a code that could not be sent (it does not count against the hourly limit)."""
        async with self.db.sessions.begin() as session:
            await session.execute(delete(Verification).where(Verification.id == verification_id))

    async def take_attempt(self, verification_id: str, limit: int) -> int | None:
        """Count one try at a pending code; the tries so far, or None when none is left.

        One conditional UPDATE, so concurrent guesses each take their own try and no more
        than ``limit`` codes are ever compared.
        """
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Verification)
                .where(
                    Verification.id == verification_id,
                    Verification.status == "pending",
                    Verification.attempts < limit,
                )
                .values(attempts=Verification.attempts + 1)
                .returning(Verification.attempts)
            )
            return result.scalar_one_or_none()

    async def settle_verification(self, verification_id: str, status: str) -> bool:
        """Move a pending code to ``status`` (verified, locked); False if it no longer pends."""
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Verification)
                .where(Verification.id == verification_id, Verification.status == "pending")
                .values(status=status)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def current_verification(
        self, workspace_id: str, customer_id: str
    ) -> Verification | None:
        """The code a customer's typed code is checked against, across merges.

        The newest pending code of the profile ``customer_id`` lives in or of any profile
        merged into it (a code asked for before a merge is still theirs); without one, the
        newest code of any status (it says why nothing is waiting: used, locked...).
        """
        group = await self.merged_group(workspace_id, customer_id)
        async with self.db.sessions() as session:
            return (
                await session.execute(
                    select(Verification)
                    .where(
                        Verification.workspace_id == workspace_id,
                        Verification.customer_id.in_(group),
                    )
                    .order_by(
                        case((Verification.status == "pending", 0), else_=1),
                        Verification.created_at.desc(),
                    )
                    .limit(1)
                )
            ).scalar_one_or_none()

    async def merged_group(self, workspace_id: str, customer_id: str) -> list[str]:
        """The profile ``customer_id`` lives in, first, and every id merged into it since."""
        root = await self.resolve_merged(workspace_id, customer_id)
        group, frontier = [root], [root]
        async with self.db.sessions() as session:
            while frontier:
                rows = await session.execute(
                    select(Customer.id).where(
                        Customer.workspace_id == workspace_id, Customer.merged_into.in_(frontier)
                    )
                )
                frontier = [r[0] for r in rows if r[0] not in group]
                group.extend(frontier)
        return group

    async def verification(self, verification_id: str) -> Verification | None:
        """One verification by id."""
        async with self.db.sessions() as session:
            return await session.get(Verification, verification_id)

    # -- linking and merging ---------------------------------------------------------------

    async def link(
        self, workspace_id: str, customer_id: str, kind: str, address: str, source: str
    ) -> None:
        """Attach a proven identifier to the customer (or mark theirs proven)."""
        async with self.db.sessions.begin() as session:
            row = (
                await session.execute(
                    select(Identity).where(
                        Identity.workspace_id == workspace_id,
                        Identity.matches(kind, address),
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                row = Identity(
                    workspace_id=workspace_id,
                    customer_id=customer_id,
                    channel=kind,
                    address=address,
                )
                session.add(row)
            row.customer_id, row.verified, row.source = customer_id, True, source
            row.verified_at = utcnow()

    async def merge(
        self, workspace_id: str, source_id: str, target_id: str, evidence: dict[str, Any]
    ) -> dict[str, Any]:
        """Fold ``source`` into ``target``; returns the ``customer.merged`` event payload."""
        if source_id == target_id:
            raise MergeError(400, "same_customer", "a customer cannot be merged with itself")
        async with self.db.sessions.begin() as session:
            source, target = await _pair(session, workspace_id, source_id, target_id)
            moved: dict[str, list[Any]] = {}
            for name, model in _MOVED:
                ids = await _ids_of(session, model, source_id)
                moved[name] = ids
                if ids:
                    await session.execute(
                        update(model).where(model.id.in_(ids)).values(customer_id=target_id)
                    )
            consent_ids = await _ids_of(session, Consent, source_id)
            if consent_ids:
                await session.execute(
                    update(Consent).where(Consent.id.in_(consent_ids)).values(customer_id=target_id)
                )
            moved["consents"] = consent_ids
            filled = {k: v for k, v in source.attributes.items() if k not in target.attributes}
            target.attributes = {**target.attributes, **filled}
            named = not target.display_name and bool(source.display_name)
            target.display_name = target.display_name or source.display_name
            source.merged_into = target_id
            # what the target got from the source (keys only): an unmerge takes it back
            lent = {"attributes": sorted(filled), "display_name": named}
            payload = {
                "source": source_id,
                "target": target_id,
                "evidence": evidence,
                "filled": lent,
                **moved,
            }
            # the last message before the merge: an unmerge sorts out what both wrote after it
            marked = {**payload, "last_seq": await last_seq(session)}
            session.add(Event(type=MERGED, workspace_id=workspace_id, payload=marked))
        actor = str(evidence.get("by") or evidence.get("method", "api"))
        await self.audit.append(
            workspace_id, actor, MERGED, f"{source_id}->{target_id}", _audited(evidence)
        )
        return payload

    async def unmerge(
        self, workspace_id: str, source_id: str, evidence: dict[str, Any]
    ) -> dict[str, Any]:
        """Undo the last merge of ``source``; returns the ``customer.unmerged`` payload."""
        async with self.db.sessions.begin() as session:
            # the target may have been merged on since (A into B, then B into C): the rows
            # moved from A are wherever B's now are
            source, holders = await _locked_chain(session, workspace_id, source_id)
            if self.db.backend == "postgresql":  # no message lands in them while they split
                for cid in sorted({source_id, *holders}):
                    key = {"k": advisory_key(f"omnivox:customer:{cid}")}
                    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), key)
            event = await _last_merge(session, workspace_id, source_id)
            merge = event.payload if event is not None else None
            target_id = holders[0]
            split = None
            if event is not None:  # what both wrote while merged is sorted by writer first
                mark = MergeMark(event.created_at, event.payload.get("last_seq"))
                listed = set(event.payload.get("conversations") or [])
                writers = list(event.payload.get("identities") or [])
                split = Split(workspace_id, source, holders, listed, mark, writers)
                await split.run(session)
            for name, model in (*_MOVED, ("consents", Consent)):
                ids = (merge or {}).get(name) or []
                if ids:
                    await session.execute(
                        update(model)
                        .where(model.id.in_(ids), model.customer_id.in_(holders))
                        .values(customer_id=source_id)
                    )
            # tickets and handoffs opened on those conversations while merged named the target
            conversations = (merge or {}).get("conversations") or []
            for opened in (Ticket, Handoff):
                await session.execute(
                    update(opened)
                    .where(
                        opened.conversation_id.in_(conversations),
                        opened.customer_id.in_(holders),
                    )
                    .values(customer_id=source_id)
                )
            await _take_back(session, source, target_id, (merge or {}).get("filled") or {})
            source.merged_into = None
            if split is not None:
                await split.settle(session, _identity)
            payload = {
                "source": source_id,
                "target": target_id,
                "evidence": evidence,
                "split": split.moved if split is not None else [],
            }
            session.add(Event(type=UNMERGED, workspace_id=workspace_id, payload=payload))
        actor = str(evidence.get("by") or evidence.get("method", "api"))
        await self.audit.append(
            workspace_id, actor, UNMERGED, f"{source_id}->{target_id}", _audited(evidence)
        )
        return payload

    @asynccontextmanager
    async def turns_held(
        self, locks: KeyedLock, workspace_id: str, customer_id: str
    ) -> AsyncIterator[None]:
        """Hold the turn lock of ``customer_id`` and of every profile it is merged into.

        For an unmerge: the turns of those customers in progress end first (their messages
        are then sorted with the rest), and one that starts meanwhile waits in identify, then
        finds its sender's owner again. Locks are taken in id order; a profile that joined the
        chain while we waited is locked too.
        """
        wanted = set(await self._chain(customer_id))
        while True:
            async with AsyncExitStack() as stack:
                for cid in sorted(wanted):
                    await stack.enter_async_context(locks.hold(customer_key(workspace_id, cid)))
                now = set(await self._chain(customer_id))
                if now <= wanted:
                    yield
                    return
            wanted |= now

    async def _chain(self, customer_id: str) -> list[str]:
        """``customer_id`` and every profile it was merged into since, in order."""
        async with self.db.sessions() as session:
            return await _merge_chain(session, customer_id)

    async def resolve_merged(self, workspace_id: str, customer_id: str) -> str:
        """The profile a customer id now lives in (following ``merged_into``)."""
        seen: set[str] = set()
        async with self.db.sessions() as session:
            while customer_id not in seen:
                seen.add(customer_id)
                row = await session.get(Customer, customer_id)
                if row is None or row.merged_into is None:
                    break
                customer_id = row.merged_into
        return customer_id

    async def profile(self, workspace_id: str, customer_id: str) -> Profile | None:
        """The customer with identifiers, conversations and current consents."""
        async with self.db.sessions() as session:
            row = await session.get(Customer, customer_id)
            if row is None or row.workspace_id != workspace_id:
                return None
            identities = (
                await session.execute(select(Identity).where(Identity.customer_id == customer_id))
            ).scalars()
            conversations = (
                await session.execute(
                    select(Conversation)
                    .where(Conversation.customer_id == customer_id)
                    .order_by(Conversation.updated_at.desc())
                )
            ).scalars()
            consents = (
                await session.execute(
                    select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.id)
                )
            ).scalars()
            return Profile(
                row.id,
                row.workspace_id,
                row.external_id,
                row.display_name,
                dict(row.attributes),
                row.merged_into,
                [_identity(i) for i in identities],
                [_conversation(c) for c in conversations],
                [_consent(c) for c in consents],
            )


async def _take_back(
    session: AsyncSession, source: Customer, target_id: str, filled: dict[str, Any]
) -> None:
    """Remove from the target what the merge filled in from the source, where unchanged since.

    Otherwise the kept profile goes on with the other person's email, tier, orders and name
    (and its next prompt greets them by it).
    """
    target = await session.get(Customer, target_id)
    if target is None:
        return
    keys = [
        k
        for k in filled.get("attributes", [])
        if target.attributes.get(k) == source.attributes.get(k)
    ]
    if keys:
        target.attributes = {k: v for k, v in target.attributes.items() if k not in keys}
    if filled.get("display_name") and target.display_name == source.display_name:
        target.display_name = None


async def _pair(
    session: AsyncSession, workspace_id: str, source_id: str, target_id: str
) -> tuple[Customer, Customer]:
    """Both customers, their rows locked in id order (PostgreSQL), checked after the lock.

    Two merges in opposite directions at once would otherwise both pass the check and leave
    each profile merged into the other.
    """
    first, second = sorted((source_id, target_id))
    locked = {
        cid: await session.get(Customer, cid, with_for_update=True, populate_existing=True)
        for cid in (first, second)
    }
    source, target = locked[source_id], locked[target_id]
    for cid, row in ((source_id, source), (target_id, target)):
        if row is None or row.workspace_id != workspace_id:
            raise MergeError(404, "not_found", f"no customer {cid!r}")
        if row.merged_into is not None:
            raise MergeError(
                409, "already_merged", f"{cid} is already merged into {row.merged_into}"
            )
    assert source is not None and target is not None
    return source, target


async def _locked_chain(
    session: AsyncSession, workspace_id: str, source_id: str
) -> tuple[Customer, list[str]]:
    """The source and the profiles now holding its rows, all locked (PostgreSQL), checked after.

    The rows are locked in id order, like :func:`_pair` does for a merge, so an unmerge waits
    for a merge of any holder (A into B unmerged while B is merged into C) and for another
    unmerge of the same source, and sees what they did: the second of two unmerges at once is
    refused (409 ``not_merged``), and one that follows a merge of the holder takes the rows
    back from the new holder. A holder that joined the chain while we waited is locked too.
    """
    source = await session.get(Customer, source_id)
    if source is None or source.workspace_id != workspace_id:
        raise MergeError(404, "not_found", f"no customer {source_id!r}")
    wanted = {source_id, *(await _merge_chain(session, source.merged_into or source_id))}
    locked: set[str] = set()
    while wanted - locked:
        for cid in sorted(wanted - locked):
            await session.get(Customer, cid, with_for_update=True, populate_existing=True)
            locked.add(cid)
        if source.merged_into is None:
            raise MergeError(409, "not_merged", f"{source_id} is not merged into anyone")
        holders = await _merge_chain(session, source.merged_into)
        wanted |= set(holders)
    return source, holders


async def _ids_of(session: AsyncSession, model: Any, customer_id: str) -> list[Any]:
    rows = await session.execute(select(model.id).where(model.customer_id == customer_id))
    return [r[0] for r in rows]


async def _last_merge(session: AsyncSession, workspace_id: str, source_id: str) -> Event | None:
    rows = await session.execute(
        select(Event)
        .where(Event.workspace_id == workspace_id, Event.type == MERGED)
        .order_by(Event.id.desc())
    )
    return next((e for e in rows.scalars() if e.payload.get("source") == source_id), None)


def _identity(row: Identity) -> dict[str, Any]:
    return {
        "kind": row.channel,
        "address": row.address,
        "verified": row.verified,
        "source": row.source,
        "verified_at": row.verified_at.isoformat() if row.verified_at else None,
    }


def _conversation(row: Conversation) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "last_channel": row.last_channel,
        "updated_at": row.updated_at.isoformat(),
    }


def _consent(row: Consent) -> dict[str, Any]:
    return {
        "purpose": row.purpose,
        "channel": row.channel,
        "granted": row.granted,
        "source": row.source,
        "at": row.created_at.isoformat(),
    }


async def _merge_chain(session: AsyncSession, customer_id: str) -> list[str]:
    """``customer_id`` and every profile it was merged into since, in order."""
    chain = [customer_id]
    while True:
        row = await session.get(Customer, chain[-1])
        if row is None or row.merged_into is None or row.merged_into in chain:
            return chain
        chain.append(row.merged_into)


async def _code_limit_reached(
    session: AsyncSession, verification: Verification, limits: CodeLimits
) -> str | None:
    """The limit a new code would pass (see ``add_verification``), else None."""
    now, claimed = verification.created_at, (verification.kind, verification.address)
    first_seen = now - NEWCOMER_AGE
    recent = (
        await session.execute(
            select(
                Verification.customer_id,
                Verification.kind,
                Verification.address,
                Customer.created_at > first_seen,
            )
            .outerjoin(Customer, Customer.id == Verification.customer_id)
            .where(
                Verification.workspace_id == verification.workspace_id,
                Verification.created_at >= now - timedelta(hours=1),
            )
            .limit(limits.per_workspace + 1)  # enough to know it is reached
        )
    ).all()
    if sum(1 for r in recent if r[0] == verification.customer_id) >= limits.per_customer:
        return "customer"
    if sum(1 for r in recent if (r[1], r[2]) == claimed) >= limits.per_address:
        return "address"
    if len(recent) >= limits.per_workspace:
        return "workspace"
    if sum(1 for r in recent if r[3]) >= limits.per_newcomers:
        newcomer = await session.execute(
            select(Customer.id).where(
                Customer.id == verification.customer_id, Customer.created_at > first_seen
            )
        )
        if newcomer.first() is not None:
            return "newcomers"
    # read only once the hour's limits passed: at most a day of the workspace's codes of a kind
    today = await session.execute(
        select(Verification.address).where(
            Verification.workspace_id == verification.workspace_id,
            Verification.kind == verification.kind,
            Verification.created_at >= now - timedelta(days=1),
        )
    )
    if sum(1 for a in today.scalars() if a == verification.address) >= limits.per_address_per_day:
        return "address_day"
    return None
