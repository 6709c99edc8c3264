"""Passages cut to the sentences that match the question, within a word budget."""

from __future__ import annotations

from omnivox.knowledge.focus import GAP, focus
from omnivox.types import Passage

RETURNS = Passage(
    "returns.md",
    "Returns",
    "Our stores open at nine every morning. Unworn items can be returned within 60 days. "
    "Gift cards are sold at every register. Refunds reach the original card in five days.",
    0.9,
)
SHIPPING = Passage(
    "shipping.md",
    "Shipping",
    "Standard shipping takes three to seven days. Express shipping arrives the next day. "
    "We ship to every state.",
    0.8,
)


def words(passages: list[Passage]) -> int:
    return sum(len(p.text.replace(GAP, " ").split()) for p in passages)


def test_passages_within_the_budget_are_unchanged() -> None:
    assert focus([RETURNS, SHIPPING], "return window", 500) == [RETURNS, SHIPPING]
    assert focus([RETURNS, SHIPPING], "return window", 0) == [RETURNS, SHIPPING]


def test_the_matching_sentences_stay_in_order_and_the_rest_go() -> None:
    kept = focus([RETURNS, SHIPPING], "How many days do I have to return unworn items?", 24)
    assert words(kept) <= 24
    returns = kept[0].text
    assert "Unworn items can be returned within 60 days." in returns
    assert "Our stores open at nine" not in returns and "Gift cards" not in returns
    assert returns.startswith(GAP)  # the left-out first sentence is marked
    assert kept[0].source_id == "returns.md" and kept[0].title == "Returns"


def test_every_passage_keeps_its_best_sentence() -> None:
    kept = focus([RETURNS, SHIPPING], "refund to my card", 12)
    assert [p.source_id for p in kept] == ["returns.md", "shipping.md"]
    assert "Refunds reach the original card in five days." in kept[0].text
    assert kept[1].text.strip(GAP + " ")  # shipping still says something
    assert len(kept[1].text) < len(SHIPPING.text)


def test_sentences_keep_their_original_order() -> None:
    kept = focus([RETURNS], "refunds returned items card", 30)
    text = kept[0].text
    assert text.index("returned within 60 days") < text.index("Refunds reach")


HOURS = Passage(
    "store-hours.md",
    "Store Locations and Hours",
    "| Store | Address | Mon–Sat | Sunday |\n"
    "| Denver Flagship | 1420 Larimer Street | 9:00 a.m.–8:00 p.m. | 10:00 a.m.–6:00 p.m. |\n"
    "| Boulder | 1955 Pearl Street, Boulder | 10:00 a.m.–7:00 p.m. | 11:00 a.m.–5:00 p.m. |\n"
    "| Seattle | 1530 Westlake Avenue N, Seattle | 9:00 a.m.–8:00 p.m. | 10:00 a.m.–6:00 p.m. |",
    0.7,
)


def test_a_table_is_cut_row_by_row_and_comes_back_on_one_line() -> None:
    kept = focus([HOURS, SHIPPING], "store hours in Boulder", 40)
    hours = kept[0].text
    assert "| Boulder | 1955 Pearl Street" in hours
    assert "Seattle" not in hours and "Denver Flagship" not in hours
    assert "\n" not in hours and words(kept) <= 40
    whole = focus([HOURS], "store hours", 500)[0].text
    assert "\n" not in whole and whole == " ".join(HOURS.text.split())
