"""Routing rules: each one fires on its own signal, says why, and respects the channel."""

from __future__ import annotations

from typing import Any

from omnivox.understanding.analyzer import Analysis
from omnivox.understanding.config import ChannelRouting, IntentSpec, RoutingSettings
from omnivox.understanding.intents import IntentPrediction
from omnivox.understanding.language import Language
from omnivox.understanding.routing import decide
from omnivox.understanding.sentiment import Sentiment

SPECS = {
    "order_status": IntentSpec(name="order_status", action="order_status"),
    "returns": IntentSpec(name="returns", description="returning an item"),
    "exchanges": IntentSpec(name="exchanges"),
    "payment_dispute": IntentSpec(name="payment_dispute", risk="high"),
    "legal": IntentSpec(name="legal", handoff=True),
    "warranty": IntentSpec(name="warranty", risk="medium"),
}


def analysis(
    intent: str | None = "returns",
    confidence: float = 0.9,
    sentiment: float = 0.0,
    wants_person: bool = False,
    second: tuple[str, float] = ("exchanges", 0.05),
) -> Analysis:
    best = intent or "returns"
    prediction = IntentPrediction(intent, confidence, confidence, ((best, confidence), second))
    label = "negative" if sentiment < -0.05 else "neutral"
    return Analysis(
        Language("en", 0.99, True),
        Sentiment(sentiment, label),  # type: ignore[arg-type]
        (),
        prediction,
        wants_person,
    )


def nlu(sentiment: float = 0.0, confidence: float | None = 0.9) -> dict[str, Any]:
    return {
        "intent": None if confidence is None else "returns",
        "confidence": confidence,
        "out_of_scope": confidence is None,
        "sentiment": sentiment,
    }


def route(a: Analysis, recent: list[dict[str, Any]] | None = None, channel: str = "api", **kw: Any):  # type: ignore[no-untyped-def]
    return decide(a, recent or [], SPECS, RoutingSettings(**kw), channel)


def test_a_confident_question_is_answered() -> None:
    decision = route(analysis())
    assert decision.route == "answer"
    assert "intent returns (0.90)" in decision.reasons


def test_asking_for_a_person_beats_everything() -> None:
    decision = route(analysis("order_status", wants_person=True))
    assert decision.route == "handoff"
    assert decision.reasons[0] == "customer asked for a person"


def test_high_risk_and_handoff_intents_go_to_a_person() -> None:
    assert route(analysis("payment_dispute")).reasons[0] == "high-risk intent payment_dispute"
    assert route(analysis("legal")).reasons[0] == "intent legal always goes to a person"
    assert route(analysis("warranty")).route == "answer"
    assert route(analysis("warranty"), handoff_risk="medium").route == "handoff"


def test_a_negative_streak_hands_off() -> None:
    assert route(analysis(sentiment=-0.6)).route == "answer"
    decision = route(analysis(sentiment=-0.6), [nlu(0.2), nlu(-0.5)])
    assert decision.route == "handoff"
    assert decision.reasons[0].startswith("2 negative messages in a row")
    assert route(analysis(sentiment=-0.6), [nlu(-0.5), nlu(0.3)]).route == "answer"


def test_repeated_low_confidence_hands_off() -> None:
    unsure = analysis(confidence=0.3, second=("exchanges", 0.05))
    assert route(unsure).route == "answer"
    decision = route(unsure, [nlu(confidence=0.4)])
    assert decision.route == "handoff"
    assert decision.reasons[0].startswith("low confidence 2 times in a row")


def test_out_of_scope_counts_as_low_confidence_only_when_configured() -> None:
    oos = analysis(intent=None, confidence=0.2)
    assert route(oos, [nlu(confidence=None)]).route == "answer"
    assert route(oos, [nlu(confidence=None)], oos_is_low_confidence=True).route == "handoff"


def test_the_channel_tightens_the_rules() -> None:
    unsure = analysis(confidence=0.3)
    phone = {"voice": ChannelRouting(low_confidence_streak=1)}
    assert route(unsure, channel="voice", channels=phone).route == "handoff"
    assert route(unsure, channel="api", channels=phone).route == "answer"


def test_an_action_intent_acts() -> None:
    decision = route(analysis("order_status"))
    assert (decision.route, decision.action) == ("act", "order_status")


def test_an_action_runs_only_when_clearly_meant() -> None:
    # "the boots": report_problem 0.70, nothing close -> ask, do not open a ticket
    unsure = route(analysis("order_status", 0.70))
    assert unsure.route == "clarify" and unsure.options == ("order_status",)
    assert unsure.reasons[0] == "not sure enough to run order_status (0.70 < 0.75)"
    assert route(analysis("order_status", 0.70), act_confidence=0.6).route == "act"
    # the floor is never below low_confidence_below
    assert route(analysis("order_status", 0.45), act_confidence=0.3).route == "clarify"
    # confident, but the runner-up is too close -> ask which
    close = route(analysis("order_status", 0.80, second=("returns", 0.70)))
    assert close.route == "clarify" and close.options == ("order_status", "returns")
    no_menu = {"voice": ChannelRouting(clarify=False)}
    assert route(analysis("order_status", 0.6), channel="voice", channels=no_menu).route == (
        "answer"
    )


def test_an_action_too_close_to_a_high_risk_intent_goes_to_a_person() -> None:
    # "I was charged for the wrong size": report_problem 0.48 vs payment_dispute 0.45
    decision = route(analysis("order_status", 0.48, second=("payment_dispute", 0.45)))
    assert decision.route == "handoff"
    assert decision.reasons[0] == "too close to the high-risk intent payment_dispute to act"


def test_a_close_call_asks_to_clarify_unless_the_channel_cannot() -> None:
    close = analysis("returns", 0.48, second=("exchanges", 0.41))
    decision = route(close)
    assert decision.route == "clarify" and decision.options == ("returns", "exchanges")
    no_menu = {"voice": ChannelRouting(clarify=False)}
    assert route(close, channel="voice", channels=no_menu).route == "answer"


def test_no_intents_configured_still_routes() -> None:
    plain = Analysis(Language("en", 0.99, True), Sentiment(0.0, "neutral"), (), None, False)
    decision = route(plain)
    assert decision.route == "answer" and "no intents configured" in decision.reasons
    assert route(
        Analysis(Language("en", 0.9, True), Sentiment(0.0, "neutral"), (), None, True)
    ).route == ("handoff")
