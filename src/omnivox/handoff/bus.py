"""Live console events, per workspace (SSE subscribers are agents online).

Events reach this server's consoles at once and, through the peers (``redis.url``), the
consoles open on the other servers; listeners (outbound webhooks) run only on the server that
published, so a webhook is sent once. "Agents online" counts every server's consoles.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from omnivox.bus.peers import NoPeers, Peers
from omnivox.logs import get_logger
from omnivox.scaleout.errors import CoordinationUnavailableError

log = get_logger(__name__)
TOPIC = "console"


class ConsoleBus:
    """Publish queue events to every open console of the workspace."""

    def __init__(self, peers: Peers | None = None) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.peers: Peers = peers or NoPeers()
        self.peers.on(TOPIC, self._from_peer)

    def listen(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Also call ``listener(workspace, event)`` for every event (outbound webhooks)."""
        self._listeners.append(listener)

    def subscribe(self, workspace_id: str) -> asyncio.Queue[dict[str, Any]]:
        """A queue receiving the workspace's events until :meth:`unsubscribe`."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self._subscribers[workspace_id].add(queue)
        self.peers.report(_consoles(workspace_id), len(self._subscribers[workspace_id]))
        return queue

    def unsubscribe(self, workspace_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering to ``queue``."""
        self._subscribers[workspace_id].discard(queue)
        self.peers.report(_consoles(workspace_id), len(self._subscribers[workspace_id]))

    async def online(self, workspace_id: str) -> int:
        """How many consoles of the workspace are open now, on every server."""
        here = len(self._subscribers[workspace_id])
        try:
            return here + await self.peers.tally(_consoles(workspace_id))
        except CoordinationUnavailableError as exc:  # a handoff never fails for a count
            log.warning("console.online_unknown", error=str(exc))
            return here

    def publish(self, workspace_id: str, event: dict[str, Any]) -> None:
        """Send ``event`` to every console of the workspace (a full, stalled one skips it)."""
        self._deliver(workspace_id, event)
        self.peers.publish(TOPIC, {"workspace": workspace_id, "event": event})
        for listener in self._listeners:
            listener(workspace_id, event)

    async def _from_peer(self, message: dict[str, Any]) -> None:
        """Another server's event: to the consoles open here (its listeners ran there)."""
        self._deliver(str(message["workspace"]), dict(message["event"]))

    def _deliver(self, workspace_id: str, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(workspace_id, ())):
            if not queue.full():
                queue.put_nowait(event)


def _consoles(workspace_id: str) -> str:
    """The name of a workspace's open-console count."""
    return f"consoles:{workspace_id}"
