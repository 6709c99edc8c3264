"""Turn locks shared by every server: a first-come queue per key in Redis, with leases.

Each holder or waiter puts a random token at the tail of the key's queue (a Redis list) and
holds the lock while its token is at the head: so one customer's messages run in the order
they reached any server. Every token has a lease (a hash of token -> expiry, on Redis's clock)
that its holder or waiter renews (a waiter on every poll, a holder every third of
``redis.lock_lease_s``); a server that dies stops renewing, and the next poll by anyone drops
its expired tokens from the head. Waiters poll every 2 ms, backing off to 50 ms. Release
removes the token; it runs after the holder has left (the turn's reply does not wait for that
round trip), and the next holder in this server waits for it first. Key names carry a keyed
digest of the lock's name, never the address in it.
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
POLL_FIRST_S, POLL_MAX_S = 0.002, 0.05  # waiting for another holder: back off to 50 ms

# KEYS: queue, leases. ARGV: token, lease ms. 1 when the token holds the lock.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then redis.call('RPUSH', KEYS[1], ARGV[1]) end
redis.call('HSET', KEYS[2], ARGV[1], now + lease)
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local expires = tonumber(redis.call('HGET', KEYS[2], head) or '0')
  if expires >= now then break end
  redis.call('LPOP', KEYS[1])
  redis.call('HDEL', KEYS[2], head)
end
redis.call('PEXPIRE', KEYS[1], lease * 2)
redis.call('PEXPIRE', KEYS[2], lease * 2)
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then return 1 end
return 0
"""
# KEYS: queue, leases. ARGV: token, lease ms. 0 when the token is no longer in the queue.
_RENEW = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
return 1
"""
# KEYS: queue, leases. ARGV: token.
_RELEASE = """
redis.call('LREM', KEYS[1], 1, ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
"""


class RedisKeyedLock:
    """:class:`omnivox.locks.KeyedLock` across servers, first come first served."""

    def __init__(self, connection: RedisConnection, lease_s: float = 30.0) -> None:
        self.connection = connection
        self.lease_ms = int(lease_s * 1000)
        client = connection.client
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._releases: dict[str, asyncio.Task[None]] = {}  # by lock name, until done
        self._joining = MemoryKeyedLock()  # this server's waiters join the queue in order

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key`` on every server; raises CoordinationUnavailableError if Redis is down."""
        name, token = self.connection.name("lock", key), secrets.token_hex(16)
        keys = [f"{name}:queue", f"{name}:leases"]
        try:
            await self._acquire(name, keys, token)
        except BaseException:  # cancelled or Redis gone: our token may be queued
            self._release_later(name, keys, token)
            raise
        done = asyncio.Event()
        renewer = asyncio.create_task(self._keep(keys, token, done))
        try:
            yield
        finally:
            done.set()  # the renewer stops even if a command swallows its cancel
            renewer.cancel()
            self._release_later(name, keys, token)

    async def _acquire(self, name: str, keys: list[str], token: str) -> None:
        pending = self._releases.get(name)
        if pending is not None:  # this server's previous holder is still letting go
            await asyncio.shield(pending)
        args = [token, self.lease_ms]
        async with self._joining.hold(name):  # the first call queues the token
            held = await self.connection.call(self._take(keys=keys, args=args))
        delay = POLL_FIRST_S
        while not held:
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)
            held = await self.connection.call(self._take(keys=keys, args=args))

    async def _keep(self, keys: list[str], token: str, done: asyncio.Event) -> None:
        """Renew the lease until ``done``; say so if it was lost (a stall past the lease)."""
        while not done.is_set():
            try:
                async with asyncio.timeout(self.lease_ms / 3000):
                    await done.wait()
                return
            except TimeoutError:
                pass
            try:
                renewed = await self.connection.call(
                    self._renew(keys=keys, args=[token, self.lease_ms])
                )
            except CoordinationUnavailableError as exc:
                log.warning("lock.renew_failed", error=str(exc))
                continue
            if not renewed and not done.is_set():
                log.error("lock.lost", lease_ms=self.lease_ms)
                return

    async def _free(self, keys: list[str], token: str) -> None:
        try:
            await self.connection.call(self._release(keys=keys, args=[token]))
        except CoordinationUnavailableError as exc:  # the lease frees it later
            log.warning("lock.release_failed", error=str(exc))

    def _release_later(self, name: str, keys: list[str], token: str) -> None:
        task = asyncio.create_task(self._free(keys, token))
        self._releases[name] = task
        task.add_done_callback(lambda _: self._forget(name, task))

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        if self._releases.get(name) is task:
            del self._releases[name]

    async def close(self) -> None:
        """Wait for the releases still on their way (at shutdown)."""
        if self._releases:
            await asyncio.wait(list(self._releases.values()), timeout=2)
