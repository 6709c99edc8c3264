"""Engine, sessions and schema migrations (Alembic, applied at start)."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from omnivox.storage.sqlite_driver import OneTripDBAPI

MIGRATIONS = Path(__file__).with_name("migrations")


def advisory_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit integer) for a lock's name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def normalize_url(url: str) -> str:
    """Map plain ``sqlite://`` / ``postgresql://`` URLs to their async drivers."""
    parsed = make_url(url)
    driver = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }.get(parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


class Database:
    """Owns the async engine and the session factory."""

    def __init__(self, url: str, *, schema: str | None = None, echo: bool = False) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        connect_args: dict[str, Any] = {}
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            connect_args["timeout"] = 30
            # a turn's statements run on the event loop's thread (sqlite_driver.short_statements)
            connect_args["check_same_thread"] = False
            # One connection: SQLite has one writer anyway, and queueing on the pool is FIFO
            # and immediate, where competing connections poll the file lock with sleeps.
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
        if parsed.drivername == "sqlite+aiosqlite":
            kwargs["module"] = OneTripDBAPI()  # one thread handoff per statement, not four
        if parsed.get_backend_name() == "postgresql":
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
            if schema:
                connect_args["server_settings"] = {"search_path": schema}
        self.schema = schema
        # hide_parameters: a failed statement's exception (and so the log) must not carry the
        # values it wrote (customers' ids, names, message metadata)
        self.engine: AsyncEngine = create_async_engine(
            self.url, echo=echo, connect_args=connect_args, hide_parameters=not echo, **kwargs
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        if parsed.get_backend_name() == "sqlite":
            _enable_sqlite_pragmas(self.engine)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    async def migrate(self) -> None:
        """Apply every pending migration (creates the PostgreSQL schema if one is set)."""
        async with self.engine.begin() as conn:
            if self.schema and self.backend == "postgresql":
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            await conn.run_sync(_upgrade)

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Hold a lock named ``name`` across processes (PostgreSQL: an advisory lock).

        Two servers starting at once on an empty database both migrated and seeded, and one
        crashed on a unique key. SQLite gets a file lock beside the database instead.
        """
        if self.backend != "postgresql":
            async with self._file_lock(name):
                yield
            return
        async with self.engine.connect() as conn:
            key = {"k": advisory_key(name)}
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), key)
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)

    @asynccontextmanager
    async def _file_lock(self, name: str) -> AsyncIterator[None]:
        """SQLite's counterpart: an ``flock`` on a file beside the database (none in memory)."""
        database = make_url(self.url).database
        if not database or database == ":memory:":
            yield
            return
        path = Path(f"{database}.{advisory_key(name) & 0xFFFFFFFF:08x}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """True when the database answers within ``timeout_s`` (a probe must not hang)."""
        try:
            async with asyncio.timeout(timeout_s), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # readiness probe: any failure or a stall means "not ready"
            return False

    async def close(self) -> None:
        """Dispose of pooled connections."""
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _enable_sqlite_pragmas(engine: AsyncEngine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
