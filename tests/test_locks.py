"""The in-process keyed lock keeps no memory for idle keys.

Its behaviour as a lock (one holder per key, arrival order, a failing holder lets go) is the
contract every backend passes: tests/scaleout/test_backends.py.
"""

from __future__ import annotations

import asyncio

import pytest

from omnivox.locks.memory import MemoryKeyedLock


async def test_nothing_is_kept_once_every_holder_left() -> None:
    lock = MemoryKeyedLock()

    async def hold(key: str) -> None:
        async with lock.hold(key):
            assert len(lock) >= 1
            await asyncio.sleep(0.01)

    await asyncio.gather(hold("a"), hold("a"), hold("b"))
    with pytest.raises(RuntimeError):
        async with lock.hold("c"):
            raise RuntimeError("boom")
    assert len(lock) == 0
