"""Domain event names. They are stable: dashboards and tests depend on them."""

from __future__ import annotations

TURN_COMPLETED = "turn.completed"
TURN_FAILED = "turn.failed"
TURN_DUPLICATE = "turn.duplicate"
PIPELINE_STEP = "pipeline.step"
LLM_FALLBACK = "llm.fallback"
ROUTE_DECIDED = "route.decided"
MESSAGE_DELIVERED = "message.delivered"

ALL = frozenset(
    {
        TURN_COMPLETED,
        TURN_FAILED,
        TURN_DUPLICATE,
        PIPELINE_STEP,
        LLM_FALLBACK,
        ROUTE_DECIDED,
        MESSAGE_DELIVERED,
    }
)
