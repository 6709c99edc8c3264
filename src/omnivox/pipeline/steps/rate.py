"""rate: a 1-5 answer to "How did we do?" is a rating, not a question."""

from __future__ import annotations

import re
from datetime import timedelta

from omnivox.handoff.csat import RATING_DAYS, THANKS
from omnivox.pipeline.context import TurnContext
from omnivox.storage.handoffs import HandoffStore
from omnivox.types import Reply, utcnow

_SCORE = re.compile(r"^\s*([1-5])\s*[.!]?\s*$")


class Rate:
    """Store the score of the customer's latest resolved handoff, and thank them."""

    name = "rate"
    finishing = False

    def __init__(self, handoffs: HandoffStore) -> None:
        self.handoffs = handoffs

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Halt with thanks when the message rates a resolved conversation."""
        score = _SCORE.match(ctx.inbound.text)
        if score is None or ctx.customer_id is None:
            return ctx
        since = utcnow() - timedelta(days=RATING_DAYS)
        view = await self.handoffs.awaiting_rating(ctx.customer_id, since)
        if view is not None and await self.handoffs.rate(
            view, ctx.inbound.channel, int(score.group(1))
        ):
            ctx.halt("rated", Reply(THANKS))
        return ctx
