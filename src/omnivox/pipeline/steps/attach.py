"""attach: open or resume the conversation, store the message (deduplicated), load memory.

A known customer's open conversation is resumed from any channel while it was active within
``memory.continuity_hours``; ``ctx.resumed_from`` names the channel it moved from. Memory is
every turn since the rolling summary verbatim (from ``llm.history_turns`` up to
``history_turns + memory.summarize_every`` turns, ``+ memory.fold_wait_turns`` while the
conversation never pauses: it grows between folds so that prompts share their beginning, see
:func:`omnivox.storage.memory.recall_in`), the summary of the
earlier ones (:mod:`omnivox.memory.summary`), a few profile facts, and the analyses of the
customer's last few messages (``recent_nlu``: sentiment and confidence trends for understand and
route). The memory is read in the transaction that stores the message
(:meth:`omnivox.storage.repositories.Store.attach_inbound`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from omnivox.llm.metered import Caller
from omnivox.logs import get_logger
from omnivox.memory.summarizer import ExtractiveSummarizer, Redactor, Summarizer
from omnivox.pipeline.context import (
    MESSAGE_ID_REUSED,
    MESSAGE_ID_TAKEN,
    TurnContext,
    settle_stored,
)
from omnivox.privacy.vault import Vault
from omnivox.storage.memory import MemoryRules, Pending, Recall
from omnivox.storage.repositories import (
    DuplicateMessageError,
    MemoryRequest,
    MessageIdTakenError,
    Store,
    StoredMessage,
)
from omnivox.understanding.config import TREND_MESSAGES

log = get_logger(__name__)


class Attach:
    """Find the conversation, persist the message, and read recent history."""

    name = "attach"
    finishing = False

    def __init__(
        self,
        store: Store,
        history_turns: int,
        continuity: timedelta | None = None,
        memory: MemoryRules | None = None,
        summarizer: Summarizer | None = None,
        vaults: Callable[[TurnContext], Vault | None] | None = None,
    ) -> None:
        self.store = store
        self.vaults = vaults  # a conversation's placeholders, for a summary a model writes
        self.history_messages = history_turns * 2
        self.continuity = continuity
        self.memory = memory or MemoryRules()
        self.summarizer = summarizer or ExtractiveSummarizer(1200)
        self._background: set[asyncio.Task[str]] = set()

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set the conversation, the stored message and ``history``; halt on a duplicate."""
        assert ctx.customer_id is not None, "identify runs before attach"
        try:
            attached = await self.store.attach_inbound(
                ctx.inbound,
                ctx.newcomer or ctx.customer_id,
                self.continuity,
                MemoryRequest(self.history_messages, self.memory, TREND_MESSAGES),
            )
        except DuplicateMessageError as dup:
            if dup.original.text != ctx.inbound.text:  # an id reused for another message
                return _refused(ctx, MESSAGE_ID_REUSED)
            settle_stored(ctx, True)  # stored before
            if await self._unanswered(dup.original):
                return await self._answer_again(ctx, dup.original)
            ctx.duplicate_of = dup.original
            ctx.conversation_id = dup.original.conversation_id
            if ctx.newcomer is not None:  # not stored: the duplicate left nothing behind
                ctx.customer_id, ctx.customer_created = None, False
            ctx.halt("duplicate")
            return ctx
        except MessageIdTakenError:  # refused: nothing is stored, not even an event
            return _refused(ctx, MESSAGE_ID_TAKEN)
        settle_stored(ctx, True)
        ctx.customer_id, ctx.customer_created = attached.customer_id, attached.customer_created
        ctx.message, ctx.conversation_created = attached.message, attached.created
        ctx.conversation_id = ctx.message.conversation_id
        ctx.resumed_from = ctx.message.metadata.get("resumed_from")
        recall = attached.recall
        if recall is not None:
            _remember(ctx, recall)
            if recall.pending is not None:
                await self._summarize(ctx, recall.summary, recall.pending)
        return ctx

    async def _unanswered(self, original: StoredMessage) -> bool:
        """A stored message whose turn failed before its reply was stored (a retry answers it).

        Turns of one sender run one after another, so the first attempt has ended by now in
        this process. A message a person holds has no bot reply by design.
        """
        if original.metadata.get("held"):
            return False
        return await self.store.reply_to(original.id) is None

    async def _answer_again(self, ctx: TurnContext, original: StoredMessage) -> TurnContext:
        """Go on with the stored message as this turn's own (its memory as it was then)."""
        log.info("turn.answered_again", message_id=original.id)
        ctx.message, ctx.conversation_id = original, original.conversation_id
        recall = await self.store.recall(
            original.conversation_id, original.id, self.history_messages, self.memory
        )
        _remember(ctx, recall)
        return ctx

    async def _summarize(self, ctx: TurnContext, previous: str, pending: Pending) -> None:
        """Fold ``pending`` now (extractive) or after the turn (a model writes it)."""
        assert ctx.conversation_id is not None
        vault = self.vaults(ctx) if self.vaults is not None else None
        redactor = Redactor(vault, ctx.known or []) if vault is not None else None
        work = self.fold(ctx.inbound.workspace_id, ctx.conversation_id, previous, pending, redactor)
        if not self.summarizer.background:
            ctx.summary = await work
            return
        # the summary is written after this turn: until then the folded messages stay verbatim
        ctx.history = [*pending.items, *ctx.history]
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def fold(
        self,
        workspace_id: str,
        conversation_id: str,
        previous: str,
        pending: Pending,
        redactor: Redactor | None = None,
    ) -> str:
        """Write ``pending`` into the summary and store it; return the new summary.

        A model's usage for it is recorded for the workspace's conversation.
        """
        caller = Caller(workspace_id, "summary", conversation_id)
        summary = await self.summarizer(previous, pending.items, redactor, caller)
        await self.store.save_summary(conversation_id, pending, summary)
        return summary


def _refused(ctx: TurnContext, reason: str) -> TurnContext:
    """Halt a message whose provider id cannot be its own; nothing is stored, not even an event."""
    log.warning(
        f"message.{reason.removeprefix('message_')}",
        channel=ctx.inbound.channel,
        provider_message_id=ctx.inbound.provider_message_id,
    )
    if ctx.newcomer is not None:
        ctx.customer_id, ctx.customer_created = None, False
    ctx.halt(reason)
    return ctx


def _remember(ctx: TurnContext, recall: Recall) -> None:
    """The conversation's memory as the turn's: history, summary, facts, known values, analyses."""
    ctx.history, ctx.summary, ctx.facts = recall.history, recall.summary, recall.facts
    ctx.known, ctx.recent_nlu = recall.known, recall.analyses
