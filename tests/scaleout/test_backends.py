"""Locks, rate-limit windows and peers: the same contract in memory and through Redis.

The Redis cases also stand in for several servers: each RedisConnection is one server's.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from omnivox.locks import KeyedLock
from omnivox.locks.memory import MemoryKeyedLock
from omnivox.ratelimit import MemoryWindows, Window, Windows
from omnivox.scaleout.client import RedisConnection
from omnivox.scaleout.errors import CoordinationUnavailableError
from omnivox.scaleout.locks import RedisKeyedLock
from omnivox.scaleout.peers import RedisPeers
from omnivox.scaleout.windows import RedisWindows
from tests.scaleout.conftest import connection, eventually, keys_of, members_of

pytestmark = pytest.mark.redis


@pytest.fixture
async def servers(
    tmp_path: Path, redis_settings: dict[str, Any]
) -> AsyncIterator[Callable[..., RedisConnection]]:
    """Make connections (one per server) on the test's prefix; all closed afterwards."""
    made: list[RedisConnection] = []

    def make(**extra: Any) -> RedisConnection:
        made.append(connection(tmp_path, redis_settings, **extra))
        return made[-1]

    yield make
    for conn in made:
        await conn.close()


@pytest.fixture(params=["memory", "redis"])
def lock(request: pytest.FixtureRequest, servers: Callable[..., RedisConnection]) -> KeyedLock:
    if request.param == "memory":
        return MemoryKeyedLock()
    return RedisKeyedLock(servers())


@pytest.fixture(params=["memory", "redis"])
def windows(request: pytest.FixtureRequest, servers: Callable[..., RedisConnection]) -> Windows:
    if request.param == "memory":
        return MemoryWindows()
    return RedisWindows(servers())


async def test_a_key_has_one_holder_at_a_time_and_keys_are_independent(lock: KeyedLock) -> None:
    order: list[str] = []

    async def hold(key: str, name: str, delay: float) -> None:
        async with lock.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(delay)
            order.append(f"{name}-")

    await asyncio.gather(hold("a", "a1", 0.1), hold("a", "a2", 0.0), hold("b", "b1", 0.01))
    assert order.index("a1-") < order.index("a2+")
    assert order.index("b1+") < order.index("a1-")


async def test_a_failing_holder_frees_the_key(lock: KeyedLock) -> None:
    with pytest.raises(RuntimeError):
        async with lock.hold("k"):
            raise RuntimeError("boom")
    async with asyncio.timeout(2), lock.hold("k"):
        pass


async def test_waiters_in_one_server_go_in_arrival_order(lock: KeyedLock) -> None:
    order: list[int] = []

    async def hold(n: int) -> None:
        async with lock.hold("k"):
            order.append(n)
            await asyncio.sleep(0.005)

    tasks = []
    for n in range(6):
        tasks.append(asyncio.create_task(hold(n)))
        await asyncio.sleep(0)  # each arrives after the previous one
    await asyncio.gather(*tasks)
    assert order == list(range(6))


async def test_two_servers_never_hold_one_key_together(
    servers: Callable[..., RedisConnection],
) -> None:
    first, second = RedisKeyedLock(servers()), RedisKeyedLock(servers())
    spans: list[tuple[float, float]] = []

    async def turn(lock: RedisKeyedLock) -> None:
        async with lock.hold("+15550100142"):
            start = time.monotonic()
            await asyncio.sleep(0.03)
            spans.append((start, time.monotonic()))

    await asyncio.gather(*(turn(lk) for lk in (first, second) * 4))
    spans.sort()
    assert len(spans) == 8
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


async def test_a_held_lock_outlives_its_lease_by_renewal(
    servers: Callable[..., RedisConnection],
) -> None:
    first = RedisKeyedLock(servers(), lease_s=1.0)
    second = RedisKeyedLock(servers(), lease_s=1.0)
    released = 0.0

    async def long_turn() -> None:
        nonlocal released
        async with first.hold("k"):
            await asyncio.sleep(2.5)  # two and a half leases
            released = time.monotonic()

    task = asyncio.create_task(long_turn())
    await asyncio.sleep(0.1)
    async with second.hold("k"):
        got = time.monotonic()
    await task
    assert got >= released


