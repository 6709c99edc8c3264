"""The customer's answer to "Just to be sure I help with the right thing: A or B?".

When routing is not sure which intent a message has, the assistant asks, naming the intents by
their descriptions, and the message keeps the intents it offered (``pending_intents``). The
next message answers that question when it is short (at most ``MAX_WORDS`` words, no "?": a new
question is a new question) and

- names one of the offered intents more than the others, by the words of its description or
  name ("the damaged item", "returns please");
- or picks one by its place ("the first", "the second one", "the latter"; English; a digit
  only with nothing but filler beside it: "2", "option 2", not "I have 2 broken mugs");
- or, when only one was offered, starts with a yes (in the languages understanding detects by
  default: "yes", "sí", "ja, bitte"; :func:`omnivox.pipeline.steps.route.opens_with_yes`).

A "no" that names another ("no, the returns one", "no, the second one") chooses it; a refusal
of nothing else ("no", "no thanks", "not really", "neither", "nein danke", "non merci",
"нет, спасибо") declines the only one offered (and
chooses nothing of several); a message that starts with a negation ("not the first", "never
got my order") or a "no" that says something else ("no, it is broken") is read on its own. A
yes to several offered chooses nothing either.

:func:`answer` says which intent was chosen, that the offer was declined ("no", "nope"; only
one was offered: nothing else to choose), or neither (the message is read on its own).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

from omnivox.text import STOPWORDS, content_words

MAX_WORDS = 6
_WORD = re.compile(r"[^\W_]+")
_PLACES = {
    "first": 0, "1st": 0, "former": 0, "one": 0, "1": 0,
    "second": 1, "2nd": 1, "latter": 1, "other": 1, "2": 1,
    "third": 2, "3rd": 2, "3": 2,
}  # fmt: skip
# what a refusal may hold besides no: "no thanks", "nope, sorry", "not really", "no, wrong",
# and the no and thanks of the languages a no is read in ("nein danke", "non merci", "нет, спасибо")
_REFUSAL = frozenset(
    {"no", "nope", "nah", "not", "neither", "none", "never", "thanks", "thank", "really", "sorry"}
    | {"wrong", "nein", "danke", "non", "merci", "gracias", "nee", "dank", "je", "bedankt"}
    | {"нет", "спасибо", "nie", "dziękuję", "hayır", "teşekkürler", "não", "obrigado", "grazie"}
)
# "not the first", "neither": what is not meant says nothing of what is (as the first word:
# "yes, it's not waterproof any more" says yes)
_NEGATION = frozenset({"not", "neither", "nor", "none", "never"})
# words that say which, not what: "the first one", "that one please"
_FILLER = frozenset({"one", "that", "this", "the", "please", "pls", "option", "yes", "yeah"})

Declined = Literal["declined", "again"]


def answer(
    text: str,
    options: Sequence[str],
    descriptions: Sequence[str],
    says_yes: Callable[[str], bool],
    says_no: Callable[[str], bool],
) -> str | Declined | None:
    """The option ``text`` chooses, ``"declined"``, ``"again"`` or None (it answers nothing).

    ``"again"``: a bare yes to several ("yes", "sure, please"): which one is still open.
    ``options``: the intents offered, in the order the question named them; ``descriptions``:
    how the question named each; ``says_yes`` / ``says_no``: whether a message says yes / no.
    """
    words = _WORD.findall(text.lower())
    if not options or not words or len(words) > MAX_WORDS or "?" in text:
        return None
    refusing = words[0] in _NEGATION or says_no(text)
    if refusing and not set(words) - STOPWORDS - _FILLER - _REFUSAL:
        return "declined" if len(options) == 1 else None  # "no", "no thanks", "not really"
    if words[0] in _NEGATION:
        return None  # "not the first", "never got my order": read on its own
    named = _named(words, options, descriptions)
    if named is not None:
        return named
    placed = _placed(words, len(options))
    if placed is not None:
        return options[placed]
    if says_yes(text) and not refusing:
        if len(options) == 1:
            return options[0]
        if not content_words(" ".join(words[1:])) - _FILLER:
            return "again"
    return None  # "no, it is broken": read on its own


def _named(words: list[str], options: Sequence[str], descriptions: Sequence[str]) -> str | None:
    """The option whose description or name shares the most words with ``words``, if one does."""
    said = content_words(" ".join(words)) - _FILLER
    shared = [
        len(said & (content_words(d) | content_words(o.replace("_", " "))))
        for o, d in zip(options, descriptions, strict=True)
    ]
    best = max(shared)
    if best == 0 or shared.count(best) > 1:
        return None
    return options[shared.index(best)]


def _placed(words: list[str], count: int) -> int | None:
    """The place ``words`` name ("the second one", "the last"), within ``count`` options.

    A digit names one only with nothing but filler beside it ("2", "option 2"): "I have 2
    broken mugs" counts mugs.
    """
    bare = all(w.isdigit() or w in _FILLER for w in words)
    places = {
        _PLACES[w]
        for w in words
        if w in _PLACES and (w != "one" or len(words) == 1) and (bare or not w.isdigit())
    }
    if "last" in words:
        places.add(count - 1)
    if len(places) != 1:
        return None
    place = places.pop()
    return place if place < count else None
