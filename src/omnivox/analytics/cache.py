"""Drift reports (knowledge gaps and topics included) reused while nothing they read changed.

:func:`omnivox.analytics.drift.drift` reads two windows of turn events and embeds and clusters
the gaps' questions (~1-2 s on 2 cores); the dashboard and ``GET /api/v1/analytics/drift``
asked for it again on every load. A report is reused while

- the workspace's latest event of each kind it depends on is the same one: a turn completed,
  a customer erased, merged or unmerged. An erasure deletes the customer's messages and events
  and records ``customer.erased`` in the same transaction, so a report quoting their questions
  is never served again, whichever server or ``omnivox customers erase`` did it. Each kind is
  stamped apart: SQLite gives a new row the id of a deleted latest one, so the erasure's record
  can take the id of the erased customer's turn, the latest one the report had seen;
- and it is younger than ``TTL_S`` (its windows end when it was computed).

The REST erasure and the retention purge (which only deletes) also drop the workspace's reports
at once (:meth:`DriftCache.forget`): their questions are not kept in memory either. Each server
process has its own cache.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from omnivox import events
from omnivox.analytics.drift import Drift
from omnivox.storage.db import Database
from omnivox.storage.models import Event
from omnivox.storage.subjects import ERASED

TTL_S = 60.0
# the events whose arrival makes a workspace's reports stale
STAMPED = (events.TURN_COMPLETED, ERASED, events.CUSTOMER_MERGED, events.CUSTOMER_UNMERGED)


Stamp = tuple[tuple[str, int], ...]  # per STAMPED kind present, its latest event's id


@dataclass(frozen=True, slots=True)
class _Entry:
    stamp: Stamp  # the latest events when it was computed
    at: float
    drift: Drift


class DriftCache:
    """Drift reports per (workspace, days), reused while current (module docstring)."""

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self.computed = 0  # reports computed rather than reused
        self._entries: dict[tuple[str, int], _Entry] = {}
        self._forgotten: dict[str, int] = {}  # per workspace, how many times forgotten

    async def get(
        self, db: Database, workspace_id: str, days: int, compute: Callable[[], Awaitable[Drift]]
    ) -> Drift:
        """The workspace's report over ``days``: the cached one while current, else computed.

        The stamp is read first: an event arriving while ``compute`` runs makes it stale.
        """
        stamp = await latest_event(db, workspace_id)
        key = (workspace_id, days)
        entry = self._entries.get(key)
        if entry is not None and entry.stamp == stamp and self.clock() - entry.at < self.ttl_s:
            return entry.drift
        forgotten = self._forgotten.get(workspace_id, 0)
        found = await compute()
        self.computed += 1
        if self._forgotten.get(workspace_id, 0) == forgotten:  # not forgotten meanwhile
            self._entries[key] = _Entry(stamp, self.clock(), found)
        return found

    def forget(self, workspace_id: str) -> None:
        """Drop the workspace's reports (an erasure, a purge: questions that must go)."""
        self._forgotten[workspace_id] = self._forgotten.get(workspace_id, 0) + 1
        for key in [k for k in self._entries if k[0] == workspace_id]:
            del self._entries[key]


async def latest_event(db: Database, workspace_id: str) -> Stamp:
    """The id of the workspace's latest event of each kind in ``STAMPED`` that it has.

    Per kind: one id for all could come back after an erasure (module docstring).
    """
    query = (
        select(Event.type, func.max(Event.id))
        .where(Event.workspace_id == workspace_id, Event.type.in_(STAMPED))
        .group_by(Event.type)
    )
    async with db.sessions() as session:
        return tuple(sorted((kind, int(latest)) for kind, latest in await session.execute(query)))
