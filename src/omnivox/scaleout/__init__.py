"""Scale-out: what several servers on one database share, through Redis.

One server keeps its turn locks, rate-limit windows and live events in memory. Several servers
behind a load balancer (on one PostgreSQL database) need them shared, or two servers could answer
one customer's messages at once, each allow the whole rate limit, and an agent's reply would miss
the web-chat tab open on the other server. With ``redis.url`` set, :func:`coordination` builds
the Redis twins of all three (``locks.py``, ``windows.py``, ``peers.py``); ``redis`` is imported
only then. Keys and channel names start with ``redis.prefix``; a customer's address or visitor
id never appears in them (only a digest keyed with the data dir's signing key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from omnivox.bus.peers import NoPeers, Peers
from omnivox.identity.keys import load_or_create_key
from omnivox.locks import KeyedLock
from omnivox.locks.memory import MemoryKeyedLock
from omnivox.ratelimit import MemoryWindows, Windows
from omnivox.settings import Settings


@dataclass
class Coordination:
    """The turn locks, rate-limit windows and peers of this server, and their lifecycle."""

    locks: KeyedLock = field(default_factory=MemoryKeyedLock)
    windows: Windows = field(default_factory=MemoryWindows)
    peers: Peers = field(default_factory=NoPeers)
    backend: str = "memory"
    pinger: Callable[[], Awaitable[bool]] | None = None  # the shared backend's health check
    drain: Callable[[], Awaitable[None]] | None = None  # lets go of what is still held

    async def start(self) -> None:
        """Connect (Redis: fails fast, naming ``redis.url``, when it cannot be reached)."""
        await self.peers.start()

    async def ping(self) -> bool:
        """Whether the shared backend answers (always, in memory)."""
        return True if self.pinger is None else await self.pinger()

    async def close(self) -> None:
        """Let go of the locks, withdraw from the peers and disconnect."""
        if self.drain is not None:
            await self.drain()
        await self.peers.close()


def coordination(settings: Settings) -> Coordination:
    """In memory by default; through Redis when ``redis.url`` is set."""
    if settings.redis.url is None:
        return Coordination()
    from omnivox.scaleout.client import RedisConnection
    from omnivox.scaleout.locks import RedisKeyedLock
    from omnivox.scaleout.peers import RedisPeers
    from omnivox.scaleout.windows import RedisWindows

    # the data dir's signing key, shared by the servers: it keys the digests in Redis names
    key = load_or_create_key(settings.data_dir, settings.server.secret_key.get_secret_value())
    connection = RedisConnection(settings, key)
    locks = RedisKeyedLock(connection, settings.redis.lock_lease_s)
    return Coordination(
        locks,
        RedisWindows(connection),
        RedisPeers(connection),
        "redis",
        connection.ping,
        locks.close,
    )
