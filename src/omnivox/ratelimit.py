"""Sliding-window limits per key.

:class:`MemoryWindows` (the default) counts in this process: with several servers each would
allow the limit. :class:`omnivox.scaleout.windows.RedisWindows` counts in Redis, for all of them.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` events for ``key`` in any ``seconds``.

    ``group`` is the pool the key's memory comes from (a workspace): a flood of distinct keys in
    one group cannot push another group's keys out.
    """

    group: str
    key: str
    limit: int
    seconds: float


class Windows(Protocol):
    """Checks several windows at once and counts the event in all of them, or in none."""

    async def admit(self, windows: Sequence[Window]) -> int | None:
        """None if every window has room (the event then counts in each), else the first full.

        A refused event is counted in none of them.
        """
        ...

    async def full(self, windows: Sequence[Window]) -> int | None:
        """The index of the first window with no room left, else None; nothing is counted."""
        ...


class MemoryWindows:
    """:class:`Windows` in this process: one :class:`SlidingWindowLimiter` per group and size."""

    def __init__(
        self, *, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_keys, self.clock = max_keys, clock
        self._limiters: dict[tuple[str, int, float], SlidingWindowLimiter] = {}

    async def admit(self, windows: Sequence[Window]) -> int | None:
        """Room in all, then count in all (a refused event uses up none of them)."""
        refused = await self.full(windows)
        if refused is not None:
            return refused
        for window in windows:
            self._limiter(window).record(window.key)
        return None

    async def full(self, windows: Sequence[Window]) -> int | None:
        """The first window with no room left (nothing is counted)."""
        for index, window in enumerate(windows):
            if not self._limiter(window).room(window.key):
                return index
        return None

    def _limiter(self, window: Window) -> SlidingWindowLimiter:
        name = (window.group, window.limit, window.seconds)
        limiter = self._limiters.get(name)
        if limiter is None:
            limiter = SlidingWindowLimiter(
                window.limit, window.seconds, max_keys=self.max_keys, clock=self.clock
            )
            self._limiters[name] = limiter
        return limiter


class SlidingWindowLimiter:
    """At most ``limit`` events per ``window_s`` seconds for each key.

    Keys are kept in least-recently-used order and the oldest are forgotten beyond ``max_keys``,
    so a flood of distinct senders cannot grow memory without bound.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window_s, self.max_keys, self.clock = limit, window_s, max_keys, clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Record an event for ``key`` and say whether it is within the limit."""
        allowed = self.room(key)
        if allowed:
            self.record(key)
        return allowed

    def room(self, key: str) -> bool:
        """Whether one more event for ``key`` is within the limit (nothing recorded)."""
        events = self._events.get(key)
        if not events:
            return self.limit > 0
        cutoff = self.clock() - self.window_s
        while events and events[0] <= cutoff:
            events.popleft()
        return len(events) < self.limit

    def record(self, key: str) -> None:
        """Count one event for ``key`` (the caller checked :meth:`room`)."""
        events = self._events.pop(key, None) or deque()
        events.append(self.clock())
        self._events[key] = events
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
