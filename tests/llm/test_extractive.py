from __future__ import annotations

from omnivox.llm.base import ChatMessage, CompletionRequest
from omnivox.llm.extractive import NO_ANSWER, ExtractiveProvider, best_sentences
from omnivox.settings import ExtractiveSettings
from omnivox.text import readable
from omnivox.types import Passage

RETURNS = Passage(
    "returns.md",
    "Returns",
    "You can return unworn items within 60 days of "
    "delivery. Refunds go back to the original payment method. Gift cards are "
    "final sale.",
    1.0,
)
SHIPPING = Passage(
    "shipping.md",
    "Shipping",
    "Standard shipping takes 3 to 7 business days. Orders over $75 ship free.",
    0.5,
)


def request(query: str, passages: tuple[Passage, ...]) -> CompletionRequest:
    return CompletionRequest((ChatMessage("user", query),), query, passages)


async def test_answers_with_the_matching_sentences() -> None:
    provider = ExtractiveProvider(ExtractiveSettings(type="extractive", max_sentences=1))
    completion = await provider.complete(
        request("How many days do I have to return items?", (SHIPPING, RETURNS))
    )
    assert completion.text == "You can return unworn items within 60 days of delivery."
    assert completion.usage.estimated and completion.usage.completion_tokens > 0


async def test_without_passages_it_says_so_honestly() -> None:
    provider = ExtractiveProvider(ExtractiveSettings(type="extractive"))
    completion = await provider.complete(request("What is the meaning of life?", ()))
    assert completion.text == NO_ANSWER
    streamed = "".join([d.text async for d in provider.stream(request("x", ()))])
    assert streamed == NO_ANSWER
    terse = Passage("faq.md", "FAQ", "Yes. No. Ok.", 0.9)
    assert (await provider.complete(request("Can I?", (terse,)))).text == NO_ANSWER  # was ""


def test_sentence_ranking_prefers_overlap() -> None:
    best = best_sentences("free shipping over $75", (RETURNS, SHIPPING), 1)
    assert best == ["Orders over $75 ship free."]


def test_table_rows_and_list_items_become_sentences_of_their_own() -> None:
    table = Passage(
        "shipping.md",
        "Shipping",
        "| Method | Delivery time | Price |\n|---|---|---|\n"
        "| Expedited shipping | 2 business days | $14.95 |\n"
        "- Overnight shipping is not offered to P.O. boxes\n",
        1.0,
    )
    best = best_sentences("expedited shipping price overnight", (table,), 2)
    assert best == [
        "Expedited shipping: 2 business days; $14.95.",
        "Overnight shipping is not offered to P.O. boxes.",
    ]
    assert readable("|---|---|\n| a | b |") == "\na: b"


def test_a_lists_lead_in_is_no_answer_of_its_own() -> None:
    # "…if the item:" was quoted without its list: "We'll match the price if the item: You can…"
    match = Passage(
        "price-match.md",
        "Price match",
        "We match the price of an identical item if the item:\n- Is the same model\n"
        "- Is in stock at the retailer\nYou can ask for a price match within 14 days.",
        1.0,
    )
    best = best_sentences("Do you match the price of an item?", (match,), 2)
    assert best and not any(s.endswith(":") for s in best)
