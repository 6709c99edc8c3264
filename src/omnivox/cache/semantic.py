"""Semantic answer cache: a near-duplicate question reuses an earlier grounded answer.

Entries are kept per workspace and knowledge-base version: a new version (any ingest or
removal) empties the workspace's cache, so an answer never outlives the documents it came
from. Only grounded answers are stored. Lookup is a cosine similarity against the cached
questions (the contextual query: the question with the customer's previous turns).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from omnivox.knowledge.embeddings import Embedder, Vectors
from omnivox.types import Reply


@dataclass(frozen=True, slots=True)
class _Entry:
    vector: Vectors
    reply: Reply
    customer_id: str | None
    stored_at: float  # time.time()


@dataclass
class _Shelf:
    version: str
    entries: OrderedDict[str, _Entry]


class SemanticCache:
    """Bounded LRU of (question vector, reply) per workspace and KB version."""

    def __init__(
        self,
        embedder: Embedder,
        version: Callable[[str], Awaitable[str | None]],
        threshold: float = 0.92,
        max_entries: int = 2000,
    ) -> None:
        self.embedder = embedder
        self.version = version
        self.threshold = threshold
        self.max_entries = max_entries
        self._shelves: dict[str, _Shelf] = {}

    def _shelf(self, workspace_id: str, version: str) -> _Shelf:
        shelf = self._shelves.get(workspace_id)
        if shelf is None or shelf.version != version:
            shelf = self._shelves[workspace_id] = _Shelf(version, OrderedDict())
        return shelf

    async def lookup(self, workspace_id: str, query: str) -> Reply | None:
        """The cached reply for a question close enough to ``query``, if any."""
        version = await self.version(workspace_id)
        if version is None:
            return None
        shelf = self._shelf(workspace_id, version)
        if not shelf.entries:
            return None
        vector = (await asyncio.to_thread(self.embedder.embed, [query]))[0]
        keys = list(shelf.entries)
        matrix = np.stack([shelf.entries[k].vector for k in keys])
        scores = matrix @ vector
        best = int(np.argmax(scores))
        if scores[best] < self.threshold:
            return None
        shelf.entries.move_to_end(keys[best])
        return shelf.entries[keys[best]].reply

    async def store(
        self, workspace_id: str, query: str, reply: Reply, customer_id: str | None = None
    ) -> None:
        """Remember a grounded reply for ``query`` (asked by ``customer_id``)."""
        version = await self.version(workspace_id)
        if self.max_entries <= 0 or version is None:
            return
        vector = (await asyncio.to_thread(self.embedder.embed, [query]))[0]
        shelf = self._shelf(workspace_id, version)
        shelf.entries[query] = _Entry(vector, reply, customer_id, time.time())
        shelf.entries.move_to_end(query)
        while len(shelf.entries) > self.max_entries:
            shelf.entries.popitem(last=False)

    def forget(self, workspace_id: str, customer_id: str) -> int:
        """Drop every entry the customer's questions made (an erasure); how many."""
        return self._drop(workspace_id, lambda e: e.customer_id == customer_id)

    def expire(self, workspace_id: str, older_than: float) -> int:
        """Drop entries stored before ``older_than`` (a ``time.time()``); how many."""
        return self._drop(workspace_id, lambda e: e.stored_at < older_than)

    def _drop(self, workspace_id: str, doomed: Callable[[_Entry], bool]) -> int:
        shelf = self._shelves.get(workspace_id)
        if shelf is None:
            return 0
        keys = [k for k, entry in shelf.entries.items() if doomed(entry)]
        for key in keys:
            del shelf.entries[key]
        return len(keys)
