"""understand: language, intent (with confidence and out-of-scope), sentiment and entities.

The result is put on the turn (``ctx.analysis``) and stored on the message
(``metadata.nlu``; deliver writes it in the transaction that stores the reply, or alone when
there is none), where later turns read it back for sentiment and confidence trends. Order
numbers the customer mentions are remembered on their profile (``attributes.facts``), which
later turns give the model, on any channel.

An email's subject line is read for a request for a person too ("Please have a real person call
me, I want to speak to a manager" over a body about a broken zipper): the email channel puts a new
thread's subject in the message's text, never a reply's or a forward's ("Re: …", "Fwd: …": an
old request, already answered).
"""

from __future__ import annotations

import asyncio

from omnivox.pipeline.context import TurnContext
from omnivox.storage.repositories import MetadataUpdate
from omnivox.storage.signals import SignalStore
from omnivox.understanding.service import Understanding


class Understand:
    """Analyse the customer's message."""

    name = "understand"
    finishing = False

    def __init__(self, understanding: Understanding, signals: SignalStore) -> None:
        self.understanding = understanding
        self.signals = signals

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set ``analysis`` and the message's metadata to store.

        The earlier messages' analyses (``recent_nlu``) were read by attach, with the memory.
        """
        if ctx.message is None or ctx.conversation_id is None:
            return ctx
        previous = ctx.recent_nlu[-1].get("language") if ctx.recent_nlu else None
        nlu = self.understanding.get(ctx.inbound.workspace_id)
        # local analysis of the customer's own text (no model sees it): entities need the raw text
        args = (ctx.inbound.text, ctx.inbound.received_at, previous)
        if nlu.classifier is None:  # patterns and small models only: ~0.2 ms, no thread hop
            ctx.analysis = nlu.analyze(*args)
        else:  # the embedding model and the classifier: off the event loop
            ctx.analysis = await asyncio.to_thread(nlu.analyze, *args)
        ctx.message_update = MetadataUpdate.with_nlu(ctx.message, ctx.analysis.as_metadata())
        orders = [e.value for e in ctx.analysis.entities if e.kind == "order_number"]
        if orders and ctx.customer_id is not None:  # a fact learned in conversation
            await self.signals.learn(ctx.customer_id, "order_numbers", orders)
        return ctx
