"""Filling a tool's arguments from the message's entities, or asking for what is missing."""

from __future__ import annotations

from omnivox.actions.planner import ASK_NUMBER, plan
from omnivox.understanding.entities import EntityExtractor

EXTRACTOR = EntityExtractor(r"ACM-\d{6}")


def order_plan(text: str) -> tuple[object, str | None]:
    planned = plan("order_status", text, tuple(EXTRACTOR.extract(text)), "")
    return planned.arguments, planned.question


def test_one_order_number_is_looked_up() -> None:
    assert order_plan("where is ACM-482577?") == ({"order_number": "ACM-482577"}, None)
    assert order_plan("ACM-482577, yes ACM-482577") == ({"order_number": "ACM-482577"}, None)


def test_no_order_number_asks_for_it() -> None:
    assert order_plan("where is my order") == (None, ASK_NUMBER)


def test_several_order_numbers_ask_which_one() -> None:
    # the first one was looked up: the order the customer said had arrived
    arguments, question = order_plan("Not ACM-482193, that one arrived. Where is ACM-482577?")
    assert arguments is None
    assert question == "Which order should I check: ACM-482193 or ACM-482577?"
