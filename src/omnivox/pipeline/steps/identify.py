"""identify: the channel's sender -> a customer profile (a newcomer on first contact).

The sender is looked up as an identifier (:mod:`omnivox.identity.kinds`): a phone number is the
same identity on SMS, voice and WhatsApp. Identifiers proven some other way (a one-time code, a
signed link, the business's own records) were linked to their customer before this message, so
an exact match is all this step does; it never links anything a customer merely typed.

A sender nobody knows becomes a :class:`~omnivox.storage.repositories.Newcomer`: the customer
and the identity are written by attach, in the transaction that stores the message (a resent
first message then leaves no customer behind either).
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from omnivox.identity.kinds import identity_of, proven_by_channel
from omnivox.locks import KeyedLock, customer_key
from omnivox.pipeline.context import TurnContext
from omnivox.storage.repositories import Newcomer, Store


class Identify:
    """Resolve the sender to a customer id.

    A known customer's turn then holds that customer's lock until it ends (``ctx.held``), so
    two messages of one customer on two channels at once are answered one after the other, in
    one conversation, each with the other in its history (the turn service's own lock is per
    sender and channel).
    """

    name = "identify"
    finishing = False

    def __init__(self, store: Store, locks: KeyedLock | None = None) -> None:
        self.store = store
        self.locks = locks

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set ``customer_id`` and ``customer_created`` (and ``newcomer`` for a new sender)."""
        inbound = ctx.inbound
        trusted = inbound.channel == "api" and ctx.workspace.trust_api_customer_ids
        kind, address = identity_of(inbound.channel, inbound.sender.address)
        owner = await self._held_owner(ctx, kind, address, trusted)
        if owner is not None:
            ctx.customer_id, ctx.customer_created = owner, False
            return ctx
        newcomer = Newcomer(
            inbound.workspace_id, kind, address, inbound.sender.name, proven_by_channel(kind)
        )
        ctx.newcomer, ctx.customer_id, ctx.customer_created = newcomer, newcomer.id, True
        return ctx

    async def _held_owner(
        self, ctx: TurnContext, kind: str, address: str, trusted: bool
    ) -> str | None:
        """The sender's customer, its lock held until the turn ends (``ctx.held``).

        Looked up again once the lock is held: an unmerge holds it while it moves identities
        back, and a turn that waited for it answers the owner the identifier has now (until
        2026-12-05 it went on with the profile it was merged into, in that one's conversation).
        """
        workspace_id = ctx.inbound.workspace_id
        owner = await self.store.identity_owner(workspace_id, kind, address, business_id=trusted)
        while owner is not None and self.locks is not None:
            async with AsyncExitStack() as held:
                await held.enter_async_context(self.locks.hold(customer_key(workspace_id, owner)))
                now = await self.store.identity_owner(
                    workspace_id, kind, address, business_id=trusted
                )
                if now == owner:  # kept held: the turn's stack lets it go
                    await ctx.held.enter_async_context(held.pop_all())
                    return owner
            owner = now
        return owner
