"""Who writes the rolling summary: the extractive folder, or a capable model.

``memory.summarizer: auto`` (the default) uses the model when the chain has an OpenAI-compatible
provider (a model worth asking), and the extractive folder otherwise; ``extractive`` and
``model`` force one. A model summary is written in the background after the turn (the next turn
uses it) and falls back to the extractive one when the model fails or answers nothing.

The model sees placeholders, never the personal data itself (as in every answer's prompt): the
conversation's vault redacts the summary so far and the messages to fold, and its placeholders
in the model's summary are put back before it is stored (encrypted at rest, redacted again for
every prompt that carries it).

Each model summary's usage is recorded as an ``llm.usage`` event (purpose ``summary``) of the
conversation it folds, whether the model answered or not (:mod:`omnivox.llm.metered`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from omnivox.bus import EventSink
from omnivox.identity.kinds import display_name
from omnivox.llm.base import ChatMessage, CompletionRequest, LLMProvider
from omnivox.llm.chain import ProviderChain
from omnivox.llm.metered import Caller, MeteredChain
from omnivox.logs import get_logger
from omnivox.memory.summary import clip, fold
from omnivox.privacy.vault import ALL_KINDS, Vault
from omnivox.types import HistoryItem

log = get_logger(__name__)
INSTRUCTIONS = (
    "You keep the memory of a customer-service conversation. Rewrite the summary so that it "
    "also covers the new messages: who the customer is, what they asked, what was promised or "
    "done, what is still open. Plain sentences, no greeting, at most {limit} characters. "
    "Never add anything that was not said."
)


class Summarizer(Protocol):
    """Folds messages that left the verbatim window into the summary."""

    background: bool  # run after the turn rather than inside it

    async def __call__(
        self,
        previous: str,
        items: Sequence[HistoryItem],
        redactor: Redactor | None = None,
        caller: Caller | None = None,
    ) -> str:
        """The new summary (``redactor``: the conversation's, for a model's prompt).

        ``caller``: the workspace and conversation a model's usage is recorded for.
        """
        ...


class Redactor:
    """A conversation's vault with the values known about its customer."""

    def __init__(self, vault: Vault, known: Sequence[tuple[str, str]]) -> None:
        self.vault, self.known = vault, known

    def redact(self, text: str) -> str:
        """``text`` with personal data replaced by placeholders."""
        return self.vault.redact(text, self.known)

    def restore(self, text: str) -> str:
        """Every placeholder of this conversation put back as it was."""
        return self.vault.restore(text, ALL_KINDS)


class ExtractiveSummarizer:
    """One line per message: deterministic, no model call (:mod:`omnivox.memory.summary`)."""

    background = False

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def __call__(
        self,
        previous: str,
        items: Sequence[HistoryItem],
        redactor: Redactor | None = None,
        caller: Caller | None = None,
    ) -> str:
        """``previous`` plus a line per item, cut to ``limit`` characters (no model sees it)."""
        if redactor is None:
            return fold(previous, items, self.limit)
        region, known = redactor.vault.region, redactor.known
        return fold(previous, items, self.limit, region, known)


class ModelSummarizer:
    """The model rewrites the summary; the extractive folder is the fallback."""

    background = True

    def __init__(self, provider: LLMProvider, limit: int, events: EventSink | None = None) -> None:
        self.model = MeteredChain(ProviderChain([provider]), events)
        self.limit = limit
        self.fallback = ExtractiveSummarizer(limit)

    async def __call__(
        self,
        previous: str,
        items: Sequence[HistoryItem],
        redactor: Redactor | None = None,
        caller: Caller | None = None,
    ) -> str:
        """The model's summary, or the extractive one when it fails."""
        hide = redactor.redact if redactor is not None else str
        transcript = "\n".join(
            f"{'Customer' if i.direction == 'in' else 'Assistant'} "
            f"({display_name(i.channel)}): {' '.join(hide(i.text).split())}"
            for i in items
        )
        shown = hide(previous) if previous else "(none)"
        prompt = f"Summary so far:\n{shown}\n\nNew messages:\n{transcript}"
        request = CompletionRequest(
            (
                ChatMessage("system", INSTRUCTIONS.format(limit=self.limit)),
                ChatMessage("user", prompt),
            ),
            prompt,
            max_tokens=max(64, self.limit // 3),
            temperature=0.0,
        )
        try:
            text = " ".join((await self.model.complete(request, caller)).text.split())
        except Exception as exc:  # any model failure: the extractive summary still holds
            log.warning("memory.summary.model_failed", error=str(exc))
            text = ""
        if not text:
            return await self.fallback(previous, items, redactor)
        if redactor is None:
            return clip(text, self.limit)
        # cut after the placeholders are back, never inside a value (see summary.clip)
        return clip(redactor.restore(text), self.limit, redactor.vault.region, redactor.known)
