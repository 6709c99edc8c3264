from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from omnivox.llm.base import ChatMessage, Completion, CompletionRequest, Delta, ProviderError
from omnivox.llm.chain import ChainTrace, ProviderChain
from omnivox.llm.openai_compat import OpenAICompatProvider
from omnivox.settings import ScriptedSettings
from omnivox.testing import ScriptedProvider
from tests.llm.test_openai_compat import chunk, settings, sse

REQUEST = CompletionRequest((ChatMessage("user", "hello there"),), "hello there")


class BreaksMidStream:
    """Streams two words, then fails: the chain must tell the consumer to reset."""

    name = "flaky"
    timeout_s = 5.0

    async def ready(self) -> bool:
        return True

    async def complete(self, request: CompletionRequest) -> Completion:
        raise NotImplementedError

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        yield Delta("half ", provider=self.name)
        yield Delta("an", provider=self.name)
        raise ProviderError("connection dropped")

    async def close(self) -> None:
        return None


def scripted(**kwargs: object) -> ScriptedProvider:
    return ScriptedProvider(ScriptedSettings(type="scripted", **kwargs))  # type: ignore[arg-type]


async def test_first_healthy_provider_answers() -> None:
    second = scripted(reply="never used")
    chain = ProviderChain([scripted(reply="echo {question}"), second])
    trace = ChainTrace()
    completion = await chain.complete(REQUEST, trace)
    assert completion.text == "echo hello there"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert trace.provider == "scripted" and trace.failures == []
    assert trace.first_token_ms is not None and trace.model_ms >= trace.first_token_ms
    assert second.requests == []


async def test_falls_back_on_error_and_on_timeout() -> None:
    trace = ChainTrace()
    chain = ProviderChain(
        [scripted(fail=True), scripted(delay_s=2, timeout_s=0.1), scripted(reply="third")]
    )
    completion = await chain.complete(REQUEST, trace)
    assert completion.text == "third"
    assert [f["reason"] for f in trace.failures] == ["scripted failure", "timeout"]


async def test_failed_attempts_keep_what_they_used() -> None:
    """A provider that broke off mid-answer or ran past its deadline had read the prompt (and
    was billed for it); one that failed before that had not. They counted nothing."""
    trace = ChainTrace()
    chain = ProviderChain(
        [BreaksMidStream(), scripted(delay_s=2, timeout_s=0.1), scripted(fail=True), scripted()]
    )
    completion = await chain.complete(REQUEST, trace)
    outcomes = [(f["provider"], f["outcome"], f["estimated"]) for f in trace.failures]
    assert outcomes == [
        ("flaky", "error", True),
        ("scripted", "timeout", True),
        ("scripted", "error", False),
    ]
    broke, late, refused = trace.failures
    assert (broke["prompt_tokens"], broke["completion_tokens"]) == (2, 1)  # "half an"
    assert (late["prompt_tokens"], late["completion_tokens"]) == (2, 0)
    assert (refused["prompt_tokens"], refused["completion_tokens"]) == (0, 0)
    assert trace.usage == completion.usage
    spent = trace.spent()
    assert spent.prompt_tokens == completion.usage.prompt_tokens + 4 and spent.estimated


async def test_a_priced_provider_that_broke_off_costs_what_it_read_and_wrote() -> None:
    broken = sse(chunk("Your order"), chunk(" ships on"), done=False)
    priced = OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=0, price_per_1k_input=1, price_per_1k_output=2),
        transport=httpx.MockTransport(lambda r: broken),
    )
    trace = ChainTrace()
    await ProviderChain([priced, scripted()]).complete(REQUEST, trace)
    (failure,) = trace.failures
    assert (failure["prompt_tokens"], failure["completion_tokens"]) == (2, 4)
    assert failure["cost_usd"] == (2 * 1.0 + 4 * 2.0) / 1000 == trace.failed_usage.cost_usd


async def test_mid_stream_failure_resets_before_the_fallback_answer() -> None:
    chain = ProviderChain([BreaksMidStream(), scripted(reply="clean answer")])
    deltas = [d async for d in chain.stream(REQUEST)]
    kinds = ["reset" if d.reset else d.text for d in deltas if d.text or d.reset]
    assert kinds == ["half ", "an", "reset", "clean", " answer"]
    assert (await chain.complete(REQUEST)).text == "clean answer"


async def test_every_provider_failing_raises_with_reasons() -> None:
    chain = ProviderChain([scripted(fail=True), BreaksMidStream()])
    with pytest.raises(ProviderError, match="scripted: scripted failure; flaky: connection"):
        await chain.complete(REQUEST)


async def test_timeout_cancels_a_slow_stream_promptly() -> None:
    chain = ProviderChain([scripted(delay_s=30, timeout_s=0.2), scripted(reply="ok")])
    completion = await asyncio.wait_for(chain.complete(REQUEST), timeout=5)
    assert completion.text == "ok"


def test_empty_chain_is_refused() -> None:
    with pytest.raises(ValueError):
        ProviderChain([])
