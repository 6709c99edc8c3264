"""Routing rules: answer | act | handoff | clarify, with every reason that led there.

Rules, first match wins (a later rule never overrides a handoff):
1. the customer asks for a person, in any phrasing;
2. the intent is marked ``handoff: true``, or its risk is at or above ``handoff_risk``;
3. a streak of negative messages (``negative_streak`` in a row, this one included);
4. repeated low confidence: the best intent below ``low_confidence_below`` (or, with
   ``oos_is_low_confidence``, no intent at all) ``low_confidence_streak`` times in a row;
5. the intent has an action -> act, but only when it is clearly meant: with the runner-up within
   ``clarify_margin`` -> handoff when that runner-up is high-risk, else clarify; with a
   confidence below ``act_confidence`` (or ``low_confidence_below``) -> clarify ("do you mean
   ...?"); a channel that cannot clarify answers instead;
6. the two best intents are too close to tell apart -> clarify (where the channel allows);
7. otherwise answer (out-of-scope questions too: the knowledge base may still know, and the
   grounding guard says so honestly when it does not).
The channel can tighten thresholds (``routing.channels.<name>``): on the phone, one miss may be
enough to fetch a person, and a clarifying menu may be out of place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omnivox.types import Route
from omnivox.understanding.analyzer import Analysis
from omnivox.understanding.config import IntentSpec, RoutingSettings
from omnivox.understanding.sentiment import trend

RISK_ORDER = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True, slots=True)
class Decision:
    """The route, why, and what it needs (the action to run, the intents to choose from)."""

    route: Route
    reasons: tuple[str, ...]
    action: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The routing settings after the channel's overrides."""

    negative_streak: int
    low_confidence_streak: int
    clarify: bool


def thresholds(settings: RoutingSettings, channel: str) -> Thresholds:
    """Apply the channel's overrides."""
    override = settings.channels.get(channel)
    return Thresholds(
        negative_streak=(override and override.negative_streak) or settings.negative_streak,
        low_confidence_streak=(override and override.low_confidence_streak)
        or settings.low_confidence_streak,
        clarify=settings.clarify
        if override is None or override.clarify is None
        else override.clarify,
    )


def is_low_confidence(nlu: dict[str, Any], settings: RoutingSettings) -> bool:
    """True when a stored understanding counts as low confidence.

    That is: the best intent is unsure, or (with ``oos_is_low_confidence``) no intent fits.
    """
    if nlu.get("intent") is None:
        return settings.oos_is_low_confidence and nlu.get("out_of_scope") is True
    return float(nlu.get("confidence") or 0.0) < settings.low_confidence_below


def decide(
    analysis: Analysis,
    recent: Sequence[dict[str, Any]],
    specs: dict[str, IntentSpec],
    settings: RoutingSettings,
    channel: str,
) -> Decision:
    """Route one turn. ``recent`` are the customer's earlier messages' NLU, oldest first."""
    limits = thresholds(settings, channel)
    intent = analysis.intent
    spec = specs.get(intent.intent) if intent and intent.intent else None
    facts = _facts(analysis, spec)
    if analysis.wants_person:
        return Decision("handoff", ("customer asked for a person", *facts))
    if spec is not None and spec.handoff:
        return Decision("handoff", (f"intent {spec.name} always goes to a person", *facts))
    if spec is not None and RISK_ORDER[spec.risk] >= RISK_ORDER[settings.handoff_risk]:
        return Decision("handoff", (f"{spec.risk}-risk intent {spec.name}", *facts))
    scores = [float(n.get("sentiment") or 0.0) for n in recent] + [analysis.sentiment.score]
    negative = trend(scores, settings.negative_below).negative_streak
    if negative >= limits.negative_streak:
        reason = f"{negative} negative messages in a row (channel {channel})"
        return Decision("handoff", (reason, *facts))
    current = analysis.as_metadata()
    low = _streak([is_low_confidence(n, settings) for n in [*recent, current]])
    if intent is not None and low >= limits.low_confidence_streak:
        reason = f"low confidence {low} times in a row (channel {channel})"
        return Decision("handoff", (reason, *facts))
    options = _close_call(analysis, settings.clarify_margin)
    if spec is not None and spec.action:
        return _act(analysis, spec, specs, settings, limits, options, facts)
    if options and limits.clarify:
        return Decision(
            "clarify", (f"too close to call: {' or '.join(options)}", *facts), None, options
        )
    return Decision("answer", ("no rule asked for anything else", *facts))


def _act(
    analysis: Analysis,
    spec: IntentSpec,
    specs: dict[str, IntentSpec],
    settings: RoutingSettings,
    limits: Thresholds,
    options: tuple[str, ...],
    facts: tuple[str, ...],
) -> Decision:
    """Run the intent's action only when it is clearly what the customer wants.

    Too close to a high-risk runner-up -> a person; too close to call, or below
    ``act_confidence`` (and ``low_confidence_below``) -> ask (on a channel that cannot ask:
    answer); otherwise act.
    """
    assert analysis.intent is not None
    confidence = analysis.intent.confidence
    runner_up = specs.get(options[1]) if options else None
    if runner_up is not None and RISK_ORDER[runner_up.risk] >= RISK_ORDER[settings.handoff_risk]:
        reason = f"too close to the {runner_up.risk}-risk intent {runner_up.name} to act"
        return Decision("handoff", (reason, *facts))
    floor = max(settings.act_confidence, settings.low_confidence_below)
    if not options and confidence >= floor:
        return Decision("act", (f"intent {spec.name} runs {spec.action}", *facts), spec.action)
    if options:
        reason = f"too close to call: {' or '.join(options)}"
    else:
        reason = f"not sure enough to run {spec.action} ({confidence:.2f} < {floor:.2f})"
        options = (spec.name,)
    if limits.clarify:
        return Decision("clarify", (reason, *facts), None, options)
    return Decision("answer", (reason, *facts))


def _facts(analysis: Analysis, spec: IntentSpec | None) -> tuple[str, ...]:
    intent = analysis.intent
    facts = [f"sentiment {analysis.sentiment.label} ({analysis.sentiment.score:+.2f})"]
    if intent is None:
        facts.append("no intents configured")
    elif intent.out_of_scope:
        facts.append(f"out of scope (score {intent.scope_score:.2f})")
    else:
        facts.append(f"intent {intent.intent} ({intent.confidence:.2f})")
    return tuple(facts)


def _streak(flags: Sequence[bool]) -> int:
    count = 0
    for flag in reversed(flags):
        if not flag:
            break
        count += 1
    return count


def _close_call(analysis: Analysis, margin: float) -> tuple[str, ...]:
    intent = analysis.intent
    if intent is None or intent.out_of_scope or len(intent.candidates) < 2:
        return ()
    (first, p1), (second, p2) = intent.candidates[:2]
    if "oos" in (first, second) or p1 - p2 >= margin:
        return ()
    return (first, second)
