"""Filling a tool's arguments from the message's entities, or asking for what is missing."""

from __future__ import annotations

import pytest

from omnivox.actions.base import Choice
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


# the customer's own three latest orders, as listed (newest first), with their items
LISTED = (
    Choice(
        "ACM-495310", names=("Basecamp 2 Backpacking Tent", "Featherlite Insulated Sleeping Pad")
    ),
    Choice("ACM-482577", names=("Timberline Waterproof Hiking Boots - Women's",)),
    Choice(
        "ACM-482193", names=("Ridgeline 3L Rain Jacket - Women's", "Alpine Merino 200 Base Layer")
    ),
)


def picked(text: str, offered: tuple[Choice, ...] = LISTED) -> object:
    planned = plan("order_status", text, tuple(EXTRACTOR.extract(text)), "", offered)
    return planned.arguments["order_number"] if planned.arguments and planned.picked else None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("the second one", "ACM-482577"),
        ("the 2nd", "ACM-482577"),
        ("2", "ACM-482577"),
        ("#3 please", "ACM-482193"),
        ("First.", "ACM-495310"),
        ("the last one", "ACM-482193"),
        ("I mean the third order", "ACM-482193"),
        ("the jacket one", "ACM-482193"),
        ("the boots", "ACM-482577"),
        ("the one with the rain jacket", "ACM-482193"),
        ("Tent", "ACM-495310"),
    ],
)
def test_a_reply_picks_one_of_the_listed_orders(text: str, number: str) -> None:
    assert picked(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "4",  # no fourth order was listed
        "the fifth one",
        "the women's one",  # two orders have women's items
        "the parka",  # in none of them
        "are you open on sunday",
        "the second one arrived but I have a question about the returns policy",
        "ACM-482193",  # a listed number is that number, as before
        "yes",
        "²",  # a digit but no number: int() raised, and the turn failed
        "①",
    ],
)
def test_anything_else_picks_nothing(text: str) -> None:
    assert picked(text) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("el segundo", "ACM-482577"),
        ("El último, por favor", "ACM-482193"),
        ("la deuxième", "ACM-482577"),
        ("celle-là, la 1ère s'il vous plaît", "ACM-495310"),
        ("die zweite bitte", "ACM-482577"),
        ("Die letzte Bestellung", "ACM-482193"),
        ("il primo", "ACM-495310"),
        ("o último", "ACM-482193"),
        ("de laatste", "ACM-482193"),
        ("Второй", "ACM-482577"),
        ("последний заказ, пожалуйста", "ACM-482193"),
        ("drugi", "ACM-482577"),
        ("to ostatnie zamówienie", "ACM-482193"),
        ("İkincisi", "ACM-482577"),
        ("sonuncu sipariş", "ACM-482193"),
        ("la terza", "ACM-482193"),
        ("die mit der Jacket", "ACM-482193"),  # item words with another language's fillers
    ],
)
def test_a_reply_in_another_language_picks_too(text: str, number: str) -> None:
    # was English only: "el segundo" was understood on its own, and the number asked again
    assert picked(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "for my son",  # Turkish "son" is "last": left out
        "son",
        "I want it to last",  # "to" is Polish filler, but only around Polish places
        "the last ten",
        "el cuarto",  # no fourth order was listed
        "no, el segundo no",
        "nicht die zweite",
        "второй раз пишу",  # "I'm writing for the second time"
        "la segunda vez que pregunto",
    ],
)
def test_another_languages_words_pick_nothing_else(text: str) -> None:
    assert picked(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "one second",
        "Just a second please",
        "a second please",
        "un segundo",
        "Une seconde svp",
        "um segundo",
        "un secondo per favore",
    ],
)
def test_asking_for_a_moment_picks_nothing(text: str) -> None:
    # "second" is a unit of time there: the second listed order was looked up instead
    assert picked(text) is None
    assert picked("the second one") == "ACM-482577"  # a place still picks


