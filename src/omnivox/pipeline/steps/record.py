"""record: one event per turn with step timings, usage, route and provider."""

from __future__ import annotations

from typing import Any

from omnivox import events
from omnivox.bus import EventRecord, EventSink
from omnivox.logs import get_logger
from omnivox.pipeline.context import (
    CUSTOMER_ERASED,
    MESSAGE_ID_REUSED,
    MESSAGE_ID_TAKEN,
    TurnContext,
)
from omnivox.understanding.sentiment import trend

log = get_logger(__name__)


def turn_payload(ctx: TurnContext) -> dict[str, Any]:
    """What the dashboard and benchmarks read about a turn."""
    return {
        "channel": ctx.inbound.channel,
        "customer_id": ctx.customer_id,
        "message_id": ctx.message.id if ctx.message else None,
        "route": ctx.decision.route if ctx.decision else None,
        "route_reasons": list(ctx.decision.reasons) if ctx.decision else [],
        **usage_payload(ctx),
        "passages": len(ctx.passages),
        "grounded": ctx.grounding,
        "fallback": ctx.fallback,
        "fallback_similarity": ctx.fallback_similarity,
        "cache_hit": ctx.cache_hit,
        "policy_rewrites": list(ctx.policy.rewrites) if ctx.policy else [],
        "policy_blocked": ctx.policy.blocked_by if ctx.policy else None,
        "halted": ctx.halted,
        "experiment": ctx.variant.experiment if ctx.variant else None,
        "variant": ctx.variant.name if ctx.variant else None,
        **understanding_payload(ctx),
    }


def usage_payload(ctx: TurnContext) -> dict[str, Any]:
    """The turn's model calls so far, for its event (completed or failed).

    The answer's provider, fallbacks and timings, and the tokens and cost of every call (the
    tool choice's too).
    """
    trace = ctx.llm_trace
    usage = ctx.usage
    return {
        "provider": trace.provider if trace else None,
        "fallbacks": trace.failures if trace else [],
        "first_token_ms": trace.first_token_ms if trace else None,
        "model_ms": trace.model_ms if trace else None,
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "cached_tokens": usage.cached_tokens if usage else 0,
        "cost_usd": usage.cost_usd if usage else 0.0,
    }


def understanding_payload(ctx: TurnContext) -> dict[str, Any]:
    """Intent, confidence, sentiment, language and the action's outcome of the turn."""
    analysis = ctx.analysis
    nlu = analysis.as_metadata() if analysis else {}
    mood = None
    if analysis is not None:
        scores = [float(n.get("sentiment") or 0.0) for n in ctx.recent_nlu]
        conversation = trend([*scores, analysis.sentiment.score])
        mood = {"mean": conversation.mean, "direction": conversation.direction}
    return {
        "intent": nlu.get("intent"),
        "confidence": nlu.get("confidence"),
        "sentiment": nlu.get("sentiment"),
        "sentiment_trend": mood,
        "language": nlu.get("language"),
        "action": ctx.action_result,
    }


class Record:
    """Queue ``turn.completed`` (or ``turn.duplicate``) for the event log."""

    name = "record"
    finishing = True

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Write the event; the timings are those of every step before this one."""
        # a refused request stores nothing; nothing stays of an erased customer's turn
        if ctx.halted in (MESSAGE_ID_TAKEN, MESSAGE_ID_REUSED, CUSTOMER_ERASED):
            return ctx
        kind = events.TURN_DUPLICATE if ctx.duplicate_of else events.TURN_COMPLETED
        payload = turn_payload(ctx)
        self.sink.emit(
            EventRecord(
                kind,
                workspace_id=ctx.inbound.workspace_id,
                conversation_id=ctx.conversation_id,
                turn_id=ctx.turn_id,
                payload=payload,
                timings=dict(ctx.timings),
            )
        )
        log.info(kind, provider=payload["provider"], route=payload["route"])
        return ctx
