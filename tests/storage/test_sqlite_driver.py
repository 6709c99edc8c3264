"""The SQLite driver: one trip to aiosqlite's thread per statement (none in a short block)."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from omnivox.storage import sqlite_driver
from omnivox.storage.db import Database
from omnivox.storage.sqlite_driver import INLINE_BUDGET_S, short_statements


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the functions handed to aiosqlite's worker thread."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(
        self: aiosqlite.Connection, fn: object, *args: object, **kw: object
    ) -> object:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kw)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield seen


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/driver.db")
    async with database.sessions.begin() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield database
    await database.close()


async def test_a_statement_is_one_trip_and_a_read_needs_no_commit_or_rollback(
    db: Database, trips: list[str]
) -> None:
    async with db.sessions() as session:  # warm: the pool holds the connection now
        await session.execute(text("SELECT 1"))
    trips.clear()
    async with db.sessions.begin() as session:
        rows = (await session.execute(text("SELECT 1 AS one, 2 AS two"))).all()
    assert [tuple(r) for r in rows] == [(1, 2)]
    assert trips == ["_run"]  # no cursor open/close, no commit, no rollback on return
    trips.clear()
    async with db.sessions.begin() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('a')"))
    assert trips == ["_run", "commit"]  # a write is committed


async def test_the_stock_adapter_needs_several_trips_for_the_same_read(
    tmp_path: Path, trips: list[str]
) -> None:
    """What the driver saves: SQLAlchemy's own adapter, measured the same way."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/stock.db")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        trips.clear()
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        assert len(trips) >= 4
    finally:
        await engine.dispose()


async def test_rowcount_lastrowid_many_rows_and_executemany(db: Database) -> None:
    async with db.sessions.begin() as session:
        inserted = await session.execute(text("INSERT INTO t (v) VALUES ('x')"))
        assert inserted.lastrowid == 1  # type: ignore[attr-defined]
        await session.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": f"row{i}"} for i in range(50)]
        )
    async with db.sessions.begin() as session:
        changed = await session.execute(text("UPDATE t SET v = v || '!' WHERE v LIKE 'row%'"))
        assert changed.rowcount == 50  # type: ignore[attr-defined]
    async with db.sessions() as session:
        result = await session.execute(text("SELECT id, v FROM t ORDER BY id"))
        assert list(result.keys()) == ["id", "v"]
        first_two = result.fetchmany(2)
        rest = result.fetchall()
    assert [tuple(r) for r in first_two] == [(1, "x"), (2, "row0!")]
    assert len(rest) == 49 and rest[-1][1] == "row49!"


async def test_rollback_still_undoes_an_open_write(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('gone')"))
            raise RuntimeError("abort the transaction")
    async with db.sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_constraint_errors_surface_as_sqlalchemy_errors_and_leave_nothing(
    db: Database,
) -> None:
    async with db.sessions.begin() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('once')"))
    with pytest.raises(IntegrityError):
        async with db.sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('other')"))
            await session.execute(text("INSERT INTO t (v) VALUES ('once')"))
    async with db.sessions() as session:
        values = (await session.execute(text("SELECT v FROM t"))).scalars().all()
    assert values == ["once"]  # the whole transaction rolled back, 'other' too


async def test_short_statements_and_their_commit_run_on_the_loop(
    db: Database, trips: list[str]
) -> None:
    async with db.sessions() as session:
        await session.execute(text("SELECT 1"))
    trips.clear()
    with short_statements():
        async with db.sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('a')"))
            seen = (await session.execute(text("SELECT v FROM t"))).scalars().all()
            await session.execute(text("UPDATE t SET v = 'b'"))
    assert seen == ["a"] and trips == []
    async with db.sessions() as session:  # outside the block: the worker thread again
        assert (await session.execute(text("SELECT v FROM t"))).scalar() == "b"
    assert trips == ["_run"]
    async with db.sessions.begin() as session:
        await session.execute(text("UPDATE t SET v = 'c'"))
    assert trips == ["_run", "_run", "commit"]


def _in_database_file(path: Path, marker: str) -> bool:
    """Whether ``marker`` was copied from the WAL into the database file (a checkpoint)."""
    return marker.encode() in path.read_bytes()


async def test_an_inline_commit_leaves_the_checkpoint_to_the_next_commit_on_the_worker(
    db: Database, tmp_path: Path, trips: list[str]
) -> None:
    """The WAL checkpoint (copy into the file, sync it) never runs on the loop's thread."""
    async with db.sessions() as session:
        await session.execute(text("PRAGMA wal_autocheckpoint=1"))  # every commit, as a rule
    file = tmp_path / "driver.db"
    async with db.sessions.begin() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('on-the-worker')"))
    assert _in_database_file(file, "on-the-worker")  # SQLite checkpointed in that commit
    trips.clear()
    with short_statements():
        for i in range(3):
            async with db.sessions.begin() as session:
                await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"inline-{i}"})
    assert trips == []
    assert not any(_in_database_file(file, f"inline-{i}") for i in range(3))  # in the WAL
    async with db.sessions() as session:  # committed all the same
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 4
    async with db.sessions.begin() as session:  # outside a turn: the worker, which checkpoints
        await session.execute(text("INSERT INTO t (v) VALUES ('next')"))
    assert all(_in_database_file(file, f"inline-{i}") for i in range(3))
    async with db.sessions() as session:  # the setting is the connection's own again
        assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 1


