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

While the customer types in the web chat, the widget sends the draft now and then
(``{"type": "draft"}`` frames, :meth:`Prepare.draft`): the passages the draft would get are looked
up and the model reads them too, up to where the question will stand, so that the turn reads
little more than the question itself when the finished message finds the same passages. The
draft is used for that search only: it is neither stored nor shown to the model. A visitor who
has not written yet (a conversation's first message) gets the prompt of a new conversation on
that workspace and channel: the last such first turn the model answered, emptied of everything
of its own customer (:func:`blank_context`).

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
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from omnivox.llm.base import ChatMessage
from omnivox.logs import get_logger
from omnivox.memory.summarizer import Redactor
from omnivox.pipeline.activity import Activity
from omnivox.pipeline.context import TurnContext
from omnivox.pipeline.steps.attach import Attach
from omnivox.pipeline.steps.generate import Generate
from omnivox.pipeline.steps.guard_input import GuardInput, redact_memory
from omnivox.pipeline.steps.retrieve import Retrieve
from omnivox.types import CustomerRef, InboundMessage, conversation_key

log = get_logger(__name__)
GRACE_S = 0.5  # a customer reads the answer first; a client that replies sooner is a script
REMEMBERED = 1024  # senders whose last answered turn is kept for their drafts
# the widget sends a draft at most once a second, or 0.3 s after the last key: a client that
# sends them faster is not a widget, and each draft costs a search
DRAFT_GAP_S = 0.25
# drafts waiting to be read, all senders together: each costs a search, and new visitors'
# drafts come from any number of visitor ids; more are dropped until the queue drains
MAX_PENDING_DRAFTS = 32


@dataclass(frozen=True, slots=True)
class _Draft:
    """What a sender is typing, and the workspace and channel they type on."""

    text: str
    where: tuple[str, str]


def blank_context(ctx: TurnContext) -> TurnContext:
    """``ctx`` (a conversation's first turn) with nothing left of its customer or message.

    What remains is what every new conversation on that workspace and channel shares: the
    workspace (persona, knowledge) and the channel (its guidance).
    """
    blank = copy.copy(ctx)
    blank.inbound = InboundMessage(
        ctx.inbound.workspace_id, ctx.inbound.channel, CustomerRef(""), ""
    )
    blank.customer_id = blank.conversation_id = blank.message = blank.variant = None
    blank.history, blank.summary, blank.facts, blank.known = [], "", {}, []
    blank.model_text, blank.vault, blank.analysis, blank.recent_nlu = "", None, None, []
    blank.passages, blank.retrieval_query, blank.reply, blank.llm_trace = [], None, None, None
    return blank


def _first_turn(ctx: TurnContext) -> bool:
    """A new conversation's first turn, with nothing known of its customer."""
    return not (ctx.history or ctx.summary or ctx.facts or ctx.resumed_from)


class Prepare:
    """Fold ahead and read ahead after an answered turn (background work)."""

    name = "prepare"
    finishing = False

    def __init__(
        self,
        attach: Attach,
        generate: Generate,
        activity: Activity,
        retrieve: Retrieve | None = None,
        guard: GuardInput | None = None,
    ) -> None:
        self.attach = attach
        self.generate = generate
        self.activity = activity
        self.retrieve = retrieve
        self.guard = guard or GuardInput()  # a new visitor's draft is redacted in a new vault
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        # by sender (InboundMessage.conversation_key): last answered turn, next turn's memory,
        # latest draft and when it came
        self._answered: OrderedDict[str, TurnContext] = OrderedDict()
        self._upcoming: dict[str, TurnContext] = {}
        self._drafts: dict[str, _Draft] = {}
        self._draft_at: OrderedDict[str, float] = OrderedDict()
        # by (workspace, channel): the last answered first turn, emptied (blank_context)
        self._blank: dict[tuple[str, str], TurnContext] = {}
        self._draft_lock = asyncio.Lock()
        self._memory_lock = asyncio.Lock()  # one recall (and fold) at a time

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Start the background work when the model answered this turn."""
        if ctx.conversation_id is None or ctx.llm_trace is None or ctx.llm_trace.provider is None:
            return ctx
        sender = ctx.inbound.conversation_key
        if _first_turn(ctx):
            self._blank[(ctx.inbound.workspace_id, ctx.inbound.channel)] = blank_context(ctx)
        self._upcoming.pop(sender, None)
        self._answered[sender] = ctx
        self._answered.move_to_end(sender)
        while len(self._answered) > REMEMBERED:
            forgotten = self._answered.popitem(last=False)[0]
            self._upcoming.pop(forgotten, None)
        self._start(self._prepare(ctx))
        return ctx

    def draft(self, workspace_id: str, channel: str, address: str, text: str) -> None:
        """The customer is typing ``text``: read its passages ahead (in the background).

        For a sender whose last turn the model answered, and for one who has not written yet
        once a first turn on that workspace and channel was answered; at most one draft every
        ``DRAFT_GAP_S`` seconds from one sender and at most ``MAX_PENDING_DRAFTS`` waiting in
        all (the rest are dropped).
        """
        sender, where = conversation_key(workspace_id, channel, address), (workspace_id, channel)
        if self._closing or not self.generate.chain.reads_ahead():
            return
        if sender not in self._answered and where not in self._blank:
            return
        if sender not in self._drafts and len(self._drafts) >= MAX_PENDING_DRAFTS:
            return
        now = time.monotonic()
        if now - self._draft_at.get(sender, -DRAFT_GAP_S) < DRAFT_GAP_S:
            return  # too soon after the last one
        self._draft_at[sender] = now
        self._draft_at.move_to_end(sender)
        while len(self._draft_at) > REMEMBERED:
            self._draft_at.popitem(last=False)
        self._drafts[sender] = _Draft(text, where)
        self._start(self.read_draft(sender))

    async def read_draft(self, sender: str) -> int:
        """Read the prompt the sender's latest draft would get, up to its question.

        Returns the tokens read. Drafts wait for each other; one that a newer draft replaced
        before its turn came is dropped, and a newer one stops the reading of an older one.
        """
        async with self._draft_lock:
            draft = self._drafts.get(sender)
            if draft is None:
                return 0

            def stale() -> bool:
                return self._stop() or self._drafts.get(sender) is not draft

            read = 0
            try:
                if not stale():
                    read = await self._read_draft(sender, draft, stale)
            except Exception as exc:  # only an optimisation: the turn does the work itself
                log.warning("turn.draft_failed", error=repr(exc))
            if self._drafts.get(sender) is draft:  # a draft is kept no longer than its reading
                del self._drafts[sender]
            return read

    def _start(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
            upcoming = await self._upcoming_for(ctx)
            if self._stop():
                return
            read = await self.generate.chain.prefill(
                self.generate.prompt(upcoming)[:-1], self.generate.max_tokens, self._stop
            )
            log.debug("turn.prepared", conversation_id=ctx.conversation_id, tokens=read)
        except Exception as exc:  # only an optimisation: the next turn does the work itself
            log.warning("turn.prepare_failed", error=repr(exc))

    async def _upcoming_for(self, ctx: TurnContext) -> TurnContext:
        """The next turn's context after ``ctx``: made once per answered turn (and fold)."""
        sender = ctx.inbound.conversation_key
        async with self._memory_lock:
            latest = self._answered.get(sender) is ctx
            upcoming = self._upcoming.get(sender) if latest else None
            if upcoming is None:
                upcoming = await self._next_context(ctx)
                if latest and self._answered.get(sender) is ctx:
                    self._upcoming[sender] = upcoming
            return upcoming

    async def _next_context(self, ctx: TurnContext) -> TurnContext:
        """``ctx`` with the memory the next turn will recall (folded now when due)."""
        assert ctx.conversation_id is not None
        attach = self.attach
        recall = await attach.store.recall(
            ctx.conversation_id, None, attach.history_messages, attach.memory, quiet=True
        )
        summary = recall.summary
        if recall.pending is not None:
            redactor = Redactor(ctx.vault, recall.known) if ctx.vault is not None else None
            summary = await attach.fold(
                ctx.inbound.workspace_id,
                ctx.conversation_id,
                recall.summary,
                recall.pending,
                redactor,
            )
        upcoming = copy.copy(ctx)
        upcoming.history, upcoming.summary, upcoming.facts = recall.history, summary, recall.facts
        upcoming.passages, upcoming.retrieval_query = [], None
        upcoming.known = recall.known
        if ctx.vault is not None:
            redact_memory(upcoming, ctx.vault, recall.known)
        return upcoming

    async def _guess_for(self, sender: str, draft: _Draft) -> TurnContext | None:
        """The context the sender's next turn will have, but its question and passages."""
        answered = self._answered.get(sender)
        if answered is not None:
            return copy.copy(await self._upcoming_for(answered))
        blank = self._blank.get(draft.where)
        if blank is None:
            return None
        guess = copy.copy(blank)
        guess.vault = self.guard.vault(guess)  # the draft's own: nobody else's values in it
        return guess

    async def _read_draft(self, sender: str, draft: _Draft, stale: Callable[[], bool]) -> int:
        """Search with the draft as the question and read the prompt up to where it stands."""
        guess = await self._guess_for(sender, draft)
        if guess is None:
            return 0
        vault, text = guess.vault, draft.text
        guess.model_text = vault.redact(text, guess.known or []) if vault else text
        guess.retrieval_query = None
        if self.retrieve is not None:
            await self.retrieve.search(guess)
        if stale():
            return 0
        messages = self.generate.guess_prompt(guess, sender)
        last = messages[-1]
        at = last.content.rfind(guess.question)
        if at <= 0 or not last.content[:at].strip():
            return 0  # nothing of the last message comes before the question: no guess to read
        head = ChatMessage(last.role, last.content[:at].rstrip())
        return await self.generate.chain.prefill(
            (*messages[:-1], head), self.generate.max_tokens, stale, guess=True
        )
