"""deliver: write each outbound message to the outbox first, then send it."""

from __future__ import annotations

from dataclasses import replace

from omnivox import events
from omnivox.logs import get_logger
from omnivox.pipeline.context import TurnContext
from omnivox.storage.repositories import Store
from omnivox.types import DeliveryReceipt

log = get_logger(__name__)


class Deliver:
    """Outbox row (pending) -> channel send -> recorded receipt."""

    name = "deliver"
    finishing = True

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Append stored outbound messages to ``delivered``."""
        if not ctx.outbound or ctx.conversation_id is None:
            return ctx
        workspace_id = ctx.inbound.workspace_id
        in_reply_to = ctx.message.id if ctx.message else None
        meta = {"provider": ctx.reply.provider if ctx.reply else None, "turn_id": ctx.turn_id}
        for message in ctx.outbound:
            row = await self.store.store_outbound(
                workspace_id,
                ctx.conversation_id,
                message.channel,
                message.text,
                in_reply_to,
                {**meta, "citations": message.payload.get("citations", [])},
            )
            ready = replace(
                message,
                payload={
                    **message.payload,
                    "workspace_id": workspace_id,
                    "conversation_id": ctx.conversation_id,
                    "message_id": row.id,
                },
            )
            try:
                receipt = await ctx.channel.send(ready)
            except Exception as exc:  # recorded on the outbox row for a retry
                receipt = DeliveryReceipt(message.channel, "failed", error=str(exc))
            await self.store.mark_delivery(row, receipt)
            log.info(events.MESSAGE_DELIVERED, message_id=row.id, status=receipt.status)
            ctx.delivered.append(replace(row, status=receipt.status))
        return ctx
