"""Passages cut to the sentences that matter for the question, for the model's prompt.

A small local model reads its prompt at a few milliseconds a token on a CPU, and four whole
passages are most of a turn's prompt: every one of their tokens delays the first word of the
answer. :func:`focus` keeps, within a word budget, the sentences of each passage that share the
most content words with the query (each passage keeps at least its best one, so every ``[n]``
the model may cite still says something), in their original order, with ``…`` where sentences
were left out. A table row or a list item counts as a sentence. Each passage comes back on one
line, so the prompt's ``[n]`` markers stay the only line starts. The passages handed to citations
and to the grounding guard stay whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from omnivox.text import content_words, match_score, split_sentences
from omnivox.types import Passage

GAP = "…"
CONTEXT_WEIGHT = 0.25  # a word only the earlier conversation has, against one of the question


@dataclass(frozen=True, slots=True)
class _Sentence:
    passage: int
    position: int
    text: str
    words: int
    score: float


def focus(
    passages: Sequence[Passage], question: str, budget_words: int, context: str = ""
) -> list[Passage]:
    """``passages`` with their texts cut to ``budget_words`` words in all (0: uncut).

    Sentences are scored by the words they share with ``question``; words only the
    conversation ``context`` has count a quarter (``CONTEXT_WEIGHT``), enough to pick the
    sentences a follow-up ("and for kids?") is about without letting an earlier subject
    crowd out the one just asked about.
    """
    total = sum(len(p.text.split()) for p in passages)
    if budget_words <= 0 or total <= budget_words:
        return [replace(p, text=" ".join(p.text.split())) for p in passages]
    asked = content_words(question)
    sentences = _scored(passages, asked, content_words(context) - asked)
    chosen = _choose(sentences, len(passages), budget_words)
    return [
        replace(passage, text=_join([s for s in sentences if s.passage == i], chosen))
        for i, passage in enumerate(passages)
    ]


def _scored(passages: Sequence[Passage], asked: set[str], earlier: set[str]) -> list[_Sentence]:
    out: list[_Sentence] = []
    for rank, passage in enumerate(passages):
        for position, text in enumerate(split_sentences(passage.text)):
            score = match_score(asked, text, rank)
            score += CONTEXT_WEIGHT * match_score(earlier, text, rank)
            out.append(_Sentence(rank, position, text, len(text.split()), score))
    return out


def _choose(sentences: list[_Sentence], passages: int, budget: int) -> set[tuple[int, int]]:
    """Each passage's best sentence, then the best of the rest while the budget lasts."""
    ranked = sorted(sentences, key=lambda s: (-s.score, s.passage, s.position))
    chosen: set[tuple[int, int]] = set()
    used = 0
    for index in range(passages):
        best = next((s for s in ranked if s.passage == index), None)
        if best is not None:
            chosen.add((best.passage, best.position))
            used += best.words
    for sentence in ranked:
        key = (sentence.passage, sentence.position)
        if key in chosen or sentence.score <= 0:
            continue
        if used + sentence.words > budget:
            continue
        chosen.add(key)
        used += sentence.words
    return chosen


def _join(sentences: list[_Sentence], chosen: set[tuple[int, int]]) -> str:
    """The chosen sentences in order, ``…`` where any were skipped."""
    parts: list[str] = []
    skipped = False
    for sentence in sentences:
        if (sentence.passage, sentence.position) not in chosen:
            skipped = True
            continue
        if skipped:
            parts.append(GAP)
        parts.append(sentence.text)
        skipped = False
    if skipped:
        parts.append(GAP)
    return " ".join(parts)
