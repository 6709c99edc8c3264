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

This relies on ``aiosqlite.Connection._execute`` (queue a function for the worker thread), which
aiosqlite's own public methods are built on; the SQLite test suite runs every query through it.
"""

from __future__ import annotations

import collections
import sqlite3
from dataclasses import dataclass
from typing import Any

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
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            outcome: _Outcome = await connection._execute(
                _run, connection, operation, parameters, many
            )
        self._outcome = outcome
        self._rows = collections.deque(outcome.rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Uses :class:`OneTripCursor`; commits and rolls back only what is open."""

    __slots__ = ()
    _cursor_cls = OneTripCursor

    def _idle(self) -> bool:
        """True when SQLite holds no open transaction (reading the flag needs no handoff)."""
        raw: sqlite3.Connection | None = self._connection._connection
        return raw is not None and not raw.in_transaction

    def rollback(self) -> None:
        """Roll back, unless there is nothing open (SQLite's rollback would do nothing)."""
        if not self._idle():
            super().rollback()

    def commit(self) -> None:
        """Commit, unless there is nothing open (a transaction that only read)."""
        if not self._idle():
            super().commit()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI adapter, handing out :class:`OneTripConnection` objects."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        """Connect as SQLAlchemy's adapter does, then wrap the connection in ours."""
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)
