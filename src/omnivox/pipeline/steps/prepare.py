"""prepare: ready the next turn's memory and prompt while the customer reads and types.

After a turn the model answered, in the background (the reply is already out), once
``GRACE_S`` has passed with no turn in progress anywhere in the server:

1. when a fold of the oldest messages into the summary is due, fold them now (a turn itself
   folds only when ``memory.fold_wait_turns`` more turns have passed without a quiet moment,
   :class:`omnivox.storage.memory.MemoryRules`), so no turn writes the summary before it can
   start;
2. let the model read the next prompt's beginning (system prompt, summary, and the history up to
   this reply) while nobody waits for it (:meth:`omnivox.llm.llamacpp.LlamaCppProvider.prefill`;
   providers that keep no prompt state skip this).

The next turn then reads only its own message and its passages, even right after a fold, whose
new summary would otherwise make it re-read the whole conversation (~1,000 tokens, seconds on
2 cores). Reading ahead stops at the next small batch as soon as any turn starts, and the part
already read stays (it is that conversation's own prompt beginning). When turns keep coming (a
busy server, or a client that answers at once) nothing is prepared: the history keeps growing
(each prompt still begins with the previous one, which the model has read) until a turn must
fold for itself. The work of a quiet moment never delays a waiting customer.
"""

from __future__ import annotations

import asyncio
import copy

from omnivox.logs import get_logger
from omnivox.pipeline.activity import Activity
from omnivox.pipeline.context import TurnContext
from omnivox.pipeline.steps.attach import Attach
from omnivox.pipeline.steps.generate import Generate
from omnivox.pipeline.steps.guard_input import redact_memory

log = get_logger(__name__)
GRACE_S = 0.5  # a customer reads the answer first; a client that replies sooner is a script


class Prepare:
    """Fold ahead and read ahead after an answered turn (background work)."""

    name = "prepare"
    finishing = False

    def __init__(self, attach: Attach, generate: Generate, activity: Activity) -> None:
        self.attach = attach
        self.generate = generate
        self.activity = activity
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Start the background work when the model answered this turn."""
        if ctx.conversation_id is None or ctx.llm_trace is None or ctx.llm_trace.provider is None:
            return ctx
        task = asyncio.create_task(self._prepare(ctx))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return ctx

    async def close(self) -> None:
        """Stop reading ahead (at the next batch) and wait for what runs: the server stops."""
        self._closing = True
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _stop(self) -> bool:
        return self._closing or self.activity.busy()

    async def _prepare(self, ctx: TurnContext) -> None:
        await asyncio.sleep(GRACE_S)
        if self._stop():
            return
        try:
            upcoming = await self._next_context(ctx)
            if self._stop():
                return
            read = await self.generate.chain.prefill(
                self.generate.prompt(upcoming)[:-1], self.generate.max_tokens, self._stop
            )
            log.debug("turn.prepared", conversation_id=ctx.conversation_id, tokens=read)
        except Exception as exc:  # only an optimisation: the next turn does the work itself
            log.warning("turn.prepare_failed", error=repr(exc))

    async def _next_context(self, ctx: TurnContext) -> TurnContext:
        """``ctx`` with the memory the next turn will recall (folded now when due)."""
        assert ctx.conversation_id is not None
        attach = self.attach
        recall = await attach.store.recall(
            ctx.conversation_id, None, attach.history_messages, attach.memory, quiet=True
        )
        summary = recall.summary
        if recall.pending is not None:
            summary = await attach.fold(ctx.conversation_id, recall.summary, recall.pending)
        upcoming = copy.copy(ctx)
        upcoming.history, upcoming.summary, upcoming.facts = recall.history, summary, recall.facts
        upcoming.passages, upcoming.retrieval_query = [], None
        if ctx.vault is not None:
            redact_memory(upcoming, ctx.vault, recall.known)
        return upcoming
