"""The other servers of a deployment: live messages to them and counts from them.

One server (the embedded default) has no peers: :class:`NoPeers` publishes to nobody and hears
nothing. With ``redis.url`` set, :class:`omnivox.scaleout.peers.RedisPeers` carries the same calls
between servers, so a web-chat tab open on one server gets the reply a turn on another sent, and
an agent's console on one server sees the handoffs another opened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

# a peer's message; handlers run on the receiving server's event loop
PeerHandler = Callable[[dict[str, Any]], Awaitable[None]]


class Peers(Protocol):
    """What servers tell each other. Messages are JSON objects; counts are whole numbers."""

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every other server listening on ``topic``; never blocks.

        Delivery is at most once and only to servers running now (a live view, not a queue):
        what must not be lost is in the database before it is published.
        """
        ...

    def on(self, topic: str, handler: PeerHandler) -> None:
        """Call ``handler`` with each message another server publishes on ``topic``."""
        ...

    def report(self, name: str, value: int) -> None:
        """Set the count of ``name`` (consoles open, ...) on this server; never blocks."""
        ...

    async def tally(self, name: str) -> int:
        """The sum of the other servers' counts of ``name``, from those still running."""
        ...

    async def start(self) -> None:
        """Connect and start listening."""
        ...

    async def close(self) -> None:
        """Withdraw this server's counts and stop."""
        ...


class NoPeers:
    """A server on its own."""

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Nobody to tell."""

    def on(self, topic: str, handler: PeerHandler) -> None:
        """Nobody will publish."""

    def report(self, name: str, value: int) -> None:
        """Nobody asks."""

    async def tally(self, name: str) -> int:
        """No other servers: zero."""
        return 0

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to withdraw."""
