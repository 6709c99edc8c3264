"""Turn locks shared by every server: a Redis key per held lock, with a renewed lease.

Within a server, holders of one key still queue in arrival order (the in-process lock); the
first of them then takes the Redis lock (``SET NX PX``) or polls for it every few milliseconds.
While held, the lease is renewed every third of ``redis.lock_lease_s``; a server that dies
stops renewing, and its locks free themselves when the lease runs out. Release deletes the key
only if this holder's random token is still in it, so a holder whose lease ran out (a long
stall) cannot free the next holder's lock. Release runs after the holder has left (the turn's
reply does not wait for that round trip); the next holder in this server waits for it first.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from omnivox.locks.memory import MemoryKeyedLock
from omnivox.logs import get_logger
from omnivox.scaleout.client import RedisConnection
from omnivox.scaleout.errors import CoordinationUnavailableError

log = get_logger(__name__)
POLL_FIRST_S, POLL_MAX_S = 0.002, 0.05  # waiting for another server's holder: back off to 50 ms

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class RedisKeyedLock:
    """:class:`omnivox.locks.KeyedLock` across servers."""

    def __init__(self, connection: RedisConnection, lease_s: float = 30.0) -> None:
        self.connection = connection
        self.lease_ms = int(lease_s * 1000)
        self._local = MemoryKeyedLock()
        self._release = connection.client.register_script(_RELEASE)
        self._renew = connection.client.register_script(_RENEW)
        self._releases: dict[str, asyncio.Task[None]] = {}  # by lock name, until done

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key`` on every server; raises CoordinationUnavailableError if Redis is down."""
        async with self._local.hold(key):
            name, token = self.connection.name("lock", key), secrets.token_hex(16)
            try:
                await self._acquire(name, token)
            except asyncio.CancelledError:  # the SET may have landed before the cancel
                self._release_later(name, token)
                raise
            renewer = asyncio.create_task(self._keep(name, token))
            try:
                yield
            finally:
                renewer.cancel()
                self._release_later(name, token)

    async def _acquire(self, name: str, token: str) -> None:
        pending = self._releases.get(name)
        if pending is not None:  # this server's previous holder is still letting go
            await asyncio.shield(pending)
        delay = POLL_FIRST_S
        client = self.connection.client
        while not await self.connection.call(client.set(name, token, nx=True, px=self.lease_ms)):
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)

    async def _keep(self, name: str, token: str) -> None:
        """Renew the lease until cancelled; say so if it was lost (a stall past the lease)."""
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                renewed = await self.connection.call(
                    self._renew(keys=[name], args=[token, self.lease_ms])
                )
            except CoordinationUnavailableError as exc:
                log.warning("lock.renew_failed", error=str(exc))
                continue
            if not renewed:
                log.error("lock.lost", lease_ms=self.lease_ms)
                return

    async def _free(self, name: str, token: str) -> None:
        try:
            await self.connection.call(self._release(keys=[name], args=[token]))
        except CoordinationUnavailableError as exc:  # the lease frees it later
            log.warning("lock.release_failed", error=str(exc))

    def _release_later(self, name: str, token: str) -> None:
        task = asyncio.create_task(self._free(name, token))
        self._releases[name] = task
        task.add_done_callback(lambda _: self._forget(name, task))

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        if self._releases.get(name) is task:
            del self._releases[name]

    async def close(self) -> None:
        """Wait for the releases still on their way (at shutdown)."""
        if self._releases:
            await asyncio.wait(list(self._releases.values()), timeout=2)
