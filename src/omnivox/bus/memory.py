"""In-process event writer: events are queued by the turn and written in batches.

Writing the turn's event after the reply is sent keeps the event log off the customer's
latency. Events still queued are written by ``flush()`` and at shutdown (``close()``); a
crash can lose at most the last batch.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence

from omnivox.bus import EventRecord
from omnivox.logs import get_logger

log = get_logger(__name__)
Writer = Callable[[Sequence[EventRecord]], Awaitable[None]]


class QueuedEventWriter:
    """Batches events through one background task."""

    def __init__(self, write: Writer, max_batch: int = 256) -> None:
        self._write = write
        self._max_batch = max_batch
        self._queue: asyncio.Queue[EventRecord] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def emit(self, event: EventRecord) -> None:
        """Queue an event; the writer task starts on first use.

        The task gets a context of its own: it outlives the turn that happens to start it, so
        it keeps none of that turn's log bindings or its short-statement mode.
        """
        self._queue.put_nowait(event)
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), context=contextvars.Context())

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as exc:  # the event log must never take a turn down
                log.error("events.write_failed", error=str(exc), lost=len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def flush(self) -> None:
        """Return once every event queued so far is written."""
        await self._queue.join()

    async def close(self) -> None:
        """Write what is queued, then stop the task."""
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            self._task = None
