"""Domain event names. They are stable: dashboards and tests depend on them."""

from __future__ import annotations

TURN_COMPLETED = "turn.completed"
TURN_FAILED = "turn.failed"
TURN_DUPLICATE = "turn.duplicate"
PIPELINE_STEP = "pipeline.step"
LLM_FALLBACK = "llm.fallback"
LLM_USAGE = "llm.usage"  # a model call outside a turn's answer (omnivox.llm.metered)
MESSAGE_DELIVERED = "message.delivered"
HANDOFF_REQUESTED = "handoff.requested"
ACTION_COMPLETED = "action.completed"
MESSAGE_STATUS = "message.status"
CUSTOMER_MERGED = "customer.merged"
CUSTOMER_UNMERGED = "customer.unmerged"
# kept for good: seed.agents does not bring the agent back; names the email by a keyed digest
AGENT_REMOVED = "agent.removed"
IDENTITY_CODE_SENT = "identity.code_sent"
IDENTITY_VERIFIED = "identity.verified"
IDENTITY_REFUSED = "identity.refused"
