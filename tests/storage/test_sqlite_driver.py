"""The SQLite driver: one trip to aiosqlite's thread per statement, same results as stock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from omnivox.storage.db import Database


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
