"""What the desk tells the customer, and what its suggested reply answers."""

from __future__ import annotations

from pathlib import Path

from omnivox.channels.api import ApiChannel
from omnivox.handoff.desk import HandoffDesk, next_steps, suggestion_question
from omnivox.pipeline.context import TurnContext
from omnivox.types import CustomerRef, HistoryItem, InboundMessage
from tests.conftest import make_settings

WS = make_settings(Path("/tmp"), workspaces=[{"id": "acme", "name": "Acme"}]).workspaces[0]


def said(text: str) -> HistoryItem:
    return HistoryItem("in", text, "api")


def test_the_suggestion_answers_the_question_not_the_request_for_a_person() -> None:
    history = [
        said("How long do I have to return a jacket?"),
        HistoryItem("out", "You have 60 days.", "api"),
    ]
    assert suggestion_question(history, "agent") == "How long do I have to return a jacket?"
    assert suggestion_question(history, "can I talk to a human?") == (
        "How long do I have to return a jacket?"
    )
    # a message with its own question is the one to answer
    assert suggestion_question(history, "Do you ship to Canada?") == "Do you ship to Canada?"
    # a message with details besides the request is the one to answer; a greeting is not
    assert suggestion_question(history, "77 Canaryfield Lane. I want to talk to a person") == (
        "77 Canaryfield Lane. I want to talk to a person"
    )
    assert suggestion_question(history, "Hi. Agent please") == (
        "How long do I have to return a jacket?"
    )
    # nothing else to go on: the request itself
    assert suggestion_question([], "agent") == "agent"


def test_whatsapp_out_of_hours_does_not_promise_a_reply_after_the_window() -> None:
    told = next_steps(WS, online=False, reach="window")
    assert "as soon as they're back" in told
    assert "only within 24 hours of your latest message" in told
    assert "send us any message" in told
    assert "24 hours" not in next_steps(WS, online=False, reach="here")
    assert "24 hours" not in next_steps(WS, online=True, reach="window")


def test_a_whatsapp_handoff_is_told_about_the_window() -> None:
    desk = HandoffDesk(None, None, None, None, None, lambda w, n: None)  # type: ignore[arg-type]
    ctx = TurnContext(
        InboundMessage("acme", "whatsapp", CustomerRef("13035550188"), "a person please"),
        WS,
        ApiChannel(),
        "turn_1",
    )
    assert desk._reach(ctx) == "window"
