"""Sentence-level grounding: every sentence of an answer must be supported by a passage.

A sentence is supported by a passage sentence when their embeddings are close (cosine) or when
most of its content words appear in it (lexical overlap), and every number it states appears in
the passage sentences that support it (no invented prices, days or percentages: a "14" is not
backed by a "November 14" elsewhere in the passages). Numbers are compared as values: "$75.00"
is "$75", "1,000" is "1000", "sixty" is "60". A passage sentence that says plainly what the
sentence negates, or negates what it says plainly, backs nothing ("Sale items can be
exchanged." does not back "Sale items can't be exchanged.": see ``polarity``). Unsupported
sentences are dropped; when too little survives, the caller falls back to an extractive answer.
A sentence without a content word ("Sure!", "No, no, no, no.") passes, but an answer of nothing
else states nothing, so it is verdict "none" too ("Yes, we do [1]." included: the extractive
answer then quotes what backs it). A sentence with the same content words and negations as a
kept sentence is dropped as a repeat (the bundled model can loop: "You can choose to cancel the
order with a refund, but you can also choose to cancel the order with a refund." over and
over); an answer that is mostly repeats falls back like an unsupported one. A repeat says the
same content words and negations in the same order: "orders that have not shipped can be
cancelled" is no repeat of "orders that have shipped can not be cancelled", nor is a sentence
that adds a word of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from omnivox.guardrails.polarity import NEGATIONS, polarity
from omnivox.knowledge.embeddings import Embedder
from omnivox.text import STOPWORDS, content_words, split_sentences, words
from omnivox.types import Passage

Verdict = Literal["full", "partial", "none"]
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# number words an answer may spell out ("one" is left out: "one of our stores" states nothing)
_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "hundred": 100, "thousand": 1000, "million": 1000000,
}  # fmt: skip
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.IGNORECASE)


def numbers_in(text: str) -> set[str]:
    """The values ``text`` states: "$75.00" is "75", "1,000" is "1000", "sixty" is "60"."""
    found = set()
    for raw in _NUMBER.findall(text):
        value = re.sub(r",(?=\d{3}\b)", "", raw).replace(",", ".")
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        found.add(value)
    found.update(str(_WORDS[w.lower()]) for w in _NUMBER_WORD.findall(text))
    return found


_CITATION = re.compile(r"\s*\[\d{1,2}\]")
_BLANK_LINES = re.compile(r"\n{3,}")  # what is left of a paragraph break around a dropped one


def _gist(sentence: str) -> tuple[str, ...]:
    """What a sentence says, for telling repeats: its content words and negations, in order."""
    return tuple(w for w in words(sentence) if w in NEGATIONS or w not in STOPWORDS)


def without_repeats(text: str) -> str:
    """``text`` without the sentences that say again what an earlier one said.

    The bundled model can loop ("I'm sorry to hear that. I'm sorry to hear that. ..."): a
    sentence with the gist of an earlier one goes, and one of stop words only when it is the
    same words; one of citation markers alone ("[2]") says nothing again and stays. The lines
    keep their breaks (a paragraph or a list item of repeats only goes), the sentences kept on
    a line are joined by single spaces.
    """
    lines: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for line in text.splitlines():
        kept = [s for s in split_sentences(line) if _said_first(s, seen)]
        if kept or not line.strip():
            lines.append(" ".join(kept))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _said_first(sentence: str, seen: set[tuple[str, ...]]) -> bool:
    """Whether no sentence in ``seen`` said what ``sentence`` says; ``seen`` then has it."""
    plain = _CITATION.sub("", sentence)
    gist = _gist(plain) or tuple(words(plain))
    if gist and gist in seen:
        return False
    seen.add(gist)
    return True


@dataclass(frozen=True, slots=True)
class GroundingSettings:
    """Thresholds, tuned on doc2dial dev (bench/answers.py)."""

    min_cosine: float = 0.62
    min_overlap: float = 0.6
    min_kept_fraction: float = 0.5


@dataclass(frozen=True, slots=True)
class GroundingResult:
    """The kept text, which passages support it, and the verdict."""

    text: str
    verdict: Verdict
    kept: int
    total: int
    supporting: tuple[int, ...]


class GroundingChecker:
    """Checks answers against the passages they were written from."""

    def __init__(self, embedder: Embedder, settings: GroundingSettings | None = None) -> None:
        self.embedder = embedder
        self.settings = settings or GroundingSettings()

    def similarity(self, query: str, sentences: Sequence[str]) -> list[float]:
        """The cosine of ``query`` to each of ``sentences`` (the extractive fallback's ranking)."""
        vectors = self.embedder.embed([query, *sentences])
        return [float(v) for v in vectors[1:] @ vectors[0]]

    def check(self, answer: str, passages: Sequence[Passage]) -> GroundingResult:
        """Keep the supported sentences of ``answer``."""
        sentences = split_sentences(answer)
        if not sentences or not passages:
            return GroundingResult("", "none", 0, len(sentences), ())
        evidence = [(i, s) for i, p in enumerate(passages) for s in split_sentences(p.text)]
        stated = [numbers_in(s) for _, s in evidence]
        polarities = [polarity(s) for _, s in evidence]
        plain = [_CITATION.sub("", s) for s in sentences]
        vectors = self.embedder.embed([*plain, *(s for _, s in evidence)])
        similarity = vectors[: len(plain)] @ vectors[len(plain) :].T
        kept, support, says = [], [], False
        said: list[tuple[str, ...]] = []  # the gist of each sentence kept so far
        for n, sentence in enumerate(plain):
            content, gist = content_words(sentence), _gist(sentence)
            if content and gist in said:
                continue  # says again what a kept sentence said: a small model's loop
            overlaps = [
                len(content & content_words(s)) / len(content) if content else 1.0
                for _, s in evidence
            ]
            says_so = polarity(sentence)
            backing = [
                e
                for e in range(len(evidence))
                if (
                    similarity[n, e] >= self.settings.min_cosine
                    or overlaps[e] >= self.settings.min_overlap
                )
                and not says_so.contradicts(polarities[e])
            ]
            backed_numbers = set().union(*(stated[e] for e in backing)) if backing else set()
            if backing and numbers_in(sentence) <= backed_numbers:
                kept.append(sentences[n])
                support.append(evidence[max(backing, key=lambda e: similarity[n, e])][0])
                says = says or bool(content)
                said.append(gist)
        return self._result(kept, len(sentences), support, says)

    def _result(
        self, kept: list[str], total: int, support: list[int], says: bool
    ) -> GroundingResult:
        """``says``: a kept sentence has a content word (fillers alone answer nothing)."""
        if not says or len(kept) / total < self.settings.min_kept_fraction:
            verdict: Verdict = "none"
        else:
            verdict = "full" if len(kept) == total else "partial"
        return GroundingResult(
            " ".join(kept), verdict, len(kept), total, tuple(dict.fromkeys(support))
        )
