"""The audit log: who did what to whose data, append-only and hash-chained.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own fields
(time, workspace, actor, action, subject, canonical JSON details), so changing, removing or
reordering any entry breaks every hash after it; ``omnivox audit verify`` recomputes the chain.
Entries: merges and unmerges, customer exports and erasures, key rotations, admin assignments,
agents opening a conversation, and the customers API reading a profile.

Appends are serialized across processes (the server, CLI commands, several servers on one
PostgreSQL): each takes the database's write lock before it reads the last hash, a
transaction-scoped advisory lock on PostgreSQL and the write lock on SQLite, so two appends never
chain to the same predecessor.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text

from omnivox.storage.db import AsyncSession, Database
from omnivox.storage.models import AuditEntry
from omnivox.types import utcnow

GENESIS = "0" * 64
ADVISORY_KEY = 0x6F6D6E69  # "omni": the PostgreSQL advisory lock of audit appends
# one append at a time per event loop (the database's own lock orders processes); an asyncio
# lock belongs to one loop, and a process may run several (a server's beside a CLI's)
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _loop_lock() -> asyncio.Lock:
    """The running loop's append lock."""
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


def entry_hash(
    prev: str, at: str, workspace: str | None, actor: str, action: str, subject: str, details: str
) -> str:
    """The chained hash of one entry."""
    text = "\n".join([prev, at, workspace or "", actor, action, subject, details])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of checking the chain."""

    entries: int
    broken_at: int | None  # id of the first entry whose hash does not match
    head: str = GENESIS  # the last entry's hash: record it elsewhere to detect a cut-off tail

    @property
    def ok(self) -> bool:
        """Whether the whole chain checks out."""
        return self.broken_at is None


async def _write_lock(session: AsyncSession, backend: str) -> None:
    """Hold the log's write lock until the transaction ends."""
    if backend == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_KEY})
    else:  # any write statement takes SQLite's write lock, even one that changes no row
        await session.execute(text("DELETE FROM audit_log WHERE id < 0"))


class AuditLog:
    """Append entries; verify the chain."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(
        self,
        workspace_id: str | None,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
    ) -> str:
        """Add an entry after the last one; returns its hash."""
        body = json.dumps(details or {}, sort_keys=True, separators=(",", ":"))
        async with _loop_lock(), self.db.sessions.begin() as session:
            await _write_lock(session, self.db.backend)
            last = (
                await session.execute(
                    select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
                )
            ).scalar_one_or_none()
            prev = last or GENESIS
            at = utcnow().isoformat()
            digest = entry_hash(prev, at, workspace_id, actor, action, subject, body)
            session.add(
                AuditEntry(
                    workspace_id=workspace_id,
                    at=at,
                    actor=actor[:200],
                    action=action,
                    subject=subject[:200],
                    details=body,
                    prev_hash=prev,
                    hash=digest,
                )
            )
        return digest

    async def verify(self) -> Verdict:
        """Recompute every hash in order; the first entry that does not match, if any."""
        prev, count = GENESIS, 0
        async with self.db.sessions() as session:
            rows = await session.stream_scalars(select(AuditEntry).order_by(AuditEntry.id))
            async for row in rows:
                count += 1
                expected = entry_hash(
                    prev, row.at, row.workspace_id, row.actor, row.action, row.subject, row.details
                )
                if row.prev_hash != prev or row.hash != expected:
                    return Verdict(count, row.id)
                prev = row.hash
        return Verdict(count, None, prev)
