"""understand: language, intent, sentiment and entities.

Pass-through until the understanding issue: it adds nothing to the context.
"""

from __future__ import annotations

from omnivox.pipeline.context import TurnContext


class Understand:
    """No classifiers are configured yet; leaves the context unchanged."""

    name = "understand"
    finishing = False

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Return the context untouched."""
        return ctx