async def test_after_many_inline_commits_one_goes_to_the_worker(
    db: Database, trips: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that the WAL stays bounded when nothing but turns writes."""
    monkeypatch.setattr(sqlite_driver, "MAX_INLINE_COMMITS", 2)
    trips.clear()
    with short_statements():
        for i in range(6):
            async with db.sessions.begin() as session:
                await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": str(i)})
    assert trips == ["commit", "commit"]  # two inline, the third on the worker, and again


async def test_with_a_rollback_journal_commits_stay_on_the_worker(
    db: Database, trips: list[str]
) -> None:
    """A rollback journal's commit syncs the database file: not on the loop's thread."""
    async with db.sessions() as session:
        mode = (await session.execute(text("PRAGMA journal_mode=DELETE"))).scalar()
    assert mode == "delete"
    trips.clear()
    with short_statements():
        async with db.sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('a')"))
    assert trips == ["commit"]
    async with db.sessions() as session:
        assert (await session.execute(text("SELECT v FROM t"))).scalar() == "a"


async def test_a_locked_database_sends_the_write_to_the_worker_which_waits(
    db: Database, tmp_path: Path, trips: list[str]
) -> None:
    """Another process holds the write lock: the loop never waits for it, the worker does."""
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the write lock, as another process would hold it
    ticks: list[float] = []

    async def ticker() -> None:  # runs only while the loop is free
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    async def release() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    background = asyncio.create_task(ticker())
    releaser = asyncio.create_task(release())
    trips.clear()
    try:
        with short_statements():
            async with db.sessions.begin() as session:
                await session.execute(text("INSERT INTO t (v) VALUES ('after the lock')"))
    finally:
        background.cancel()
        await releaser
        other.close()
    assert trips == ["_run"]  # the write went to the worker thread (the commit did not wait)
    assert len(ticks) >= 10  # ~0.3 s of waiting, and the loop ticked all along
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.2
    async with db.sessions() as session:
        assert (await session.execute(text("SELECT v FROM t"))).scalar() == "after the lock"


async def test_a_long_read_is_interrupted_on_the_loop_and_finished_by_the_worker(
    db: Database, trips: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the budget is checked at every step, so that anything else run while the handler is
    # still installed (once the budget is spent) would be interrupted too: nothing may be
    monkeypatch.setattr(sqlite_driver, "_PROGRESS_STEPS", 1)
    async with db.sessions.begin() as session:
        await session.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": i} for i in range(199)])
    slow = text("SELECT count(*) FROM t a, t b, t c")  # 8 million rows: far over the budget
    trips.clear()
    with short_statements():
        async with db.sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('kept')"))
            started = time.perf_counter()
            count = (await session.execute(slow)).scalar()
            took = time.perf_counter() - started
    assert count == 200**3
    assert trips == ["_run"]  # the read went to the worker; the insert and commit did not
    assert took > 10 * INLINE_BUDGET_S  # it was long: the loop gave it up after the budget
    async with db.sessions() as session:  # the interrupted read cost the transaction nothing
        assert (await session.execute(text("SELECT count(*) FROM t WHERE v = 'kept'"))).scalar()


async def test_other_statements_go_to_the_worker_even_in_a_short_block(
    db: Database, trips: list[str]
) -> None:
    with short_statements():
        async with db.sessions() as session:
            trips.clear()
            counted = text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) "
                "SELECT count(*) FROM n"
            )
            assert (await session.execute(counted)).scalar() == 10
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "a"}, {"v": "b"}])
            assert trips == ["_run", "_run"]  # a WITH and an executemany: never on the loop
