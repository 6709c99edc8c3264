"""guard_input: what the model may see of the customer's text.

Pass-through until PII redaction and the prompt-injection screen land (privacy issue): the
model text is the customer's text, unchanged.
"""

from __future__ import annotations

from omnivox.pipeline.context import TurnContext


class GuardInput:
    """Sets ``model_text``."""

    name = "guard_input"
    finishing = False

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Copy the inbound text into ``model_text``."""
        ctx.model_text = ctx.inbound.text
        return ctx
