"""Sentence-level grounding: every sentence of an answer must be supported by a passage.

A sentence is supported by a passage sentence when their embeddings are close (cosine) or
when most of its content words appear in it (lexical overlap), and every number it states
appears in the passages (no invented prices, days or percentages). Unsupported sentences are
dropped; when too little survives, the caller falls back to an extractive answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from omnivox.knowledge.embeddings import Embedder
from omnivox.text import content_words, split_sentences
from omnivox.types import Passage

Verdict = Literal["full", "partial", "none"]
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CITATION = re.compile(r"\s*\[\d{1,2}\]")


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

    def check(self, answer: str, passages: Sequence[Passage]) -> GroundingResult:
        """Keep the supported sentences of ``answer``."""
        sentences = split_sentences(answer)
        if not sentences or not passages:
            return GroundingResult("", "none", 0, len(sentences), ())
        evidence = [(i, s) for i, p in enumerate(passages) for s in split_sentences(p.text)]
        numbers = set(_NUMBER.findall(" ".join(p.text for p in passages)))
        plain = [_CITATION.sub("", s) for s in sentences]
        vectors = self.embedder.embed([*plain, *(s for _, s in evidence)])
        similarity = vectors[: len(plain)] @ vectors[len(plain) :].T
        kept, support = [], []
        for n, sentence in enumerate(plain):
            best = int(np.argmax(similarity[n]))
            words = content_words(sentence)
            overlap = (
                max((len(words & content_words(s)) / len(words) for _, s in evidence), default=0.0)
                if words
                else 1.0
            )
            numbers_ok = set(_NUMBER.findall(sentence)) <= numbers
            close = similarity[n, best] >= self.settings.min_cosine
            if numbers_ok and (close or overlap >= self.settings.min_overlap):
                kept.append(sentences[n])
                support.append(evidence[best][0])
        return self._result(kept, len(sentences), support)

    def _result(self, kept: list[str], total: int, support: list[int]) -> GroundingResult:
        if not kept or len(kept) / total < self.settings.min_kept_fraction:
            verdict: Verdict = "none"
        else:
            verdict = "full" if len(kept) == total else "partial"
        return GroundingResult(
            " ".join(kept), verdict, len(kept), total, tuple(dict.fromkeys(support))
        )
