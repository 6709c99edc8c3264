"""Peers through Redis: pub/sub for live messages, a hash per count for presence.

Publishing puts the message on a queue that one task sends in order (``PUBLISH``), so callers
never wait for Redis and a server's messages arrive in the order it sent them. One listener
task per server holds a pattern subscription to ``<prefix>:peers:*`` and calls the handlers
of each topic; it ignores the server's own messages (their local delivery already happened)
and resubscribes after a dropped connection (what was published meanwhile is lost: these are
live views, and the database holds the record).

Counts: every server writes its counts into ``<prefix>:tally:<name>`` (field = server id,
value = ``count expiry-ms``) when they change and every ``HEARTBEAT_S``; :meth:`tally` sums the
other servers' unexpired fields, so a server that died stops counting after ``EXPIRE_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from typing import Any

from redis.exceptions import RedisError

from omnivox.bus.peers import PeerHandler
from omnivox.ids import new_id
from omnivox.logs import get_logger
from omnivox.scaleout.client import RedisConnection
from omnivox.settings import ConfigError

log = get_logger(__name__)
HEARTBEAT_S, EXPIRE_S = 5.0, 15.0
RESUBSCRIBE_S = 1.0
OUTGOING_MAX = 10_000  # messages waiting for Redis beyond this are dropped (and logged)
HANDLING_MAX = 1_000  # peers' messages being handed to sockets at once; more are dropped


class RedisPeers:
    """:class:`omnivox.bus.peers.Peers` over Redis."""

    def __init__(self, connection: RedisConnection) -> None:
        self.connection = connection
        self.server_id = new_id("srv")
        self._handlers: defaultdict[str, list[PeerHandler]] = defaultdict(list)
        self._outgoing: asyncio.Queue[tuple[str, str]] = asyncio.Queue(OUTGOING_MAX)
        self._counts: dict[str, int] = {}
        self._counts_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._handling: set[asyncio.Task[None]] = set()  # handlers running (never awaited inline)
        self._subscribed = asyncio.Event()
        self._closing = asyncio.Event()

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Queue ``message`` for the other servers (sent in order by the sender task)."""
        data = json.dumps({"from": self.server_id, "message": message})
        try:
            self._outgoing.put_nowait((self.connection.channel(topic), data))
        except asyncio.QueueFull:
            log.error("peers.dropped", topic=topic, reason="Redis is not keeping up")

    def on(self, topic: str, handler: PeerHandler) -> None:
        """Call ``handler`` for each message other servers publish on ``topic``."""
        self._handlers[topic].append(handler)

    def report(self, name: str, value: int) -> None:
        """Record this server's count; written to Redis at once by the heartbeat task."""
        self._counts[name] = value
        self._counts_changed.set()

    async def tally(self, name: str) -> int:
        """The other running servers' counts of ``name``, summed."""
        fields = await self.connection.call(self.connection.client.hgetall(self._tally_key(name)))
        now_ms, total = time.time() * 1000, 0
        for server, value in fields.items():
            count, _, expires = value.decode().partition(" ")
            if server.decode() != self.server_id and float(expires) > now_ms:
                total += int(count)
        return total

    async def start(self) -> None:
        """Check Redis answers, then start the sender, the listener and the heartbeat."""
        try:
            await self.connection.client.ping()
        except RedisError as exc:
            raise ConfigError(
                self.connection.config_file,
                "redis.url",
                f"a Redis server this server can reach; {self.connection.where} did not "
                f"answer ({exc})",
            ) from None
        for work in (self._send(), self._listen(), self._heartbeat()):
            self._tasks.append(asyncio.create_task(work))
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def close(self) -> None:
        """Send what is queued, withdraw this server's counts, stop, disconnect.

        Every wait has a deadline: a cancel that a Redis command swallows must not keep the
        server from exiting.
        """
        self._closing.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._outgoing.join()
        tasks = [*self._tasks, *self._handling]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        with contextlib.suppress(RedisError, TimeoutError):
            async with asyncio.timeout(2):
                for name in self._counts:
                    await self.connection.client.hdel(self._tally_key(name), self.server_id)
        with contextlib.suppress(RedisError, TimeoutError):
            async with asyncio.timeout(2):
                await self.connection.close()

    def _tally_key(self, name: str) -> str:
        return f"{self.connection.prefix}:tally:{name}"

    async def _send(self) -> None:
        client = self.connection.client
        while not self._closing.is_set():
            channel, data = await self._outgoing.get()
            try:
                await client.publish(channel, data)
            except RedisError as exc:
                log.warning("peers.publish_failed", error=str(exc))
            finally:
                self._outgoing.task_done()

    async def _listen(self) -> None:
        pattern = self.connection.channel("*")
        while not self._closing.is_set():
            pubsub = self.connection.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(pattern)
                self._subscribed.set()
                while not self._closing.is_set():
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self._dispatch(message)
            except RedisError as exc:
                log.warning("peers.listen_failed", error=str(exc))
                await asyncio.sleep(RESUBSCRIBE_S)
            finally:
                with contextlib.suppress(RedisError):
                    await pubsub.aclose()

    async def _dispatch(self, message: dict[str, Any]) -> None:
        topic = message["channel"].decode().removeprefix(self.connection.channel(""))
        try:
            envelope = json.loads(message["data"])
            sender, body = envelope["from"], envelope["message"]
        except (ValueError, KeyError, TypeError):  # not ours: someone else on the prefix
            log.warning("peers.bad_message", topic=topic)
            return
        if sender == self.server_id:
            return
        if len(self._handling) >= HANDLING_MAX:  # handlers stuck (a socket not reading)
            log.error("peers.dropped", topic=topic, reason="too many messages being handled")
            return
        for handler in self._handlers.get(topic, ()):  # never awaited here: the listener
            task = asyncio.create_task(self._handle(handler, topic, body))  # must not stall
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    @staticmethod
    async def _handle(handler: PeerHandler, topic: str, body: dict[str, Any]) -> None:
        try:
            await handler(body)
        except Exception:  # one broken handler must not stop the others
            log.exception("peers.handler_failed", topic=topic)

    async def _heartbeat(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):  # (wait_for can swallow a cancel)
                    await self._counts_changed.wait()
            self._counts_changed.clear()
            if self._closing.is_set():
                return
            expires = int((time.time() + EXPIRE_S) * 1000)
            try:
                for name, count in list(self._counts.items()):
                    await self._write_count(name, f"{count} {expires}")
            except RedisError as exc:
                log.warning("peers.heartbeat_failed", error=str(exc))

    async def _write_count(self, name: str, value: str) -> None:
        """Write this server's field; remove the expired fields of servers that died."""
        client, key = self.connection.client, self._tally_key(name)
        await client.hset(key, self.server_id, value)
        now_ms = time.time() * 1000
        fields = await client.hgetall(key)
        dead = [f for f, v in fields.items() if float(v.decode().partition(" ")[2]) <= now_ms]
        if dead:
            await client.hdel(key, *dead)
