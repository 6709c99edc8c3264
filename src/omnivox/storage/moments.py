"""A timestamp column that reads back timezone-aware on every database.

PostgreSQL's ``timestamptz`` returns aware datetimes; SQLite stores text without an offset
and returned naive ones, so code comparing a stored time with ``utcnow()`` worked on one backend
and raised ``TypeError`` on the other (the WhatsApp reply window of an agent's reply did).
Values are written in UTC and read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always gives back UTC-aware values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware values as UTC (SQLite keeps no offset); naive ones are taken as UTC."""
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """UTC attached to what SQLite returns naive."""
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)
