"""Model calls outside a turn's answer write an ``llm.usage`` event, cancelled ones too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from omnivox import events
from omnivox.bus import EventRecord
from omnivox.llm.base import ChatMessage, Completion, CompletionRequest, Delta
from omnivox.llm.chain import ProviderChain
from omnivox.llm.metered import Caller, MeteredChain

REQUEST = CompletionRequest((ChatMessage("user", "write the summary"),), "write the summary")
CALLER = Caller("acme", "summary", "conv_1")


class Sink:
    def __init__(self) -> None:
        self.records: list[EventRecord] = []

    def emit(self, record: EventRecord) -> None:
        self.records.append(record)

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class StreamsThenHangs:
    """Streams ``words``, then waits for more that never come (until cancelled)."""

    name = "slow"
    timeout_s = 60.0

    def __init__(self, *words: str) -> None:
        self.words = words
        self.streamed = asyncio.Event()
        self.closed = False

    async def ready(self) -> bool:
        return True

    async def complete(self, request: CompletionRequest) -> Completion:
        raise NotImplementedError

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        try:
            for word in self.words:
                yield Delta(word, provider=self.name)
            self.streamed.set()
            await asyncio.Event().wait()
            yield Delta("never")
        finally:
            self.closed = True

    async def close(self) -> None:
        return None


async def cancelled_mid_stream(provider: StreamsThenHangs, sink: Sink) -> None:
    """Start a metered call, cancel it once ``provider`` streamed its words; it must re-raise."""
    metered = MeteredChain(ProviderChain([provider]), sink)
    call = asyncio.create_task(metered.complete(REQUEST, CALLER))
    await asyncio.wait_for(provider.streamed.wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):  # still propagates
        await asyncio.wait_for(call, 5)
    assert provider.closed


async def test_a_call_cancelled_mid_stream_records_what_it_used_so_far() -> None:
    """A call cancelled mid-answer (shutdown, a task given up) wrote no ``llm.usage`` event."""
    provider, sink = StreamsThenHangs("The customer asked about ", "a refund for order"), Sink()
    await cancelled_mid_stream(provider, sink)

    [record] = sink.records
    assert (record.type, record.workspace_id, record.conversation_id) == (
        events.LLM_USAGE,
        "acme",
        "conv_1",
    )
    usage = record.payload
    assert (usage["purpose"], usage["provider"], usage["outcome"]) == (
        "summary",
        "slow",
        "cancelled",
    )
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0  # the streamed words
    assert usage["estimated"] and usage["fallbacks"] == []


async def test_a_call_cancelled_before_any_text_records_nothing_used() -> None:
    # like a failed attempt: without text it is not known to have read the prompt
    sink = Sink()
    await cancelled_mid_stream(StreamsThenHangs(), sink)
    [record] = sink.records
    assert record.payload["outcome"] == "cancelled"
    assert record.payload["prompt_tokens"] == record.payload["completion_tokens"] == 0
