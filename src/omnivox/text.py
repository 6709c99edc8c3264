"""Small text helpers shared by the extractive answerer and the grounding guard."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yes",
        "please",
        "thanks",
        "thank",
    }
)
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*\[-])|\n+")


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` without stop words (numbers keep their decimals)."""
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


RANK_DECAY = 0.3  # a sentence of the n-th passage counts 1 / (1 + 0.3 n): retrieval order matters


def match_score(wanted: set[str], sentence: str, rank: int) -> float:
    """Content words ``sentence`` shares with ``wanted``, weighted by its passage's ``rank``."""
    return len(wanted & content_words(sentence)) / (1 + RANK_DECAY * rank)


def split_sentences(text: str) -> list[str]:
    """Sentences (and lines) of ``text``, stripped; citation markers stay with their sentence."""
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
