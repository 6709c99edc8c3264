"""A provider that answers from a script: deterministic, instant or slow, healthy or broken."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from omnivox.llm.base import (
    Completion,
    CompletionRequest,
    Delta,
    ProviderError,
    Usage,
    collect,
    estimate_tokens,
)
from omnivox.settings import ScriptedSettings


class ScriptedProvider:
    """Replies ``settings.reply`` with ``{question}`` filled in; records every request."""

    name = "scripted"

    def __init__(self, settings: ScriptedSettings) -> None:
        self.settings = settings
        self.timeout_s = settings.timeout_s
        self.requests: list[CompletionRequest] = []

    async def ready(self) -> bool:
        """Always ready."""
        return True

    async def complete(self, request: CompletionRequest) -> Completion:
        """The scripted reply as one completion."""
        return await collect(self.stream(request))

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        """Wait ``delay_s``, then yield the reply word by word, ``word_delay_s`` apart."""
        self.requests.append(request)
        if self.settings.delay_s:
            await asyncio.sleep(self.settings.delay_s)
        if self.settings.fail:
            raise ProviderError("scripted failure")
        text = self.settings.reply.format(question=request.query)
        for i, word in enumerate(text.split(" ")):
            if i and self.settings.word_delay_s:
                await asyncio.sleep(self.settings.word_delay_s)
            yield Delta(word if i == 0 else " " + word, provider=self.name, model="scripted")
        prompt = sum(estimate_tokens(m.content) for m in request.messages)
        yield Delta(
            "",
            usage=Usage(prompt, estimate_tokens(text)),
            provider=self.name,
            model="scripted",
            finish_reason="stop",
        )

    async def close(self) -> None:
        """Nothing to release."""
