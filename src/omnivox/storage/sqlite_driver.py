"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs every call on one worker thread per connection; each call is a handoff between
the event loop and that thread (~0.1-0.3 ms on a small machine). SQLAlchemy's adapter makes four
of them per statement (open a cursor, execute, fetch the rows, close the cursor) and one more
when a connection goes back to the pool, to roll back even when nothing is open. A REST turn
made ~47 handoffs (counted with a wrapper around ``_execute``); with this module ~14
(docs/configuration.md#database).

:class:`OneTripDBAPI` is a drop-in DBAPI module for ``create_async_engine(..., module=...)``:
its cursor runs open-execute-fetch-close as one function on the worker thread, and its
connection skips commit and rollback when SQLite reports no open transaction (they would do
nothing then: a session that only read, a connection going back to the pool). Results are
fetched whole, as SQLAlchemy's adapter does for client-side cursors; server-side (streaming)
cursors are unchanged.

Inside :func:`short_statements` (a turn: every statement reads or writes a few rows by index)
a statement does not go to the worker thread at all: it runs on the event loop's thread, which
saves the handoff (~0.26 ms p50, ~0.6 ms p95 each on 2 cores; a new customer's turn runs 7
statements, a returning customer's 10). Two guards keep the loop from ever waiting long there:

- no waiting for a lock: the statement runs with SQLite's busy timeout at 0, and if another
  process holds the write lock (``SQLITE_BUSY``, the statement did nothing) it goes to the
  worker thread, which waits for the lock as every other statement does (``timeout``);
- a SELECT that runs longer than :data:`INLINE_BUDGET_S` is interrupted (a progress handler;
  an interrupted SELECT changes nothing, the transaction stays open) and runs again on the
  worker thread. INSERT, UPDATE and DELETE are never interrupted (SQLite would roll back the
  whole transaction): that is why only short blocks run writes here. Anything else (``WITH``,
  DDL, pragmas, ``executemany``) goes to the worker as before. Rollbacks stay on the worker.

A short block's commit runs on the loop's thread too, when the database is in WAL mode: it
appends the transaction's pages to the WAL (no fsync with ``synchronous=NORMAL``) and takes no
lock (the transaction holds the write lock already). What must not run on the loop is the
automatic WAL checkpoint SQLite runs in the commit that takes the WAL past
``wal_autocheckpoint`` pages (copying them into the database file and syncing it): for the
inline commit it is switched off, and the next commit on the worker thread (the event writer's,
after every turn, or anything outside a turn) checkpoints as SQLite would. After
:data:`MAX_INLINE_COMMITS` inline commits in a row, a short block commits on the worker
thread again, so the WAL stays bounded when nothing else writes. A commit handed to the worker
waited ~0.1 ms p50 there, and 2-5 ms in ~5 % of a turn's commits when the thread had to wait
for a core after a generation (docs/configuration.md#database).

This relies on ``aiosqlite.Connection._execute`` (queue a function for the worker thread), which
aiosqlite's own public methods are built on, and on ``check_same_thread=False`` (set by
:class:`omnivox.storage.db.Database`: one statement at a time uses the connection, under the
adapter's mutex, from either thread); the SQLite test suite runs every query through it.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a statement left behind, read on the worker thread."""

    description: Any
    rowcount: int
    lastrowid: int | None
    rows: list[Any]


_NOTHING = _Outcome(None, -1, None, [])
INLINE_BUDGET_S = 0.002  # a read on the loop's thread that takes longer goes to the worker
MAX_INLINE_COMMITS = 100  # then one on the worker thread, which checkpoints when due
_PROGRESS_STEPS = 1000  # SQLite virtual-machine steps between two looks at the clock
_short: ContextVar[bool] = ContextVar("omnivox_short_statements", default=False)


@contextmanager
def short_statements() -> Iterator[None]:
    """SQLite statements in this block (and tasks it starts) run on the calling thread.

    For work whose every statement touches a few rows by index: a turn. See the module text.
    """
    token = _short.set(True)
    try:
        yield
    finally:
        _short.reset(token)


class _Handoff(Exception):
    """The statement could not run on the loop's thread now (and did nothing)."""


def _run_inline(
    connection: aiosqlite.Connection, operation: Any, parameters: Any, busy_ms: int
) -> _Outcome:
    """Run one statement here, never waiting for a lock; reads within the time budget.

    ``busy_ms`` is the connection's busy timeout, set again afterwards.
    """
    raw: sqlite3.Connection = connection._conn
    read = _verb(operation) == "SELECT"
    raw.execute("PRAGMA busy_timeout=0")
    if read:  # installed for this statement alone: any other would be interrupted too
        deadline = time.perf_counter() + INLINE_BUDGET_S
        raw.set_progress_handler(lambda: time.perf_counter() > deadline, _PROGRESS_STEPS)
    try:
        return _run(connection, operation, parameters, False)
    except sqlite3.OperationalError as exc:
        if _locked(exc):
            raise _Handoff from exc
        if read and exc.sqlite_errorcode == sqlite3.SQLITE_INTERRUPT:
            raise _Handoff from exc
        raise
    finally:
        if read:
            raw.set_progress_handler(None, 0)
        raw.execute(f"PRAGMA busy_timeout={busy_ms}")


def _locked(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock (it did nothing)."""
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


_INLINE_VERBS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})


def _verb(operation: Any) -> str:
    """The statement's first word, upper case ("" for anything but SQL text)."""
    return operation.lstrip()[:6].upper() if isinstance(operation, str) else ""


def _run(connection: aiosqlite.Connection, operation: Any, parameters: Any, many: bool) -> _Outcome:
    """Open a cursor, execute, fetch everything and close: on aiosqlite's worker thread."""
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        rows = cursor.fetchall() if cursor.description else []
        return _Outcome(cursor.description, cursor.rowcount, cursor.lastrowid, rows)
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement costs one handoff to the worker thread."""

    __slots__ = ("_outcome", "_size")

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor to open
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # base close() then has nothing to do
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._outcome = _NOTHING
        self._size = 1

    @property
    def description(self) -> Any:
        """The last statement's column description (None after DML)."""
        return self._outcome.description

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""
        return self._outcome.rowcount

    @property
    def lastrowid(self) -> Any:
        """Row id of the last inserted row."""
        return self._outcome.lastrowid

    @property
    def arraysize(self) -> int:
        """Rows ``fetchmany()`` returns by default."""
        return self._size

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._size = value

    async def _async_soft_close(self) -> None:
        """Nothing to close: the SQLite cursor was closed on the worker thread."""

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._trip(operation, seq_of_parameters, many=True)

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapt = cast("OneTripConnection", self._adapt_connection)
        async with adapt._execute_mutex:
            connection: Any = self._connection  # an aiosqlite.Connection
            outcome: _Outcome | None = None
            if _short.get() and not many and _verb(operation) in _INLINE_VERBS:
                try:
                    outcome = _run_inline(connection, operation, parameters, adapt.busy_ms)
                except _Handoff:
                    outcome = None  # the worker thread runs it, waiting as long as it must
            if outcome is None:
                outcome = await connection._execute(_run, connection, operation, parameters, many)
        self._outcome = outcome
        self._rows = collections.deque(outcome.rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Uses :class:`OneTripCursor`; commits and rolls back only what is open."""

    __slots__ = ("busy_ms", "checkpoint_pages", "inline_commits")
    _cursor_cls = OneTripCursor
    busy_ms: int  # SQLite's busy timeout on this connection (sqlite3.connect's ``timeout``)
    inline_commits: int  # commits on the loop's thread since the last one on the worker
    checkpoint_pages: int | None  # wal_autocheckpoint; 0: commit on the worker (None: unread)

    def _idle(self) -> bool:
        """True when SQLite holds no open transaction (reading the flag needs no handoff)."""
        raw: sqlite3.Connection | None = self._connection._connection
        return raw is not None and not raw.in_transaction

    def rollback(self) -> None:
        """Roll back, unless there is nothing open (SQLite's rollback would do nothing)."""
        if not self._idle():
            super().rollback()

    def commit(self) -> None:
        """Commit, unless there is nothing open (a transaction that only read).

        In a short block, on the loop's thread without the automatic checkpoint (module text).
        """
        if self._idle():
            return
        if _short.get() and self._commit_inline():
            self.inline_commits += 1
            return
        super().commit()
        self.inline_commits = 0

    def _commit_inline(self) -> bool:
        """Commit on this thread; False (nothing done) when it must go to the worker."""
        if self.inline_commits >= MAX_INLINE_COMMITS:
            return False
        raw: sqlite3.Connection = self._connection._conn
        if self.checkpoint_pages is None:
            self.checkpoint_pages = _checkpoint_pages(raw)
        if not self.checkpoint_pages:  # a rollback journal's commit syncs the file
            return False
        raw.execute("PRAGMA busy_timeout=0")
        raw.execute("PRAGMA wal_autocheckpoint=0")
        try:
            raw.commit()
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                return False  # still open: the worker commits it, waiting for the lock
            self._handle_exception(exc)
        finally:
            raw.execute(f"PRAGMA wal_autocheckpoint={self.checkpoint_pages}")
            raw.execute(f"PRAGMA busy_timeout={self.busy_ms}")
        return True


def _checkpoint_pages(raw: sqlite3.Connection) -> int:
    """``wal_autocheckpoint`` in WAL mode (0 when off); 0 with a rollback journal."""
    if raw.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        return 0
    return int(raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI adapter, handing out :class:`OneTripConnection` objects."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        """Connect as SQLAlchemy's adapter does, then wrap the connection in ours."""
        stock = super().connect(*arg, **kw)
        connection = OneTripConnection(self, stock._connection)
        connection.busy_ms = round(float(kw.get("timeout", 5.0)) * 1000)  # sqlite3's default
        connection.inline_commits = 0
        connection.checkpoint_pages = None  # read at the first inline commit
        return connection
