"""The outbox of provider channels: each outbound row is claimed before it is sent.

Row statuses (``messages.status``, direction ``out``): ``sending`` (claimed by one process; an
inline send inserts the row already claimed), then ``sent``, ``failed`` (refused for good, or
out of attempts) or ``retry`` (a transient failure, due at ``next_attempt_at``). Only a
``retry`` row is picked up again, by one claim (an UPDATE that checks the status), so no row is
sent twice by two workers; a conversation's rows go in order: none is sent while an earlier one
of its conversation waits to be retried (``retry``) or is being sent (``sending``, by this
server or another). A row left ``sending`` (``claimed_at``) longer than any send takes, by a
process that died mid-send, is marked ``unknown`` and not sent again: a provider may already
have it. ``unknown`` is final, so it holds nothing back (the rows behind it go on after the
sweep).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import aliased

from omnivox.storage.db import Database
from omnivox.storage.models import Message
from omnivox.storage.repositories import StoredMessage
from omnivox.types import DeliveryReceipt, utcnow

# the statuses of an outbound row not yet settled: a later row of its conversation waits
PENDING = ("retry", "sending")
RETRY_DELAYS_S = (2.0, 10.0, 60.0, 300.0, 900.0)
MAX_RETRY_AFTER_S = 3600.0  # a provider's Retry-After is honoured up to this
# provider delivery reports, in the order they happen; "failed" can follow any of them
PROGRESS = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


class OutboxStore:
    """Claims, retries and outcomes of outbound rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def due(self, now: datetime, limit: int = 50) -> list[StoredMessage]:
        """Due ``retry`` rows, oldest first.

        None behind an earlier row of its conversation that waits for a retry or is being sent
        (claimed by another worker, or an inline send).
        """
        earlier = aliased(Message)
        waiting_before = exists().where(
            earlier.conversation_id == Message.conversation_id,
            earlier.direction == "out",
            earlier.status.in_(PENDING),
            earlier.seq < Message.seq,
        )
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(Message)
                .where(
                    Message.status == "retry",
                    Message.direction == "out",
                    or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
                    ~waiting_before,
                )
                .order_by(Message.seq)
                .limit(limit)
            )
            return [StoredMessage.of(r) for r in rows.scalars()]

    async def claim(self, message: StoredMessage) -> bool:
        """Take a ``retry`` row for this process; False if another worker took it first."""
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Message)
                .where(Message.id == message.id, Message.status == "retry")
                .values(status="sending", claimed_at=utcnow())
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def give_up(self, message: StoredMessage, error: str) -> None:
        """A ``retry`` row that cannot be sent any more (its channel is gone): ``failed``."""
        delivery = {"provider_message_id": None, "error": error}
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(Message)
                .where(Message.id == message.id, Message.status == "retry")
                .values(status="failed", meta={**message.metadata, "delivery": delivery})
            )

    async def waiting(self, conversation_id: str) -> bool:
        """Whether a message of the conversation waits for a retry or is being sent.

        A new one goes behind it (a retry in flight included).
        """
        async with self.db.sessions() as session:
            found = await session.execute(
                select(Message.seq)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.direction == "out",
                    Message.status.in_(PENDING),
                )
                .limit(1)
            )
            return found.first() is not None

    async def queue_behind(self, message: StoredMessage) -> None:
        """Make a stored, unsent row wait its turn behind an earlier failed part (``retry``)."""
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(status="retry", next_attempt_at=None, claimed_at=None)
            )

    async def record(self, message: StoredMessage, receipt: DeliveryReceipt) -> str:
        """Store a send's outcome; returns the row's new status."""
        outbox = dict(message.metadata.get("outbox") or {})
        attempts = int(outbox.get("attempts", 0)) + 1
        status: str = receipt.status
        outbox["attempts"] = attempts
        next_attempt_at = None
        if receipt.status == "failed" and receipt.retryable and attempts <= len(RETRY_DELAYS_S):
            status = "retry"
            delay = RETRY_DELAYS_S[attempts - 1]
            if receipt.retry_after_s is not None:  # the provider's wish, within an hour
                delay = max(delay, min(receipt.retry_after_s, MAX_RETRY_AFTER_S))
            next_attempt_at = utcnow() + timedelta(seconds=delay)
        delivery = {"provider_message_id": receipt.provider_message_id, "error": receipt.error}
        meta: dict[str, Any] = {**message.metadata, "delivery": delivery, "outbox": outbox}
        values: dict[str, Any] = {
            "status": status,
            "meta": meta,
            "next_attempt_at": next_attempt_at,
            "claimed_at": None,
        }
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
        """Mark rows claimed (``sending``) longer ago than any send takes as ``unknown``.

        Their process died mid-send (another server's sends in progress are younger).
        Returns how many.
        """
        cutoff = utcnow() - older_than
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Message)
                .where(
                    Message.status == "sending",
                    Message.direction == "out",
                    func.coalesce(Message.claimed_at, Message.created_at) < cutoff,
                )
                .values(status="unknown")
            )
            return int(getattr(result, "rowcount", 0) or 0)
