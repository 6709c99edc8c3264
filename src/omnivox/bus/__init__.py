"""Event delivery off the request path: an in-process queue by default."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from omnivox.types import utcnow


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One domain event, as appended to the events table."""

    type: str
    workspace_id: str | None = None
    conversation_id: str | None = None
    turn_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)


class EventSink(Protocol):
    """Accepts events now, stores them soon."""

    def emit(self, event: EventRecord) -> None:
        """Queue one event; never blocks the caller."""
        ...

    async def flush(self) -> None:
        """Wait until every queued event is stored."""
        ...

    async def close(self) -> None:
        """Flush and stop."""
        ...
