"""Sources as the customer sees them: one per document, markers that match the list."""

from __future__ import annotations

import time

from omnivox.pipeline.citing import numbered
from omnivox.types import Passage, Reply

RETURNS_A = Passage("returns.md", "Returns", "Return within 60 days.", 0.9, "https://x/r")
SHIPPING = Passage("shipping.md", "Shipping", "| Standard | 3-7 days | $6.95 |", 0.8)
RETURNS_B = Passage("returns.md", "Returns", "Refunds take 5 days.", 0.7, "https://x/r")
PASSAGES = [RETURNS_A, SHIPPING, RETURNS_B]


def test_markers_name_documents_in_the_order_the_answer_first_names_them() -> None:
    reply = Reply(
        "Ships in 3-7 days [2]. Return within 60 days [1] and refunds take 5 days [3][1].",
        (SHIPPING.citation(), RETURNS_A.citation(), RETURNS_B.citation()),
        "llamacpp",
    )
    out = numbered(reply, PASSAGES)
    assert out.text == (
        "Ships in 3-7 days [1]. Return within 60 days [2] and refunds take 5 days [2]."
    )
    assert [c.source_id for c in out.citations] == ["shipping.md", "returns.md"]
    assert out.citations[1].snippet == "Return within 60 days."  # the first passage named
    assert out.citations[0].snippet == "Standard: 3-7 days; $6.95"  # a row reads as text
    assert out.provider == "llamacpp"


def test_a_marker_naming_no_passage_is_removed_and_the_guards_sources_follow() -> None:
    reply = Reply("Return within 60 days [7]. Refunds take 5 days.", (RETURNS_B.citation(),))
    out = numbered(reply, PASSAGES)
    assert out.text == "Return within 60 days. Refunds take 5 days."
    assert [c.snippet for c in out.citations] == ["Refunds take 5 days."]


def test_two_passages_of_one_document_are_one_source() -> None:
    reply = Reply("Return within 60 days.", (RETURNS_A.citation(), RETURNS_B.citation()))
    out = numbered(reply, PASSAGES)
    assert [c.source_id for c in out.citations] == ["returns.md"]
    assert numbered(out, PASSAGES) is out  # nothing left to change


def test_a_long_run_of_spaces_is_read_once() -> None:
    started = time.perf_counter()
    out = numbered(Reply("Yes" + " " * 100_000 + "[1]", ()), PASSAGES)
    assert time.perf_counter() - started < 1  # quadratic, this took about 40 s
    assert out.text.endswith("[1]") and [c.source_id for c in out.citations] == ["returns.md"]
