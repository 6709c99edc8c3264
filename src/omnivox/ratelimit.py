"""Sliding-window limits per key.

:class:`MemoryWindows` (the default) counts in this process: with several servers each would
allow the limit. :class:`omnivox.scaleout.windows.RedisWindows` counts in Redis, for all of them.
"""

from __future__ import annotations

import ipaddress
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


def client_key(host: str) -> str:
    """The key a client address is counted under: one IPv6 /64, else the address itself.

    An IPv6 subscriber gets a /64 (2^64 addresses) to pick from: keyed by the whole address,
    each new one would have a fresh window. An IPv4-mapped IPv6 address counts as its IPv4
    one; a name that is no IP address (a proxy's ``unknown``) counts as itself.
    """
    try:
        address = ipaddress.ip_address(host.strip())
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class OpenCounts:
    """How many of something (open sockets) each key holds at once, in this process.

    A key is forgotten when it holds none, so memory follows what is open now.
    """

    def __init__(self) -> None:
        self._held: dict[str, int] = {}

    def take(self, key: str, limit: int) -> bool:
        """Count one more for ``key`` if it holds fewer than ``limit``; whether it was counted."""
        held = self._held.get(key, 0)
        if held >= limit:
            return False
        self._held[key] = held + 1
        return True

    def release(self, key: str) -> None:
        """Count one fewer for ``key`` (give back what one :meth:`take` counted)."""
        held = self._held.pop(key, 0) - 1
        if held > 0:
            self._held[key] = held

    def held(self, key: str) -> int:
        """How many ``key`` holds now."""
        return self._held.get(key, 0)


class Windows(Protocol):
    """Checks several windows at once and counts the event in all of them, or in none.

    An ``event`` name (a provider's message id) makes admitting idempotent: an event admitted
    before under that name, still in a window, is admitted again without counting again, even
    when the window is full since. A sender's retry (after a 503 or an SMTP 451) is the same
    message: it must not take a second slot.
    """

    async def admit(self, windows: Sequence[Window], event: str | None = None) -> int | None:
        """None if every window has room (the event then counts in each), else the first full.

        A refused event is counted in none of them; a named event already counted counts again
        in none of them.
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

    async def admit(self, windows: Sequence[Window], event: str | None = None) -> int | None:
        """Room in all, then count in all (a refused event uses up none of them)."""
        refused = self._first_full(windows, event)
        if refused is not None:
            return refused
        for window in windows:
            self._limiter(window).record(window.key, event)
        return None

    async def full(self, windows: Sequence[Window]) -> int | None:
        """The first window with no room left (nothing is counted)."""
        return self._first_full(windows, None)

    def _first_full(self, windows: Sequence[Window], event: str | None) -> int | None:
        for index, window in enumerate(windows):
            if not self._limiter(window).room(window.key, event):
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
        # per key, its events' times and names (None: unnamed) in order
        self._events: OrderedDict[str, deque[tuple[float, str | None]]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Record an event for ``key`` and say whether it is within the limit."""
        allowed = self.room(key)
        if allowed:
            self.record(key)
        return allowed

    def room(self, key: str, event: str | None = None) -> bool:
        """Whether one more event for ``key`` is within the limit (nothing recorded).

        A named ``event`` counted already in the window has its room.
        """
        events = self._events.get(key)
        if not events:
            return self.limit > 0
        cutoff = self.clock() - self.window_s
        while events and events[0][0] <= cutoff:
            events.popleft()
        return len(events) < self.limit or _counted(events, event)

    def record(self, key: str, event: str | None = None) -> None:
        """Count one event for ``key`` (the caller checked :meth:`room`).

        A named ``event`` counted already in the window is not counted again.
        """
        events = self._events.pop(key, None) or deque()
        if not _counted(events, event):
            events.append((self.clock(), event))
        self._events[key] = events
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)


def _counted(events: deque[tuple[float, str | None]], event: str | None) -> bool:
    """Whether the named ``event`` is among ``events`` (an unnamed one never is)."""
    return event is not None and any(name == event for _, name in events)
