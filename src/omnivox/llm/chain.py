"""Provider chain: try each provider in order with its own deadline; fall back on error.

A provider that fails after it has streamed part of an answer is followed by a ``reset`` delta,
so a consumer never keeps a half answer from one provider glued to another's.

A failed attempt's usage is kept in the trace (:meth:`ChainTrace.spent` counts it with the
answer's): what the provider reported before failing, else an estimate once it had read the
prompt, that is once it had streamed text or ran past its deadline (the prompt's tokens and
those of the text it streamed, priced by the provider where it has prices, :class:`Prices`).
An attempt that failed before either (refused, unreachable, an HTTP error) counts nothing:
such calls are not billed. Until 2026-12-05 failed attempts counted nothing at all.

A call cancelled mid-answer (the server shutting down, the caller gone) is not a failure and
falls back to nothing: the provider answering then is the trace's, with what it used so far
(reported, else estimated like a failed attempt's), and the cancellation goes on. Until
2026-12-06 such an attempt was left out of the trace.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from omnivox import events
from omnivox.llm.base import (
    ChatMessage,
    Completion,
    CompletionRequest,
    Delta,
    LLMProvider,
    ProviderError,
    Usage,
    estimate_tokens,
)
from omnivox.llm.base import collect as collect_stream
from omnivox.logs import get_logger
from omnivox.memory.budget import fit

log = get_logger(__name__)


@dataclass
class ChainTrace:
    """What the chain did on one call: who answered, who failed and why, and timings.

    ``failures``: one entry per failed attempt, with its provider, ``outcome`` (``timeout`` or
    ``error``), reason and the tokens and cost it is known to have used; ``usage``: what the
    answering provider reported (cancelled mid-answer: what it is known to have used so far).
    """

    provider: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    first_token_ms: float | None = None
    model_ms: float = 0.0
    usage: Usage | None = None
    failed_usage: Usage = field(default_factory=Usage)

    def failed(self, provider: str, exc: Exception, usage: Usage) -> str:
        """Record a failed attempt and what it used; returns the reason."""
        timed_out = isinstance(exc, TimeoutError)
        reason = "timeout" if timed_out else str(exc)
        self.failures.append(
            {
                "provider": provider,
                "outcome": "timeout" if timed_out else "error",
                "reason": reason,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost_usd": usage.cost_usd,
                "estimated": usage.estimated,
            }
        )
        self.failed_usage = self.failed_usage.plus(usage)
        return reason

    def spent(self) -> Usage:
        """Every attempt's usage: the answer's and the failed ones'."""
        return (self.usage or Usage()).plus(self.failed_usage)


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
            fitted, said = request, list[str]()
            reported: Usage | None = None
            try:
                fitted = fit(request, context_tokens(provider))
                async for delta in _with_deadline(provider.stream(fitted), provider.timeout_s):
                    if trace.first_token_ms is None and delta.text:
                        trace.first_token_ms = (time.perf_counter() - started) * 1000
                    said.append(delta.text)
                    reported = delta.usage or reported
                    yield delta
                trace.provider, trace.usage = provider.name, reported
                trace.model_ms = (time.perf_counter() - started) * 1000
                return
            except asyncio.CancelledError:  # no fallback, but what it used so far is spent
                trace.provider = provider.name
                trace.usage = reported or _estimated(provider, fitted, "".join(said), late=False)
                trace.model_ms = (time.perf_counter() - started) * 1000
                raise
            except Exception as exc:  # any provider failure falls through to the next one
                text = "".join(said)
                used = reported or _estimated(provider, fitted, text, isinstance(exc, TimeoutError))
                reason = trace.failed(provider.name, exc, used)
                trace.first_token_ms = None
                log.warning(events.LLM_FALLBACK, provider=provider.name, reason=reason)
                if text:
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


def _estimated(provider: LLMProvider, request: CompletionRequest, text: str, late: bool) -> Usage:
    """A failed attempt's usage, unreported: estimated once it had read the prompt.

    It had when it streamed ``text`` or ran past its deadline (``late``); otherwise nothing.
    """
    if not text and not late:
        return Usage()
    return estimated_usage(provider, request, text)


def estimated_usage(provider: object, request: CompletionRequest, text: str) -> Usage:
    """The estimated usage of a call that read ``request`` and wrote ``text``.

    Priced by ``provider`` where it has prices (:class:`Prices`), else tokens only.
    """
    if isinstance(provider, Prices):
        return provider.usage_of(request, text)
    prompt = sum(estimate_tokens(m.content) for m in request.messages)
    return Usage(prompt, estimate_tokens(text), estimated=True)


@runtime_checkable
class Prices(Protocol):
    """A provider that prices its tokens: a failed call's estimated usage carries its cost."""

    def usage_of(self, request: CompletionRequest, text: str) -> Usage:
        """The estimated usage of a call that read ``request`` and wrote ``text``."""
        ...


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
