"""A "yes" to the assistant's offer of a person hands off; anything else is answered."""

from __future__ import annotations

import pytest

from omnivox.pipeline.steps.route import accepts


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "Yes please!",
        "ok",
        "sure, go ahead",
        "yeah connect me",
        "please do",
        "Sí",
        "y",
        # offered again until 2026-12-05: every word had to be in a short list
        "Sí, por favor",
        "yes, an agent",
        "yes pls",
        "Yes I'd like that",
        "Oui, s'il vous plaît",
        "Ja, bitte",
        "yes, do it",
        "Yes, thanks so much",
        "y pls",  # the shorthand before yes-words, not Spanish "and" (refused on 2026-12-06)
    ],
)
def test_a_plain_yes_accepts(text: str) -> None:
    assert accepts(text)


@pytest.mark.parametrize(
    "text",
    [
        "Please just tell me how long I have to return boots",
        "ok, how much is shipping to Canada?",
        "Sure you don't know? What's the return window then?",
        "Please don't connect me with anyone, just tell me",
        "no",
        "yes but first, what are your store hours",
        "yesterday I ordered boots",
        "ok so what about shipping",
        "yes I don't want that though",
        "y ahora qué",  # Spanish "and now what", not the shorthand "y"
        "",
    ],
)
def test_a_question_or_a_no_does_not(text: str) -> None:
    assert not accepts(text)  # each was a handoff until 2026-12-05: "please"/"ok"/"sure" led
