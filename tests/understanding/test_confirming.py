"""Reading the answer to "Just to be sure I help with the right thing: A or B?"."""

from __future__ import annotations

import pytest

from omnivox.pipeline.steps.route import declines, opens_with_yes
from omnivox.understanding.confirming import answer

TWO = (["returns", "shipping"], ["returning or exchanging an item", "shipping options and costs"])
ONE = (["report_problem"], ["reporting a damaged, faulty or wrong item"])


def read(text: str, offered: tuple[list[str], list[str]]) -> str | None:
    return answer(text, offered[0], offered[1], opens_with_yes, declines)


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        ("the first one", "returns"),
        ("the second", "shipping"),
        ("the latter please", "shipping"),
        ("the last one", "shipping"),
        ("shipping", "shipping"),
        ("returning it", "returns"),
        ("no, the shipping one", "shipping"),
        ("No, the second one", "shipping"),
        ("option 2", "shipping"),
        ("1", "returns"),
        ("yes", "again"),  # which one?
        ("sure, please", "again"),
        ("yes I want to know more", None),
        ("no", None),
        ("not the first", None),
        ("neither", None),
        ("the third one", None),  # only two were offered
        ("I have 2 broken mugs", None),  # a count, not a place
        ("got 1 broken", None),
        ("the 2 please", "shipping"),
        ("how much is shipping to Canada?", None),  # a question of its own
        ("actually I wanted to know about returning my boots from last year", None),
    ],
)
def test_an_answer_to_two_intents(text: str, chosen: str | None) -> None:
    assert read(text, TWO) == chosen


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        ("yes", "report_problem"),
        ("Yes please", "report_problem"),
        ("sí", "report_problem"),
        ("yep, it's damaged", "report_problem"),
        ("the first one", "report_problem"),
        ("no", "declined"),
        ("no thanks", "declined"),
        ("not really", "declined"),
        ("yes?", None),
        ("never got my order", None),  # says what is wrong: read on its own
        ("not delivered", None),
        ("no it is broken", None),
        ("nope, sorry", "declined"),
        ("neither", "declined"),
        # the no and thanks of the languages a no is read in
        ("nein danke", "declined"),
        ("non merci", "declined"),
        ("no, gracias", "declined"),
        ("nee, dank je", "declined"),
        ("нет, спасибо", "declined"),
        ("nie, dziękuję", "declined"),
        ("нет, оно сломано", None),  # says what is wrong (its words are not ASCII)
        ("what are your store hours", None),
        # Spanish openings that only look like a yes: "no longer", "and ..."
        ("ya no lo quiero", None),
        ("¡Ya no lo quiero!", None),  # Spanish exclaims with "¡" first
        ("y no funciona", None),
        ("ya, claro", "report_problem"),
        ("y", "report_problem"),
    ],
)
def test_an_answer_to_one_intent(text: str, chosen: str | None) -> None:
    assert read(text, ONE) == chosen


def test_a_negation_inside_the_yes_is_the_problem_not_a_no() -> None:
    assert read("yes, it's not waterproof", ONE) == "report_problem"
