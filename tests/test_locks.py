"""The in-process keyed lock: one holder per key, FIFO, and no memory kept for idle keys."""

from __future__ import annotations

import asyncio

from omnivox.locks.memory import MemoryKeyedLock


async def test_same_key_serialises_other_keys_do_not() -> None:
    lock = MemoryKeyedLock()
    order: list[str] = []

    async def hold(key: str, name: str, delay: float) -> None:
        async with lock.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(delay)
            order.append(f"{name}-")

    await asyncio.gather(hold("a", "a1", 0.05), hold("a", "a2", 0.0), hold("b", "b1", 0.01))
    assert order.index("a1-") < order.index("a2+")  # a2 waited for a1
    assert order.index("b1+") < order.index("a1-")  # b did not wait for a
    assert len(lock) == 0  # nothing kept once every holder left


async def test_a_failing_holder_releases_the_key() -> None:
    lock = MemoryKeyedLock()
    try:
        async with lock.hold("k"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with asyncio.timeout(1), lock.hold("k"):
        assert len(lock) == 1
    assert len(lock) == 0
