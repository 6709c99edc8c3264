"""Which words a sentence negates, so that "X cannot be returned" never backs "X can be returned".

A negation ("not", "no", "never", "nor", "cannot", "without", "can't", "isn’t", "won't")
applies to the first content word after it in the same clause: stop words and a few adverbs
between them are skipped ("can not *be* exchanged", "do not *have to* pay", "no *longer*
accepted"), and punctuation or a subordinating word ("if", "but", "unless") ends the clause
("No, you can return boots" negates nothing). A clause with a negation says none of its other
words plainly ("No receipt is needed" does not say "needed" against "You don't need a
receipt"). Words are compared by their stem, so "can't return" contradicts "can be returned".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omnivox.text import STOPWORDS, words

# as words() reads them: "can't" is "can" and "t"
NEGATIONS = frozenset({"not", "no", "never", "nor", "cannot", "without", "t"})
# "can't", "isn’t", "won't" read as "not" (a "t" alone is "T-shirt" or the French "a-t-il")
_CONTRACTED = re.compile(r"\b\w+n['\u2019]t\b", re.IGNORECASE)
_NEGATING = NEGATIONS - {"t"}
# skipped on the way from a negation to the word it negates (besides the stop words)
_BETWEEN = frozenset({"been", "being", "any", "longer", "ever", "yet", "also", "even", "always"})
# a clause ends at punctuation (not the comma or stop inside "1,000" or "$75.00")
_CLAUSE_END = re.compile(r"[;:!?()\[\]\u2013\u2014]|[.,](?!\d)|\s-\s")
# words that open a clause of their own ("You can return boots if they are not worn")
_SUBORDINATORS = frozenset(
    {"if", "unless", "but", "because", "although", "though", "while", "whereas"}
)


_LOCAL = threading.local()


def _stemmer() -> Any:
    """The calling thread's English stemmer.

    A PyStemmer stemmer must not be called concurrently, and the guard runs in worker threads
    (``asyncio.to_thread``).
    """
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _LOCAL.stemmer = Stemmer.Stemmer("english")
    return stemmer


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
    """Which content words of ``sentence`` are negated and which are said plainly.

    A clause with a negation says none of its other words plainly: "No receipt is needed" and
    "You don't need a receipt" negate the same statement on different words, so neither's
    "needed" or "receipt" flips the other's.
    """
    plain: set[str] = set()
    negated: set[str] = set()
    for clause in _clauses(sentence):
        said, denied = _reading(clause)
        negated |= denied
        if not denied:
            plain |= said
    return Polarity(frozenset(plain), frozenset(negated))


def _clauses(sentence: str) -> Iterator[list[str]]:
    """The words of each clause: punctuation and a subordinating word ("if", "but") end one."""
    for piece in _CLAUSE_END.split(sentence):
        clause: list[str] = []
        for token in words(_CONTRACTED.sub(" not ", piece)):
            if token in _SUBORDINATORS:
                yield clause
                clause = []
            else:
                clause.append(token)
        yield clause


def _reading(tokens: list[str]) -> tuple[set[str], set[str]]:
    """The stems of a clause's content words said plainly, and those a negation reaches."""
    said: set[str] = set()
    denied: set[str] = set()
    negating = False
    stem = _stemmer().stemWord
    for token in tokens:
        if token in _NEGATING:
            negating = True
        elif token not in STOPWORDS and token not in _BETWEEN:
            (denied if negating else said).add(stem(token))
            negating = False
    return said, denied
