"""No model at all: answer with the passages' sentences that best match the question.

Always available, deterministic, and never says anything the knowledge base does not. With no
passages it says honestly that it does not have the information.

A passage is read as a customer would read it (:func:`omnivox.text.readable`): a Markdown table row
"| Carrier | UPS Standard to Canada |" is the sentence "Carrier: UPS Standard to Canada." (its
first cell, then the others joined by "; "), and every chosen sentence ends in a stop, so that
a list item or a row does not run into the next sentence of the answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from omnivox.llm.base import Completion, CompletionRequest, Delta, Usage, estimate_tokens
from omnivox.settings import ExtractiveSettings
from omnivox.text import content_words, match_score, readable, split_sentences
from omnivox.types import Passage

NO_ANSWER = "I don't have that information — shall I connect you with a person?"
_ENDS = re.compile(r"[.!?…:;)\]\"'”’]$")


def sentence(text: str) -> str:
    """``text`` ending in a stop (a list item or a table row has none)."""
    return text if _ENDS.search(text) else f"{text}."


def best_sentences(query: str, passages: tuple[Passage, ...], limit: int) -> list[str]:
    """Sentences ranked by overlap with the query, weighted by their passage's rank.

    Each is read from the passage as :func:`omnivox.text.readable` shows it and ends in a stop.
    """
    wanted = content_words(query)
    scored: list[tuple[float, int, str]] = []
    order = 0
    for rank, passage in enumerate(passages):
        for said in split_sentences(readable(passage.text)):
            said = said.strip(" -*#\t")
            if len(said) < 12:
                continue
            scored.append((match_score(wanted, said, rank), -order, sentence(said)))
            order += 1
    scored.sort(reverse=True)
    chosen = [s for score, _, s in scored[:limit] if score > 0]
    return chosen or [s for _, _, s in scored[:1]]


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
        if request.passages:
            text = " ".join(
                best_sentences(request.query, request.passages, self.settings.max_sentences)
            )
        else:
            text = NO_ANSWER
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
