"""The outbox worker.

It re-sends provider-channel messages whose send failed for a transient reason, with backoff,
after a restart too (see :mod:`omnivox.storage.outbox`), unless the customer has withdrawn
support consent on the channel meanwhile (the row becomes ``suppressed``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from omnivox import events
from omnivox.channels.base import ChannelAdapter
from omnivox.identity.consent import ConsentStore
from omnivox.logs import get_logger
from omnivox.storage.outbox import OutboxStore
from omnivox.storage.repositories import StoredMessage
from omnivox.types import DeliveryReceipt, OutboundMessage, utcnow

log = get_logger(__name__)
INTERRUPTED_AFTER = timedelta(minutes=2)  # longer than any provider send's timeout
SWEEP_EVERY_S = 60.0  # how often claims left by a dead process (this one or another) are swept


class OutboxWorker:
    """Polls for due ``retry`` rows, claims each one, sends it, records the outcome."""

    def __init__(
        self,
        store: OutboxStore,
        channels: Mapping[tuple[str, str], ChannelAdapter[Any]],
        interval_s: float = 1.0,
        consents: ConsentStore | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.interval_s = interval_s
        self.consents = consents
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Forever: send what is due every ``interval_s``; sweep interrupted sends each minute.

        The sweep runs on every server, every minute: a server that died mid-send may not be
        restarted, and another server keeps running.
        """
        swept = -SWEEP_EVERY_S
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            try:
                if loop.time() - swept >= SWEEP_EVERY_S:
                    swept = loop.time()
                    await self._sweep()
                await self.run_once()
            except Exception:  # a broken round must not stop future rounds
                log.exception("outbox.round_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    def stop(self) -> None:
        """Finish the send in progress (a cancelled send would be left ``unknown``), then end."""
        self._stopping.set()

    async def _sweep(self) -> None:
        abandoned = await self.store.abandon_interrupted(INTERRUPTED_AFTER)
        if abandoned:
            log.warning("outbox.interrupted", messages=abandoned)

    async def run_once(self) -> int:
        """One round; returns how many messages were sent."""
        sent = 0
        for row in await self.store.due(utcnow()):
            if self._stopping.is_set():  # shutting down: the rest waits for the next start
                break
            workspace = str(row.metadata.get("workspace_id", ""))
            channel = self.channels.get((workspace, row.channel))
            if channel is None:  # its channel was switched off since: it cannot go
                await self.store.give_up(row, f"channel {row.channel} is no longer configured")
                log.warning(events.MESSAGE_DELIVERED, message_id=row.id, status="failed")
                continue
            if not await self.store.claim(row):
                continue
            if not await self._allowed(row):
                await self.store.suppress(row)
                log.info(events.MESSAGE_DELIVERED, message_id=row.id, status="suppressed")
                continue
            message = OutboundMessage(
                row.channel,
                str(row.metadata.get("recipient", "")),
                row.text,
                {
                    "workspace_id": workspace,
                    "message_id": row.id,
                    "customer_wrote_at": row.metadata.get("customer_wrote_at"),
                    "conversation_id": row.conversation_id,
                    "channel_data": row.metadata.get("channel_data"),
                },
            )
            try:
                receipt = await channel.send(message)
            except Exception as exc:  # recorded; retried if attempts remain
                receipt = DeliveryReceipt(row.channel, "failed", error=repr(exc), retryable=True)
            status = await self.store.record(row, receipt)
            log.info(events.MESSAGE_DELIVERED, message_id=row.id, status=status, retried=True)
            sent += status == "sent"
        return sent

    async def _allowed(self, row: StoredMessage) -> bool:
        customer = row.metadata.get("customer_id")
        if self.consents is None or not customer:
            return True
        return await self.consents.allows(str(customer), "support", row.channel)
