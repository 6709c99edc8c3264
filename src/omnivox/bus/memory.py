"""In-process event writer: events are queued by the turn and written in batches.

Writing the turn's event after the reply is sent keeps the event log off the customer's
latency. The writer also waits ``delay_s`` (0.25 s) after an event before writing, and writes
what came meanwhile with it: a turn's event then does not take the database connection (and,
on SQLite, run the WAL checkpoint its commit triggers) just as the next message arrives, but
while that turn waits for the model, or in a pause; under load, one transaction carries many
turns' events. ``flush()`` cuts the wait short, ``max_batch`` queued events write at once, and
``close()`` writes what is left at shutdown; a crash can lose the events of the last
``delay_s`` (the log is for measuring, never the record of a conversation).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Sequence

from omnivox.bus import EventRecord
from omnivox.logs import get_logger

log = get_logger(__name__)
Writer = Callable[[Sequence[EventRecord]], Awaitable[None]]
WRITE_DELAY_S = 0.25  # measured: bench/RESULTS.md 2026-12-04, docs/configuration.md `database`


class QueuedEventWriter:
    """Batches events through one background task."""

    def __init__(self, write: Writer, max_batch: int = 256, delay_s: float = WRITE_DELAY_S) -> None:
        self._write = write
        self._max_batch = max_batch
        self._delay_s = delay_s
        self._queue: asyncio.Queue[EventRecord] = asyncio.Queue()
        self._hurry = asyncio.Event()  # set: write without waiting (flush, a full batch)
        self._unwritten = 0  # emitted, not yet written (the batch being gathered included)
        self._task: asyncio.Task[None] | None = None

    def emit(self, event: EventRecord) -> None:
        """Queue an event; the writer task starts on first use.

        The task gets a context of its own: it outlives the turn that happens to start it, so
        it keeps none of that turn's log bindings or its short-statement mode.
        """
        self._queue.put_nowait(event)
        self._unwritten += 1
        if self._unwritten >= self._max_batch:
            self._hurry.set()
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), context=contextvars.Context())

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._delay_s > 0 and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self._delay_s)
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as exc:  # the event log must never take a turn down
                log.error("events.write_failed", error=str(exc), lost=len(batch))
            finally:
                self._unwritten -= len(batch)
                if self._queue.empty():
                    self._hurry.clear()
                for _ in batch:
                    self._queue.task_done()

    async def flush(self) -> None:
        """Return once every event queued so far is written (without the wait)."""
        self._hurry.set()
        await self._queue.join()

    async def close(self) -> None:
        """Write what is queued, then stop the task."""
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            self._task = None
