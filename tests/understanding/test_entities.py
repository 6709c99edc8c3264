"""Entities: email, E.164 phone, order numbers from a configured pattern, dates, amounts."""

from __future__ import annotations

from datetime import datetime

from omnivox.understanding.entities import EntityExtractor

NOW = datetime(2026, 11, 28, 15, 0)


def kinds(text: str, pattern: str | None = r"ACM-\d{6}") -> list[tuple[str, str]]:
    return [(e.kind, e.value) for e in EntityExtractor(pattern).extract(text, NOW)]


def test_contact_details_are_normalised() -> None:
    found = kinds("Reach me at Maya.T@Example.com or (303) 555-0142, order acm-482193")
    assert found == [
        ("email", "maya.t@example.com"),
        ("phone", "+13035550142"),
        ("order_number", "ACM-482193"),
    ]


def test_international_phone_keeps_its_country() -> None:
    assert kinds("call +44 20 7946 0958 please") == [("phone", "+442079460958")]


def test_order_numbers_follow_the_workspace_pattern() -> None:
    assert kinds("order ACM-482193", pattern=None) != [("order_number", "ACM-482193")]
    assert kinds("orders ACM-482193 and ACM-100200")[1] == ("order_number", "ACM-100200")


def test_an_order_number_is_a_whole_token() -> None:
    # unanchored, these were ACM-482577 and ACM-482193: someone else's order looked up
    assert kinds("Where is my order ACM-4825771?") == []
    assert kinds("Where is my order XACM-482193?") == []
    assert kinds("ACM-482193-2") == []
    assert kinds("(ACM-482193), #ACM-100200.") == [
        ("order_number", "ACM-482193"),
        ("order_number", "ACM-100200"),
    ]


def test_dates_resolve_against_the_message_time() -> None:
    found = kinds("ordered on March 3rd, shipped 2026-10-02, due 12/5, arrived yesterday")
    assert found == [
        ("date", "2026-03-03"),
        ("date", "2026-10-02"),
        ("date", "2026-12-05"),
        ("date", "2026-11-27"),
    ]


def test_impossible_dates_are_ignored() -> None:
    assert kinds("on 2/30 or 13/45") == []


def test_amounts_with_symbols_codes_and_words() -> None:
    found = kinds("refund $1,249.50, then 20 euros and EUR 5 plus £3")
    assert found == [
        ("amount", "1249.50 USD"),
        ("amount", "20.00 EUR"),
        ("amount", "5.00 EUR"),
        ("amount", "3.00 GBP"),
    ]


def test_spans_point_back_into_the_text() -> None:
    text = "my email is a@b.co"
    (entity,) = EntityExtractor().extract(text, NOW)
    assert text[entity.start : entity.end] == entity.text == "a@b.co"
