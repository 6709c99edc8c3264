"""No model at all: answer with the passages' sentences that best match the question.

Always available, deterministic, and never says anything the knowledge base does not. With no
passages, or none with a whole sentence to quote, it says honestly that it does not have the
information.

A passage is read as a customer would read it (:func:`omnivox.text.readable`): a Markdown table row
"| Carrier | UPS Standard to Canada |" is the sentence "Carrier: UPS Standard to Canada." (its
first cell, then the others joined by "; "), and every chosen sentence ends in a stop, so that
a list item or a row does not run into the next sentence of the answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from omnivox.llm.base import Completion, CompletionRequest, Delta, Usage, estimate_tokens
from omnivox.settings import ExtractiveSettings
from omnivox.text import RANK_DECAY, content_words, match_score, readable, split_sentences
from omnivox.types import Passage

NO_ANSWER = "I don't have that information — shall I connect you with a person?"
_ENDS = re.compile(r"[.!?…:;)\]\"'”’]$")


def sentence(text: str) -> str:
    """``text`` ending in a stop (a list item or a table row has none)."""
    return text if _ENDS.search(text) else f"{text}."


# how alike the query is to each sentence (cosines of a sentence encoder), in their order
Similarity = Callable[[str, Sequence[str]], Sequence[float]]


@dataclass(frozen=True, slots=True)
class Quote:
    """The sentences chosen to answer a query, and how close the closest of them is to it."""

    sentences: list[str]
    similarity: float | None  # the highest cosine of a chosen sentence; None: ranked by words


def best_sentences(
    query: str,
    passages: tuple[Passage, ...],
    limit: int,
    similarity: Similarity | None = None,
) -> list[str]:
    """The sentences that best answer ``query``, weighted by their passage's rank.

    Ranked by ``similarity`` to the query when given (the grounding guard's fallback: "how much
    does it cost?" finds "Price: $19.95 flat", which shares no word with it; on doc2dial dev the
    extractive answer's token F1 against the gold span is 0.294 against 0.277 by shared words,
    RESULTS 2026-12-06), else by the content words they share with it. Each is read from the
    passage as :func:`omnivox.text.readable` shows it and ends in a stop.
    """
    return quote(query, passages, limit, similarity).sentences


def quote(
    query: str,
    passages: tuple[Passage, ...],
    limit: int,
    similarity: Similarity | None = None,
) -> Quote:
    """:func:`best_sentences`, with the best cosine of a chosen one to ``query``.

    The cosine (``similarity``'s, so None without it) says how close the quote comes to
    answering: below ``omnivox.analytics.gaps.QUOTE_ANSWERS`` the turn is a knowledge gap.
    """
    found = [
        (rank, said)
        for rank, passage in enumerate(passages)
        for said in (s.strip(" -*#\t") for s in split_sentences(readable(passage.text)))
        if len(said) >= 12 and not said.endswith(":")  # a list's lead-in says nothing alone
    ]
    alike: list[float] | None = None
    if similarity is not None and found:
        alike = [float(a) for a in similarity(query, [said for _, said in found])]
        scores = [a / (1 + RANK_DECAY * rank) for a, (rank, _) in zip(alike, found, strict=True)]
    else:
        wanted = content_words(query)
        scores = [match_score(wanted, said, rank) for rank, said in found]
    ranked = sorted(range(len(found)), key=lambda i: (-scores[i], i))
    chosen = [i for i in ranked[:limit] if scores[i] > 0] or ranked[:1]
    best = max((alike[i] for i in chosen), default=None) if alike is not None else None
    return Quote([sentence(found[i][1]) for i in chosen], best)


class ExtractiveProvider:
    """Composes a reply from the best available context."""

    name = "extractive"

    def __init__(self, settings: ExtractiveSettings) -> None:
        self.settings = settings
        self.timeout_s = settings.timeout_s

    async def ready(self) -> bool:
        """Always ready: there is nothing to load."""
        return True

    async def complete(self, request: CompletionRequest) -> Completion:
        """Pick sentences; usage counts the words read and written."""
        # no passage, or none with a whole sentence to quote ("Yes. No. Ok."): say so
        best = best_sentences(request.query, request.passages, self.settings.max_sentences)
        text = " ".join(best) or NO_ANSWER
        read = sum(estimate_tokens(p.text) for p in request.passages)
        return Completion(
            text, Usage(read, estimate_tokens(text), 0.0, estimated=True), self.name, "extractive"
        )

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        """Yield the answer sentence by sentence."""
        completion = await self.complete(request)
        words = completion.text.split(" ")
        for i, word in enumerate(words):
            yield Delta(word if i == 0 else " " + word, provider=self.name, model="extractive")
        yield Delta(
            "", usage=completion.usage, provider=self.name, model="extractive", finish_reason="stop"
        )

    async def close(self) -> None:
        """Nothing to release."""