async def test_a_dead_servers_lock_frees_itself_when_its_lease_ends(
    servers: Callable[..., RedisConnection], redis_settings: dict[str, Any]
) -> None:
    conn = servers()
    name = conn.name("lock", "k")
    seconds, micros = await conn.client.time()  # Redis's clock, as the leases use
    now_ms = seconds * 1000 + micros // 1000
    await conn.client.rpush(f"{name}:queue", "a server that died")
    await conn.client.hset(f"{name}:leases", "a server that died", now_ms + 800)
    start = time.monotonic()
    lock = RedisKeyedLock(conn)
    async with asyncio.timeout(5), lock.hold("k"):
        waited = time.monotonic() - start
        assert await conn.client.lrange(f"{name}:queue", 0, -1) != [b"a server that died"]
    assert 0.6 < waited < 2.0
    await lock.close()
    assert keys_of(redis_settings) == []  # released: nothing left behind


async def test_a_late_release_cannot_free_the_next_holders_lock(
    servers: Callable[..., RedisConnection],
) -> None:
    conn = servers()
    lock = RedisKeyedLock(conn)
    name = conn.name("lock", "k")
    keys = [f"{name}:queue", f"{name}:leases"]
    await conn.client.rpush(keys[0], "the next holder")
    await conn.client.hset(keys[1], "the next holder", 2**50)
    await lock._free(keys, "an expired holder's token")
    assert await conn.client.lrange(keys[0], 0, -1) == [b"the next holder"]


async def test_servers_take_turns_in_the_order_messages_arrived(
    servers: Callable[..., RedisConnection],
) -> None:
    first, second = RedisKeyedLock(servers()), RedisKeyedLock(servers())
    order: list[str] = []

    async def turn(lock: RedisKeyedLock, name: str) -> None:
        async with lock.hold("+15550100142"):
            order.append(name)
            await asyncio.sleep(0.15)

    tasks = []
    for lock, name in ((first, "m1"), (second, "m2"), (first, "m3"), (first, "m4")):
        tasks.append(asyncio.create_task(turn(lock, name)))
        await asyncio.sleep(0.03)  # each reaches its server after the one before
    await asyncio.gather(*tasks)
    assert order == ["m1", "m2", "m3", "m4"]  # m2 once waited behind all of first's


async def test_keys_name_no_address(
    servers: Callable[..., RedisConnection], redis_settings: dict[str, Any]
) -> None:
    conn = servers()
    async with RedisKeyedLock(conn).hold("sms:+15550100142"):
        customer = Window("acme", "customer:+15550100142", 5, 60.0)
        await RedisWindows(conn).admit([customer], "sms:SM+15550100142")  # a named event
        names = b" ".join(keys_of(redis_settings))
        members = b" ".join(b" ".join(members_of(redis_settings, key)) for key in names.split())
    assert b"lock:" in names and b"rate:" in names
    assert b"1555" not in names + members and b"sms" not in names + members
    # keyed: trying every phone number's plain hash finds nothing
    plain = hashlib.sha256("\x00".join(["sms:+15550100142"]).encode()).hexdigest()[:32]
    assert plain.encode() not in names


async def test_redis_down_is_a_clear_error(tmp_path: Path, redis_settings: dict[str, Any]) -> None:
    conn = connection(tmp_path, redis_settings, url="redis://127.0.0.1:1/0")
    try:
        with pytest.raises(CoordinationUnavailableError, match=r"127\.0\.0\.1:1"):
            async with RedisKeyedLock(conn).hold("k"):
                pass
        with pytest.raises(CoordinationUnavailableError):
            await RedisWindows(conn).admit([Window("acme", "k", 1, 60.0)])
    finally:
        await conn.close()


async def test_a_window_allows_its_limit(windows: Windows) -> None:
    allowed = [await windows.admit([Window("acme", "k", 3, 60.0)]) for _ in range(5)]
    assert allowed == [None, None, None, 0, 0]
    assert await windows.admit([Window("acme", "other", 3, 60.0)]) is None
    assert await windows.admit([Window("globex", "k", 3, 60.0)]) is None


async def test_an_event_one_window_refuses_counts_in_none(windows: Windows) -> None:
    customer, service = Window("acme", "c", 5, 60.0), Window("acme", "all", 2, 60.0)
    assert [await windows.admit([customer, service]) for _ in range(3)] == [None, None, 1]
    # the refused third was not counted for the customer: 5 - 2 remain
    assert [await windows.admit([customer]) for _ in range(4)] == [None, None, None, 0]


