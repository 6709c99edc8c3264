"""attach: open or resume the conversation, store the message (deduplicated), load memory.

A known customer's open conversation is resumed from any channel while it was active within
``memory.continuity_hours``; ``ctx.resumed_from`` names the channel it moved from. Memory is
the last ``llm.history_turns`` turns verbatim, a rolling summary of the earlier ones
(:mod:`omnivox.memory.summary`) and a few profile facts.
"""

from __future__ import annotations

from datetime import timedelta

from omnivox.pipeline.context import TurnContext
from omnivox.storage.repositories import DuplicateMessageError, MemoryRules, Store


class Attach:
    """Find the conversation, persist the message, and read recent history."""

    name = "attach"
    finishing = False

    def __init__(
        self,
        store: Store,
        history_turns: int,
        continuity: timedelta | None = None,
        memory: MemoryRules | None = None,
    ) -> None:
        self.store = store
        self.history_messages = history_turns * 2
        self.continuity = continuity
        self.memory = memory or MemoryRules()

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set the conversation, the stored message and ``history``; halt on a duplicate."""
        assert ctx.customer_id is not None, "identify runs before attach"
        try:
            ctx.message, ctx.conversation_created = await self.store.attach_inbound(
                ctx.inbound, ctx.customer_id, self.continuity
            )
        except DuplicateMessageError as dup:
            ctx.duplicate_of = dup.original
            ctx.conversation_id = dup.original.conversation_id
            ctx.halt("duplicate")
            return ctx
        ctx.conversation_id = ctx.message.conversation_id
        ctx.resumed_from = ctx.message.metadata.get("resumed_from")
        if not ctx.conversation_created:
            recall = await self.store.recall(
                ctx.conversation_id, ctx.message.id, self.history_messages, self.memory
            )
            ctx.history, ctx.summary, ctx.facts = recall.history, recall.summary, recall.facts
        return ctx