@pytest.mark.parametrize(
    "text",
    [
        "the last one no",  # these picked: "no" was English filler ("No. 2")
        "no 2",
        "No, the second one",
        "no the jacket",
        "not the second one",
        "don't check the first one",
        "the boots? nope",
        "non, la deuxième",
        "nie drugi",
    ],
)
def test_a_reply_with_a_negation_picks_nothing(text: str) -> None:
    assert picked(text) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("the second one, no rush", "ACM-482577"),  # were None: "no" a negation
        ("2 please, no worries", "ACM-482577"),
        ("number 1, non urgent", "ACM-495310"),
    ],
)
def test_a_negation_that_says_there_is_no_hurry_still_picks(text: str, number: str) -> None:
    assert picked(text) == number
    assert picked("the second one, no") is None  # a negation still picks nothing


@pytest.mark.parametrize(
    ("text", "number"),
    [("No. 2", "ACM-482577"), ("no.3 please", "ACM-482193"), ("number 1", "ACM-495310")],
)
def test_the_numero_sign_still_picks(text: str, number: str) -> None:
    assert picked(text) == number


def test_a_listed_number_or_a_number_of_its_own_wins_over_a_place() -> None:
    arguments, _ = order_plan("ACM-482193")
    assert arguments == {"order_number": "ACM-482193"}
    # a number that was not listed is looked up as before, whatever else the message says
    planned = plan("order_status", "ACM-100200, the first one", tuple(EXTRACTOR.extract(
        "ACM-100200, the first one")), "", LISTED)  # fmt: skip
    assert planned.arguments == {"order_number": "ACM-100200"} and not planned.picked
    # without a list, a place means nothing: the number is asked for
    assert picked("the second one", ()) is None


def test_a_bare_place_is_not_taken_for_an_order_number() -> None:
    # a workspace whose order numbers are plain digits: "2" is a place in the list, not order 2
    digits = EntityExtractor(r"\d{1,6}")
    listed = (Choice("482193"), Choice("482577"))
    planned = plan("order_status", "2", tuple(digits.extract("2")), "", listed)
    assert planned.arguments == {"order_number": "482577"} and planned.picked
    planned = plan("order_status", "482193", tuple(digits.extract("482193")), "", listed)
    assert planned.arguments == {"order_number": "482193"} and not planned.picked


def test_several_order_numbers_remember_the_list() -> None:
    text = "Not ACM-482193, that one arrived. Where is ACM-482577?"
    planned = plan("order_status", text, tuple(EXTRACTOR.extract(text)), "")
    assert planned.choices == ("ACM-482193", "ACM-482577")


# orders whose items have a negation word in their names
NAMED_NO = (
    Choice("ACM-500001", names=("No-Show Ankle Socks - 3 Pack",)),
    Choice("ACM-500002", names=("Never Wet Spray", "Trail Mix")),
    Choice("ACM-500003", names=("Not Too Sweet Granola", "Rain Jacket")),
)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("the no-show socks", "ACM-500001"),  # were None: "no" was taken for a refusal
        ("No show socks please", "ACM-500001"),
        ("the Never Wet one", "ACM-500002"),
        ("not too sweet granola", "ACM-500003"),
        ("the second one, no rush", "ACM-500002"),
    ],
)
def test_a_negation_word_in_an_items_name_picks_that_item(text: str, number: str) -> None:
    assert picked(text, NAMED_NO) == number


@pytest.mark.parametrize(
    "text",
    [
        "no",
        "not that one",
        "none of them",
        "no, the socks",  # "no" next to a name word that does not follow it in the name
        "never the granola",
        "not the jacket",
        "the no-show socks, no",  # the name's own "no" is the name; the last one is a refusal
        "no no-show socks",
        "not 2",
    ],
)
def test_a_negation_beside_an_items_name_still_picks_nothing(text: str) -> None:
    assert picked(text, NAMED_NO) is None
