"""Which words a sentence negates, so that "X cannot be returned" never backs "X can be returned".

A negation ("not", "no", "never", "nor", "cannot", "without", the "t" of "can't" and "isn’t")
applies to the first content word after it in the same clause: stop words and a few adverbs
between them are skipped ("can not *be* exchanged", "do not *have to* pay", "no *longer*
accepted"), and punctuation ends the reach ("No, you can return boots" negates nothing). Words
are compared by their stem, so "can't return" contradicts "can be returned".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from omnivox.text import STOPWORDS, words

NEGATIONS = frozenset({"not", "no", "never", "nor", "cannot", "without", "t"})
# skipped on the way from a negation to the word it negates (besides the stop words)
_BETWEEN = frozenset({"been", "being", "any", "longer", "ever", "yet", "also", "even", "always"})
# a clause ends at punctuation (not the comma or stop inside "1,000" or "$75.00")
_CLAUSE_END = re.compile(r"[;:!?()\[\]\u2013\u2014]|[.,](?!\d)|\s-\s")


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@dataclass(frozen=True, slots=True)
class Polarity:
    """The stems of a sentence's content words said plainly and said negated."""

    plain: frozenset[str]
    negated: frozenset[str]

    def contradicts(self, other: Polarity) -> bool:
        """Whether one sentence negates a word the other says only plainly, or the reverse.

        A sentence that says a word both ways ("items can be returned; sale items cannot be
        returned") contradicts neither reading.
        """
        return bool(
            (self.negated & other.plain) - other.negated
            or (self.plain & other.negated) - other.plain
        )


def polarity(sentence: str) -> Polarity:
    """Which content words of ``sentence`` are negated and which are not."""
    plain: set[str] = set()
    negated: set[str] = set()
    for clause in _CLAUSE_END.split(sentence):
        tokens = words(clause)
        negating = False
        for n, token in enumerate(tokens):
            if token in NEGATIONS:
                negating = True
            elif n + 1 < len(tokens) and tokens[n + 1] == "t":
                continue  # the "don" of "don't": part of the negation
            elif token not in STOPWORDS and token not in _BETWEEN:
                (negated if negating else plain).add(_stemmer().stemWord(token))
                negating = False
    return Polarity(frozenset(plain), frozenset(negated))
