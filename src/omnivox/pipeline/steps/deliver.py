"""deliver: write each outbound message to the outbox first, then send it.

A provider channel's reply is not sent when the customer withdrew support consent on that
channel (SMS STOP): the row is kept as ``suppressed`` for agents to see. Web chat and REST
replies answer a live request and are always returned. A REST reply is the HTTP response
itself (``Capabilities.in_response``), so its row is written once, already ``sent``; every
other channel's row gets the channel's receipt after the send.

What the turn learned about the customer's message (``ctx.message_update``: its understanding)
is written in the transaction that stores the first reply, or alone when there is no reply.

A customer erased while their turn ran (``DELETE /api/v1/customers/...`` or ``omnivox customers
erase`` from another process) has no conversation left to store the reply in: the turn halts as
``customer_erased`` and nothing of it is written, instead of failing on the foreign key.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.exc import IntegrityError

from omnivox import events
from omnivox.channels.base import Capabilities
from omnivox.identity.consent import ConsentStore
from omnivox.logs import get_logger
from omnivox.pipeline.context import CUSTOMER_ERASED, TurnContext
from omnivox.storage.outbox import OutboxStore
from omnivox.storage.repositories import MetadataUpdate, Store
from omnivox.types import DeliveryReceipt

log = get_logger(__name__)


class Deliver:
    """Outbox row (pending) -> channel send -> recorded receipt (one write for REST)."""

    name = "deliver"
    finishing = True

    def __init__(
        self,
        store: Store,
        outbox: OutboxStore | None = None,
        consents: ConsentStore | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.consents = consents

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Append stored outbound messages to ``delivered``."""
        try:
            return await self._deliver(ctx)
        except IntegrityError:
            if ctx.conversation_id is None or await self.store.conversation_exists(
                ctx.conversation_id
            ):
                raise
            log.info("turn.customer_erased", conversation_id=ctx.conversation_id)
            ctx.outbound, ctx.message_update = [], None
            ctx.halt(CUSTOMER_ERASED)
            return ctx

    async def _deliver(self, ctx: TurnContext) -> TurnContext:
        if not ctx.outbound or ctx.conversation_id is None:
            if ctx.message_update is not None:
                await self.store.save_metadata(ctx.message_update)
                ctx.message_update = None
            return ctx
        workspace_id = ctx.inbound.workspace_id
        in_reply_to = ctx.message.id if ctx.message else None
        meta = {
            "provider": ctx.reply.provider if ctx.reply else None,
            "turn_id": ctx.turn_id,
            # when the customer last wrote: channels with a reply window (WhatsApp) check it
            "customer_wrote_at": ctx.inbound.received_at.isoformat(),
        }
        claimed = ctx.channel.capabilities.outbox and self.outbox is not None
        if claimed and not await self._allowed(ctx):
            for message in ctx.outbound:  # kept for agents to see, never sent
                row = await self.store.store_outbound(
                    workspace_id,
                    ctx.conversation_id,
                    message.channel,
                    message.text,
                    in_reply_to,
                    {**meta, "recipient": message.recipient, "suppressed": "consent withdrawn"},
                    status="suppressed",
                    inbound=_take_update(ctx),
                )
                log.info(events.MESSAGE_DELIVERED, message_id=row.id, status="suppressed")
                ctx.delivered.append(row)
            return ctx
        # an earlier message (of this turn, or of one before) failed for now: this one queues
        # behind it, so the customer reads them in order
        waiting = bool(claimed and self.outbox and await self.outbox.waiting(ctx.conversation_id))
        for message in ctx.outbound:
            row = await self.store.store_outbound(
                workspace_id,
                ctx.conversation_id,
                message.channel,
                message.text,
                in_reply_to,
                {
                    **meta,
                    "citations": message.payload.get("citations", []),
                    # what a retry needs to rebuild the message (email: subject, threading)
                    "channel_data": message.payload.get("channel_data"),
                    "recipient": message.recipient,
                    "workspace_id": workspace_id,
                    "customer_id": ctx.customer_id,  # the outbox checks consent again on retry
                },
                status=_first_status(ctx.channel.capabilities, claimed),
                inbound=_take_update(ctx),
            )
            ready = replace(
                message,
                payload={
                    **message.payload,
                    "workspace_id": workspace_id,
                    "conversation_id": ctx.conversation_id,
                    "message_id": row.id,
                    "customer_wrote_at": meta["customer_wrote_at"],
                },
            )
            if waiting and claimed and self.outbox is not None:
                await self.outbox.queue_behind(row)
                ctx.delivered.append(replace(row, status="retry"))
                continue
            try:
                receipt = await ctx.channel.send(ready)
            except Exception as exc:  # recorded on the outbox row for a retry
                receipt = DeliveryReceipt(message.channel, "failed", error=str(exc))
            if claimed and self.outbox is not None:
                status = await self.outbox.record(row, receipt)
                waiting = status == "retry"
            elif (receipt.status, receipt.error) != (row.status, None):
                await self.store.mark_delivery(row, receipt)
                status = receipt.status
            else:  # stored as sent already (the reply is in the HTTP response)
                status = row.status
            log.info(events.MESSAGE_DELIVERED, message_id=row.id, status=status)
            sent = replace(row, status=status)
            if receipt.error:  # what an agent's reply reports when the channel refused it
                refused = {"delivery": {"error": receipt.error}}
                sent = replace(sent, metadata={**row.metadata, **refused})
            ctx.delivered.append(sent)
        return ctx

    async def _allowed(self, ctx: TurnContext) -> bool:
        """Whether the customer still allows support messages on this channel."""
        if self.consents is None or ctx.customer_id is None:
            return True
        return await self.consents.allows(ctx.customer_id, "support", ctx.channel.name)


def _take_update(ctx: TurnContext) -> MetadataUpdate | None:
    """The customer's message's pending metadata, for the first row written (then none)."""
    update, ctx.message_update = ctx.message_update, None
    return update


def _first_status(capabilities: Capabilities, claimed: bool) -> str:
    """A new outbound row's status before the channel answers.

    ``sending`` for an outbox claim, ``sent`` when the HTTP response carries the reply, else
    ``pending``.
    """
    if claimed:
        return "sending"
    return "sent" if capabilities.in_response else "pending"
