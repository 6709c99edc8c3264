"""The outbox of provider channels: each outbound row is claimed before it is sent.

Row statuses (``messages.status``, direction ``out``): ``sending`` (claimed by one process; an
inline send inserts the row already claimed), then ``sent``, ``failed`` (refused for good, or
out of attempts) or ``retry`` (a transient failure; ``metadata.outbox.next_attempt_at``). Only a
``retry`` row is picked up again, by one claim (an UPDATE that checks the status), so no row is
sent twice by two workers. A row left ``sending`` by a process that died mid-send is marked
``unknown`` at the next start and not sent again: a provider may already have it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from omnivox.storage.db import Database
from omnivox.storage.models import Message
from omnivox.storage.repositories import StoredMessage
from omnivox.types import DeliveryReceipt, utcnow

RETRY_DELAYS_S = (2.0, 10.0, 60.0, 300.0, 900.0)
# provider delivery reports, in the order they happen; "failed" can follow any of them
PROGRESS = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


class OutboxStore:
    """Claims, retries and outcomes of outbound rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def due(self, now: datetime, limit: int = 50) -> list[StoredMessage]:
        """``retry`` rows whose next attempt is due, oldest first (not yet claimed)."""
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(Message)
                .where(Message.direction == "out", Message.status == "retry")
                .order_by(Message.seq)
                .limit(limit * 4)
            )
            found = [StoredMessage.of(r) for r in rows.scalars()]
        return [m for m in found if _next_attempt(m) <= now][:limit]

    async def claim(self, message: StoredMessage) -> bool:
        """Take a ``retry`` row for this process; False if another worker took it first."""
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Message)
                .where(Message.id == message.id, Message.status == "retry")
                .values(status="sending")
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def record(self, message: StoredMessage, receipt: DeliveryReceipt) -> str:
        """Store a send's outcome; returns the row's new status."""
        outbox = dict(message.metadata.get("outbox") or {})
        attempts = int(outbox.get("attempts", 0)) + 1
        status: str = receipt.status
        outbox["attempts"] = attempts
        if receipt.status == "failed" and receipt.retryable and attempts <= len(RETRY_DELAYS_S):
            status = "retry"
            delay = timedelta(seconds=RETRY_DELAYS_S[attempts - 1])
            outbox["next_attempt_at"] = (utcnow() + delay).isoformat()
        delivery = {"provider_message_id": receipt.provider_message_id, "error": receipt.error}
        meta: dict[str, Any] = {**message.metadata, "delivery": delivery, "outbox": outbox}
        values: dict[str, Any] = {"status": status, "meta": meta}
        if receipt.provider_message_id:  # so the provider's status reports can find the row
            values["provider_message_id"] = receipt.provider_message_id
        async with self.db.sessions.begin() as session:
            await session.execute(update(Message).where(Message.id == message.id).values(**values))
        return status

    async def suppress(self, message: StoredMessage) -> None:
        """A claimed row that must not be sent (consent withdrawn): ``suppressed``, for good."""
        meta = {**message.metadata, "suppressed": "consent withdrawn"}
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(status="suppressed", meta=meta)
            )

    async def apply_status(
        self, workspace_id: str, channel: str, provider_message_id: str, status: str
    ) -> bool:
        """Apply a provider's report (delivered, read, failed) on one of our messages.

        A status never moves backwards (a late "delivered" after "read" is ignored). True if a
        row changed.
        """
        if status not in PROGRESS:
            return False
        earlier = [s for s, rank in PROGRESS.items() if rank < PROGRESS[status]]
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Message)
                .where(
                    Message.workspace_id == workspace_id,
                    Message.channel == channel,
                    Message.direction == "out",
                    Message.provider_message_id == provider_message_id,
                    Message.status.in_(earlier),
                )
                .values(status=status)
            )
            return bool(getattr(result, "rowcount", 0))

    async def abandon_interrupted(self, older_than: timedelta) -> int:
        """Mark rows left ``sending`` by a dead process as ``unknown``; returns how many."""
        cutoff = utcnow() - older_than
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Message)
                .where(
                    Message.direction == "out",
                    Message.status == "sending",
                    Message.created_at < cutoff,
                )
                .values(status="unknown")
            )
            return int(getattr(result, "rowcount", 0) or 0)


def _next_attempt(message: StoredMessage) -> datetime:
    raw = (message.metadata.get("outbox") or {}).get("next_attempt_at")
    return datetime.fromisoformat(raw) if raw else message.created_at
