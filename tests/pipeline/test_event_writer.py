"""The event writer waits a moment and writes what came meanwhile in one batch; flush,
a full batch and close do not wait."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from omnivox.bus import EventRecord
from omnivox.bus.memory import QueuedEventWriter


class Batches:
    """A writer that records each batch's event types."""

    def __init__(self) -> None:
        self.written: list[list[str]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, batch: Sequence[EventRecord]) -> None:
        self.written.append([e.type for e in batch])
        self.arrived.set()


async def settle() -> None:
    """Let every ready task run (the writer's included) a few times."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_events_wait_and_are_written_together_when_flushed() -> None:
    out = Batches()
    writer = QueuedEventWriter(out, delay_s=3600)
    for kind in ("a", "b", "c"):
        writer.emit(EventRecord(kind))
        await settle()
    assert out.written == []  # still inside the wait
    await writer.flush()
    assert out.written == [["a", "b", "c"]]
    writer.emit(EventRecord("d"))  # the next event waits again
    await settle()
    assert out.written == [["a", "b", "c"]]
    await writer.close()
    assert out.written == [["a", "b", "c"], ["d"]]


async def test_events_are_written_after_the_delay_without_a_flush() -> None:
    out = Batches()
    writer = QueuedEventWriter(out, delay_s=0.05)
    writer.emit(EventRecord("a"))
    writer.emit(EventRecord("b"))
    await asyncio.wait_for(out.arrived.wait(), timeout=10)
    assert out.written == [["a", "b"]]
    await writer.close()


async def test_a_full_batch_is_written_at_once() -> None:
    out = Batches()
    writer = QueuedEventWriter(out, max_batch=2, delay_s=3600)
    writer.emit(EventRecord("a"))
    await settle()
    assert out.written == []
    writer.emit(EventRecord("b"))
    await asyncio.wait_for(out.arrived.wait(), timeout=10)
    assert out.written == [["a", "b"]]
    await writer.close()


async def test_a_failed_write_is_logged_and_the_writer_goes_on() -> None:
    written: list[str] = []

    async def flaky(batch: Sequence[EventRecord]) -> None:
        if batch[0].type == "bad":
            raise RuntimeError("disk full")
        written.extend(e.type for e in batch)

    writer = QueuedEventWriter(flaky, delay_s=3600)
    writer.emit(EventRecord("bad"))
    await writer.flush()
    writer.emit(EventRecord("good"))
    await writer.close()
    assert written == ["good"]
