"""Live console events, per workspace, in this process (SSE subscribers are agents online)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any


class ConsoleBus:
    """Publish queue events to every open console of the workspace."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []

    def listen(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Also call ``listener(workspace, event)`` for every event (outbound webhooks)."""
        self._listeners.append(listener)

    def subscribe(self, workspace_id: str) -> asyncio.Queue[dict[str, Any]]:
        """A queue receiving the workspace's events until :meth:`unsubscribe`."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self._subscribers[workspace_id].add(queue)
        return queue

    def unsubscribe(self, workspace_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering to ``queue``."""
        self._subscribers[workspace_id].discard(queue)

    def online(self, workspace_id: str) -> int:
        """How many consoles of the workspace are open now."""
        return len(self._subscribers[workspace_id])

    def publish(self, workspace_id: str, event: dict[str, Any]) -> None:
        """Send ``event`` to every console of the workspace (a full, stalled one skips it)."""
        for queue in list(self._subscribers[workspace_id]):
            if not queue.full():
                queue.put_nowait(event)
        for listener in self._listeners:
            listener(workspace_id, event)
