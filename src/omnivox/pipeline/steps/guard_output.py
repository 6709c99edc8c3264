"""guard_output: grounding, policy, brand terms and PII-leak checks on the answer.

Pass-through until the knowledge-base issue brings the grounding guard: the reply is unchanged.
"""

from __future__ import annotations

from omnivox.pipeline.context import TurnContext


class GuardOutput:
    """Checks the reply before it is rendered; no checks are configured yet."""

    name = "guard_output"
    finishing = False

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Return the context untouched."""
        return ctx
