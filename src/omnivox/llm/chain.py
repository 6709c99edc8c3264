"""Provider chain: try each provider in order with its own deadline; fall back on error.

A provider that fails after it has streamed part of an answer is followed by a ``reset`` delta,
so a consumer never keeps a half answer from one provider glued to another's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from omnivox import events
from omnivox.llm.base import (
    ChatMessage,
    Completion,
    CompletionRequest,
    Delta,
    LLMProvider,
    ProviderError,
)
from omnivox.llm.base import collect as collect_stream
from omnivox.logs import get_logger
from omnivox.memory.budget import fit

log = get_logger(__name__)


@dataclass
class ChainTrace:
    """What the chain did on one call: who answered, who failed and why, and timings."""

    provider: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    first_token_ms: float | None = None
    model_ms: float = 0.0


class ProviderChain:
    """An ordered list of providers that behaves like one provider."""

    def __init__(self, providers: Sequence[LLMProvider]) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        self.providers = list(providers)

    async def ready(self) -> bool:
        """Ready when the first provider is (the fallbacks cover a slow start)."""
        return await self.providers[0].ready()

    async def complete(
        self, request: CompletionRequest, trace: ChainTrace | None = None
    ) -> Completion:
        """The whole answer from the first provider that succeeds."""
        return await collect_stream(self.stream(request, trace))

    async def stream(
        self, request: CompletionRequest, trace: ChainTrace | None = None
    ) -> AsyncIterator[Delta]:
        """Stream from the first provider that succeeds within its timeout."""
        trace = trace if trace is not None else ChainTrace()
        for provider in self.providers:
            started = time.perf_counter()
            emitted = False
            try:
                fitted = fit(request, context_tokens(provider))
                async for delta in _with_deadline(provider.stream(fitted), provider.timeout_s):
                    if trace.first_token_ms is None and delta.text:
                        trace.first_token_ms = (time.perf_counter() - started) * 1000
                    emitted = emitted or bool(delta.text)
                    yield delta
                trace.provider = provider.name
                trace.model_ms = (time.perf_counter() - started) * 1000
                return
            except Exception as exc:  # any provider failure falls through to the next one
                reason = "timeout" if isinstance(exc, TimeoutError) else str(exc)
                trace.failures.append({"provider": provider.name, "reason": reason})
                trace.first_token_ms = None
                log.warning(events.LLM_FALLBACK, provider=provider.name, reason=reason)
                if emitted:
                    yield Delta("", reset=True, provider=provider.name)
        raise ProviderError(
            "every provider failed: "
            + "; ".join(f"{f['provider']}: {f['reason']}" for f in trace.failures)
        )

    async def prefill(
        self,
        messages: tuple[ChatMessage, ...],
        max_tokens: int,
        stop: Callable[[], bool] = lambda: False,
        *,
        guess: bool = False,
    ) -> int:
        """Let the first provider read ``messages``, the beginning of a later prompt, now.

        Only providers that keep a prompt's state (the in-process model) can; for the others
        this does nothing. The messages are fitted to the provider's context as the later
        prompt will be; reading stops early once ``stop()`` is true. ``guess``: the last
        message is the beginning of the later prompt's last message, guessed (the passages
        for what the customer is still typing). Returns the tokens read; a failure is logged,
        never raised.
        """
        provider = self.providers[0]
        if not isinstance(provider, Prefills):
            return 0
        later = CompletionRequest(
            messages if guess else (*messages, ChatMessage("user", "")), "", max_tokens=max_tokens
        )
        fitted = fit(later, context_tokens(provider)).messages
        try:
            return await provider.prefill(fitted if guess else fitted[:-1], stop, guess=guess)
        except Exception as exc:  # reading ahead is an optimisation: the turn will read it
            log.warning("llm.prefill.failed", provider=provider.name, error=str(exc))
            return 0

    def reads_ahead(self) -> bool:
        """True when the first provider can read a prompt's beginning ahead (:meth:`prefill`)."""
        return isinstance(self.providers[0], Prefills)

    async def close(self) -> None:
        """Close every provider."""
        for provider in self.providers:
            await provider.close()


async def _with_deadline(stream: AsyncIterator[Delta], timeout_s: float) -> AsyncIterator[Delta]:
    """Re-yield ``stream``; raise TimeoutError when the whole call passes ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    iterator = aiter(stream)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                delta = await asyncio.wait_for(anext(iterator), remaining)
            except StopAsyncIteration:
                return
            yield delta
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


@runtime_checkable
class Prefills(Protocol):
    """A provider that can read the beginning of a prompt before the prompt is complete."""

    name: str

    async def prefill(
        self, messages: tuple[ChatMessage, ...], stop: Callable[[], bool], *, guess: bool = False
    ) -> int:
        """Read ``messages`` until ``stop()``; return how many new tokens were read.

        ``guess``: the last message is a guess at the beginning of the next prompt's last one.
        """
        ...


def context_tokens(provider: LLMProvider) -> int | None:
    """The provider's context window in tokens, when it declares one."""
    value = getattr(provider, "context_tokens", None)
    return value if isinstance(value, int) else None
