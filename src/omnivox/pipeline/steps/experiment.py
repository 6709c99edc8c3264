"""experiment: the customer's variant of the workspace's A/B experiment (docs/analytics.md).

Right after identify, the first step that knows the customer: every later step of the turn
(generate's persona and temperature, guard_output's brand policy, record's event) reads
``ctx.variant``. The step is in the pipeline only when some workspace runs an experiment.
"""

from __future__ import annotations

from collections.abc import Mapping

from omnivox.experiments import Assigner
from omnivox.pipeline.context import TurnContext


class Experiment:
    """Set ``ctx.variant`` for customers of a workspace with an experiment."""

    name = "experiment"
    finishing = False

    def __init__(self, assigners: Mapping[str, Assigner]) -> None:
        self.assigners = assigners  # by workspace id

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Assign the turn's customer (identify set ``customer_id``)."""
        assigner = self.assigners.get(ctx.workspace.id)
        if assigner is not None and ctx.customer_id is not None:
            ctx.variant = assigner.assign(ctx.customer_id)
        return ctx