async def test_a_named_event_counts_once_and_its_retry_has_room(windows: Windows) -> None:
    customer, service = Window("acme", "c", 2, 60.0), Window("acme", "all", 5, 60.0)
    assert await windows.admit([customer, service], "m1") is None
    assert await windows.admit([customer, service], "m1") is None  # a retry: not counted
    assert await windows.admit([customer, service], "m2") is None
    assert await windows.admit([customer, service], "m1") is None  # full, but m1 is in
    assert await windows.admit([customer, service], "m3") == 0
    assert await windows.admit([customer, service]) == 0
    # the service window counted m1 and m2 once each: 3 of 5 left
    assert [await windows.admit([service]) for _ in range(4)] == [None, None, None, 0]


async def test_full_tells_which_window_is_full_and_counts_nothing(windows: Windows) -> None:
    window, other = Window("acme", "k", 2, 60.0), Window("acme", "other", 2, 60.0)
    assert [await windows.full([window]) for _ in range(3)] == [None, None, None]
    assert [await windows.admit([window]) for _ in range(2)] == [None, None]
    assert await windows.full([other, window]) == 1
    assert await windows.admit([other]) is None  # asking used up none of other's room


async def test_a_window_slides(windows: Windows) -> None:
    window = Window("acme", "k", 2, 0.5)
    assert [await windows.admit([window]) for _ in range(3)] == [None, None, 0]
    await asyncio.sleep(0.6)
    assert await windows.admit([window]) is None


async def test_servers_share_the_count(servers: Callable[..., RedisConnection]) -> None:
    first, second = RedisWindows(servers()), RedisWindows(servers())
    window = Window("acme", "k", 3, 60.0)
    got = [await w.admit([window]) for w in (first, second, first, second)]
    assert got == [None, None, None, 0]


async def test_peers_hear_each_other_in_order_but_not_themselves(
    servers: Callable[..., RedisConnection],
) -> None:
    first, second = RedisPeers(servers()), RedisPeers(servers())
    heard: dict[str, list[Any]] = {"first": [], "second": []}

    async def on_first(message: dict[str, Any]) -> None:
        heard["first"].append(message["n"])

    async def on_second(message: dict[str, Any]) -> None:
        heard["second"].append(message["n"])

    first.on("webchat", on_first)
    second.on("webchat", on_second)
    await first.start()
    await second.start()
    try:
        for n in range(50):
            first.publish("webchat", {"n": n})
        first.publish("console", {"n": "another topic"})
        await eventually(lambda: len(heard["second"]) == 50)
        await asyncio.sleep(0.1)
        assert heard == {"first": [], "second": list(range(50))}
    finally:
        await first.close()
        await second.close()


async def test_counts_are_the_other_running_servers(
    servers: Callable[..., RedisConnection],
) -> None:
    first, second, third = (RedisPeers(servers()) for _ in range(3))
    for peers in (first, second, third):
        await peers.start()
    try:
        first.report("consoles:acme", 2)
        second.report("consoles:acme", 1)
        async with asyncio.timeout(5):
            while await third.tally("consoles:acme") != 3:  # noqa: ASYNC110 (other servers)
                await asyncio.sleep(0.01)
        assert await first.tally("consoles:acme") == 1  # its own are not counted
        assert await third.tally("consoles:globex") == 0
        await second.close()  # a server that stops withdraws its count
        assert await third.tally("consoles:acme") == 2
        # one that died (its field expired, never withdrawn) no longer counts
        key = f"{third.connection.prefix}:tally:consoles:acme"
        await third.connection.client.hset(key, "srv_dead", f"5 {int(time.time() * 1000) - 1}")
        assert await third.tally("consoles:acme") == 2
    finally:
        await first.close()
        await third.close()


async def test_a_stuck_handler_neither_stalls_the_listener_nor_the_shutdown(
    servers: Callable[..., RedisConnection],
) -> None:
    first, second = RedisPeers(servers()), RedisPeers(servers())
    heard: list[int] = []

    async def stuck(message: dict[str, Any]) -> None:  # a tab that never reads, whose
        try:  # send swallows a cancel once (as a Redis command can)
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(60)

    async def fine(message: dict[str, Any]) -> None:
        heard.append(message["n"])

    second.on("webchat", stuck)
    second.on("console", fine)
    await first.start()
    await second.start()
    first.publish("webchat", {"n": 0})
    for n in range(3):
        first.publish("console", {"n": n})
    await eventually(lambda: heard == [0, 1, 2])  # the stuck one holds nothing up
    started = time.monotonic()
    await second.close()
    assert time.monotonic() - started < 8
    await first.close()
