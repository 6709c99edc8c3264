from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from omnivox.llm.base import ChatMessage, Completion, CompletionRequest, Delta, ProviderError
from omnivox.llm.chain import ChainTrace, ProviderChain
from omnivox.settings import ScriptedSettings
from omnivox.testing import ScriptedProvider

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
