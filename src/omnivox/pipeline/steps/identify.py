"""identify: the channel's sender -> a customer profile (created on first contact).

The sender is looked up as an identifier (:mod:`omnivox.identity.kinds`): a phone number is the
same identity on SMS, voice and WhatsApp. Identifiers proven some other way (a one-time code, a
signed link, the business's own records) were linked to their customer before this message, so
an exact match is all this step does; it never links anything a customer merely typed.
"""

from __future__ import annotations

from omnivox.identity.kinds import identity_of, proven_by_channel
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
        kind, address = identity_of(ctx.inbound.channel, sender.address)
        ctx.customer_id, ctx.customer_created = await self.store.resolve_customer(
            ctx.inbound.workspace_id,
            kind,
            address,
            sender.name,
            business_id=trusted,
            verified=proven_by_channel(kind),
        )
        return ctx
