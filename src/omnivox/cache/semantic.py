"""Semantic answer cache: a near-duplicate question reuses an earlier grounded answer.

Entries are kept per workspace and knowledge-base version: a new version (any ingest or
removal) empties the workspace's cache, so an answer never outlives the documents it came
from. Only grounded answers are stored. Lookup is a cosine similarity against the cached
questions (the contextual query: the question with the customer's previous turns).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from omnivox.knowledge.embeddings import Embedder, Vectors
from omnivox.types import Reply

# "may" is left out: "May I return..." asks what "Can I return..." asks
_DAYS_MONTHS = (
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekends?|weekdays?|today|"
    r"tomorrow|tonight|yesterday|january|february|march|april|june|july|august|september|"
    r"october|november|december"
)
_NUMBER_WORDS = (
    r"zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|half"
)
_PARTICULAR = re.compile(rf"\d+(?:[.,:]\d+)*|\b(?:{_DAYS_MONTHS}|{_NUMBER_WORDS})\b", re.IGNORECASE)
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-zA-Z'-]+")  # a capital inside a sentence: a name


def particulars(question: str) -> frozenset[str]:
    """What two near-identical questions must share to share an answer.

    Numbers, number words, days and months, and capitalised words inside a sentence (places,
    products): "returns after 60 days" and "after 90 days", or "the Denver store" and "the
    Boulder store", differ only there.
    """
    found = {m.group(0).lower() for m in _PARTICULAR.finditer(question)}
    found.update(m.group(0).lower() for m in _NAME.finditer(question))
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class _Entry:
    vector: Vectors
    reply: Reply
    customer_id: str | None
    stored_at: float  # time.time()
    particulars: frozenset[str]


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

    async def current_version(self, workspace_id: str) -> str | None:
        """The workspace's knowledge-base version now (a turn notes it before searching)."""
        return await self.version(workspace_id)

    async def lookup(
        self, workspace_id: str, query: str, question: str | None = None
    ) -> Reply | None:
        """The cached reply for a question close enough to ``query``, if any.

        ``question``: the latest message alone (default ``query``), whose particulars must
        be those of the cached question's.
        """
        version = await self.version(workspace_id)
        if version is None:
            return None
        shelf = self._shelf(workspace_id, version)
        if not shelf.entries:
            return None
        vector = (await asyncio.to_thread(self.embedder.embed, [query]))[0]
        wanted = particulars(question if question is not None else query)
        keys = [k for k, e in shelf.entries.items() if e.particulars == wanted]
        if not keys:
            return None
        matrix = np.stack([shelf.entries[k].vector for k in keys])
        scores = matrix @ vector
        best = int(np.argmax(scores))
        if scores[best] < self.threshold:
            return None
        shelf.entries.move_to_end(keys[best])
        return shelf.entries[keys[best]].reply

    async def store(
        self,
        workspace_id: str,
        query: str,
        reply: Reply,
        customer_id: str | None = None,
        *,
        question: str | None = None,
        version: str | None = None,
    ) -> None:
        """Remember a grounded reply for ``query`` (asked by ``customer_id``).

        ``version``: the knowledge-base version its passages were found under; when the
        knowledge base has changed since, the answer is not kept.
        """
        current = await self.version(workspace_id)
        if self.max_entries <= 0 or current is None:
            return
        if version is not None and version != current:
            return
        vector = (await asyncio.to_thread(self.embedder.embed, [query]))[0]
        shelf = self._shelf(workspace_id, current)
        said = particulars(question if question is not None else query)
        shelf.entries[query] = _Entry(vector, reply, customer_id, time.time(), said)
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
