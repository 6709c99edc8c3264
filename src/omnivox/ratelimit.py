"""A sliding-window limit per key (in memory: one process; the numbers are per server)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


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
