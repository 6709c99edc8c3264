"""Which of the choices the assistant listed a reply means.

After "Your most recent orders: ACM-495310 (…); ACM-482577 (…); ACM-482193 (…). Which one should
I check?" (or "Which order should I check: ACM-482193 or ACM-482577?") the customer may answer
with a place in the list ("the second one", "the 2nd", "2", "the last one") or with what was in
the order ("the jacket one", "the boots"). Only a short reply made of such words picks: one
place, or item words that all name items of exactly one of the customer's own listed orders.
Anything else picks nothing, and the message is understood on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from omnivox.actions.base import Choice

ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
}
# words around a choice that say nothing about which one: "I mean the second one please"
FILLER = frozenset(
    {
        "the", "one", "ones", "order", "orders", "that", "this", "it", "its", "please", "pls",
        "plz", "number", "no", "nr", "option", "i", "mean", "meant", "want", "check", "ok",
        "okay", "yes", "yeah", "sure", "thanks", "thank", "you", "a", "an", "my", "with", "for",
        "of", "in", "is", "s", "about", "what", "how", "just",
    }
)  # fmt: skip
MAX_WORDS = 8  # a longer message says more than which one: it is understood on its own
_WORD = re.compile(r"[^\W_]+")


def pick(text: str, offered: Sequence[Choice]) -> str | None:
    """The value of the choice ``text`` picks among ``offered`` (in the order listed), or None."""
    words = _WORD.findall(text.lower())
    rest = [w for w in words if w not in FILLER]
    if not offered or not rest or len(words) > MAX_WORDS:
        return None
    if len(rest) == 1:
        place = position(rest[0], len(offered))
        if place is not None:
            return offered[place - 1].value
    return _by_item(rest, offered)


def position(word: str, count: int) -> int | None:
    """The 1-based place ``word`` names in a list of ``count`` ("second", "2nd", "2", "last").

    Only decimal digits are a number ("2", "٢"): "²" or "①" are digits that ``int`` refuses.
    """
    if word == "last":
        return count
    place = ORDINALS.get(word) or (int(word) if word.isdecimal() and len(word) <= 2 else None)
    return place if place is not None and 1 <= place <= count else None


def _by_item(words: list[str], offered: Sequence[Choice]) -> str | None:
    """The one choice whose item names contain every word ("jacket", "rain jacket", "boots")."""
    wanted = {_stem(w) for w in words}
    matches = [
        c
        for c in offered
        if wanted <= {_stem(w) for n in c.names for w in _WORD.findall(n.lower())}
    ]
    return matches[0].value if len(matches) == 1 else None


def _stem(word: str) -> str:
    """A word without a plain plural ``s``: "boots" is "boot" (not "glass", not "gas")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
