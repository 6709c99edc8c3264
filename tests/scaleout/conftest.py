"""Redis for the scale-out tests: a key prefix of its own per test, removed afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from omnivox.scaleout.client import RedisConnection
from tests.channels.conftest import bot_api
from tests.conftest import make_settings

__all__ = ["bot_api"]  # the Telegram stand-in, for the outage test

KEY = b"the servers' shared signing key"
REDIS_URL = os.environ.get("OMNIVOX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_settings() -> Iterator[dict[str, Any]]:
    """``redis`` settings with a fresh prefix; its keys are deleted after the test."""
    prefix = f"t{secrets.token_hex(6)}"
    yield {"url": REDIS_URL, "prefix": prefix}
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def connection(tmp_path: Path, redis_settings: dict[str, Any], **extra: Any) -> RedisConnection:
    """A new connection (a server of its own) on the test's prefix."""
    return RedisConnection(make_settings(tmp_path, redis={**redis_settings, **extra}), KEY)


def keys_of(redis_settings: dict[str, Any]) -> list[bytes]:
    """The keys under the test's prefix now."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sorted(client.scan_iter(f"{redis_settings['prefix']}:*"))
    finally:
        client.close()


def members_of(redis_settings: dict[str, Any], key: bytes) -> list[bytes]:
    """The members of ``key`` when it is a sorted set (a rate window), else none."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.zrange(key, 0, -1)) if client.type(key) == b"zset" else []
    finally:
        client.close()


async def eventually(check: Callable[[], bool]) -> None:
    """Wait up to 5 s until ``check()`` is true (the peers deliver asynchronously)."""
    async with asyncio.timeout(5):
        while not check():  # noqa: ASYNC110 (polls another server's effect)
            await asyncio.sleep(0.01)
