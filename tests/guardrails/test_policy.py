from __future__ import annotations

import pytest

from omnivox.guardrails.policy import BLOCKED_REPLY, BrandPolicy
from omnivox.settings import PersonaSettings

POLICY = BrandPolicy(
    PersonaSettings(
        preferred_terms={"cheap": "affordable", "problem": "concern"},
        avoided_terms=["no problem", "unfortunately"],
        banned_phrases=["lifetime warranty"],
    )
)


def test_preferred_terms_are_rewritten_keeping_case() -> None:
    result = POLICY.apply("Cheap boots are a problem? Our cheap socks are not.")
    assert result.text == "Affordable boots are a concern? Our affordable socks are not."
    assert result.rewrites == ("cheap -> affordable", "problem -> concern")
    assert result.blocked_by is None


def test_avoided_terms_are_removed_and_the_sentence_tidied() -> None:
    result = POLICY.apply("Unfortunately, returns take 10 days. No problem!")
    assert result.text == "Returns take 10 days."
    assert "removed unfortunately" in result.rewrites and "removed no problem" in result.rewrites


def test_banned_phrase_blocks_the_answer() -> None:
    result = POLICY.apply("Every jacket has a Lifetime Warranty.")
    assert result.text == BLOCKED_REPLY and result.blocked_by == "lifetime warranty"


def test_clean_text_is_untouched() -> None:
    text = "Returns are free within 60 days."
    assert POLICY.apply(text).text == text and POLICY.apply(text).rewrites == ()


def test_words_inside_other_words_are_left_alone() -> None:
    assert POLICY.apply("Problematic? Cheapest?").text == "Problematic? Cheapest?"


def test_removal_mid_sentence_leaves_clean_punctuation() -> None:
    assert POLICY.apply("It is cheap, unfortunately.").text == "It is affordable."
    assert POLICY.apply("No problem, we can help.").text == "We can help."


@pytest.mark.parametrize(
    "disguised",
    [
        "Every jacket has a lifetime\u00a0warranty.",  # a no-break space
        "Every jacket has a lifetime\nwarranty.",
        "Every jacket has a lifetime  warranty.",
        "Every jacket has a lifetime-warranty.",
        "Every jacket has a life\u00adtime warranty.",  # a soft hyphen
        "Every jacket has a lifetime w\u0430rranty.",  # a Cyrillic a
        "All our lifetime warranties cover zips.",
    ],
)
def test_a_banned_phrase_is_found_however_it_is_disguised(disguised: str) -> None:
    assert POLICY.apply(disguised).blocked_by == "lifetime warranty"  # each was delivered


def test_rewrites_leave_urls_markers_paragraphs_and_names_alone() -> None:
    text = (
        "See https://acme.example/deals/cheap-tents for cheap tents [1].\n\n"
        "Wait... unfortunately, the iPhone case is cheap."
    )
    result = POLICY.apply(text)
    assert result.text == (
        "See https://acme.example/deals/cheap-tents for affordable tents [1].\n\n"
        "Wait... The iPhone case is affordable."
    )
