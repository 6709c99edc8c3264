"""route: answer | act | hand off | clarify.

With no understanding signals yet, every turn is answered; the decision records that reason so
the dashboard can tell default routing from rule-based routing.
"""

from __future__ import annotations

from omnivox.pipeline.context import RouteDecision, TurnContext


class RouteStep:
    """Decide what to do with the turn."""

    name = "route"
    finishing = False

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set ``decision``."""
        ctx.decision = RouteDecision("answer", ("default: no routing rules configured",))
        return ctx
