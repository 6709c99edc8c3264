"""One Redis connection pool per server, its key names, and its errors."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from omnivox.scaleout.errors import CoordinationUnavailableError
from omnivox.settings import Settings

T = TypeVar("T")
TIMEOUT_S = 2.0  # a command (or a connect) longer than this: Redis is treated as down


class RedisConnection:
    """The server's Redis client (``redis.url``), with ``redis.prefix`` for every name."""

    def __init__(self, settings: Settings, key: bytes) -> None:
        assert settings.redis.url is not None
        self.prefix = settings.redis.prefix
        # names hold a keyed digest: a phone number's plain hash is found by trying them all
        self._key = hmac.new(key, b"omnivox redis names", hashlib.sha256).digest()
        self.config_file = settings.config_file
        self.client: Any = aioredis.Redis.from_url(
            settings.redis.url.get_secret_value(),
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            health_check_interval=30,
        )
        self.where = _where(self.client)

    def name(self, kind: str, *parts: str) -> str:
        """``<prefix>:<kind>:<keyed digest of parts>``: no address or visitor id in a key."""
        joined = "\x00".join(parts).encode()
        digest = hmac.new(self._key, joined, hashlib.sha256).hexdigest()[:32]
        return f"{self.prefix}:{kind}:{digest}"

    def channel(self, topic: str) -> str:
        """The pub/sub channel of a peers topic."""
        return f"{self.prefix}:peers:{topic}"

    async def call(self, command: Awaitable[T]) -> T:
        """Await one command; a Redis failure becomes :class:`CoordinationUnavailableError`."""
        try:
            return await command
        except RedisError as exc:
            raise CoordinationUnavailableError(f"Redis at {self.where}: {exc}") from exc

    async def ping(self) -> bool:
        """Whether Redis answers now."""
        try:
            return bool(await self.client.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        """Close the pool."""
        await self.client.aclose()


def _where(client: Any) -> str:
    """host:port (or the socket path) of the client, without credentials."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
