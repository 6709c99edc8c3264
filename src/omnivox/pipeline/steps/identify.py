"""identify: the channel's sender -> a customer profile (created on first contact).

Stitching identities across channels (verified merges) builds on this step later; for now each
(channel, address) pair is one customer, and claimed contact details stay unverified.
"""

from __future__ import annotations

from omnivox.pipeline.context import TurnContext
from omnivox.storage.repositories import Store


class Identify:
    """Resolve the sender to a customer id."""

    name = "identify"
    finishing = False

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set ``customer_id`` and ``customer_created``."""
        sender = ctx.inbound.sender
        trusted = ctx.inbound.channel == "api" and ctx.workspace.trust_api_customer_ids
        ctx.customer_id, ctx.customer_created = await self.store.resolve_customer(
            ctx.inbound.workspace_id,
            ctx.inbound.channel,
            sender.address,
            sender.name,
            business_id=trusted,
        )
        return ctx
