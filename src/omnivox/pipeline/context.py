"""The turn context: typed fields that steps read and write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal

from omnivox.channels.base import ChannelAdapter
from omnivox.experiments import Variant
from omnivox.guardrails.grounding import Verdict
from omnivox.guardrails.policy import PolicyResult
from omnivox.llm.base import Delta, Usage
from omnivox.llm.chain import ChainTrace
from omnivox.privacy.vault import Vault
from omnivox.settings import PersonaSettings, WorkspaceSettings
from omnivox.storage.repositories import MetadataUpdate, Newcomer, StoredMessage
from omnivox.types import HistoryItem, InboundMessage, OutboundMessage, Passage, Reply
from omnivox.understanding.analyzer import Analysis
from omnivox.understanding.routing import Decision as RouteDecision

DeltaSink = Callable[[Delta], Awaitable[None]]
# how guard_output ended a reply it found unsupported: the passages' sentences quoted, or the
# honest "I don't have that information" (no passage, nothing whole to quote)
Fallback = Literal["quoted", "no_answer"]


# the halt reason of a message whose provider id names another customer's message: refused,
# nothing stored (the REST API answers 409)
MESSAGE_ID_TAKEN = "message_id_taken"
# the halt reason of a message whose provider id was used for another text of the same
# customer: refused, nothing stored (409; an idempotency key stands for one request)
MESSAGE_ID_REUSED = "message_id_reused"
# the halt reason of a turn whose customer was erased while it ran: nothing of it is kept
# (the REST API answers 410)
CUSTOMER_ERASED = "customer_erased"
# the halt reason of a turn in a conversation a person holds: stored, shown to them, no reply
HELD_FOR_AGENT = "held_for_agent"
# the halt reason of a turn that handed the conversation to people (the reply says what next)
HANDED_OFF = "handoff"


@dataclass
class TurnContext:
    """Everything known about one turn. Each field is owned by the step that sets it."""

    inbound: InboundMessage
    workspace: WorkspaceSettings
    channel: ChannelAdapter[Any]
    turn_id: str
    sink: DeltaSink | None = None
    # resolved by attach once the message is in the database (True), or when the turn ends
    # without storing it (False; an exception if it failed): a webhook acknowledges then
    stored: asyncio.Future[bool] | None = None
    # identify (attach confirms them: a newcomer is stored with the message)
    customer_id: str | None = None
    customer_created: bool = False
    # locks the turn holds until it ends (identify: the customer's), released by the service
    held: AsyncExitStack = field(default_factory=AsyncExitStack)
    newcomer: Newcomer | None = None  # a sender seen for the first time, not stored yet
    # experiment: the customer's variant of the workspace's experiment (None: no experiment)
    variant: Variant | None = None
    # attach
    conversation_id: str | None = None
    conversation_created: bool = False
    message: StoredMessage | None = None
    duplicate_of: StoredMessage | None = None
    resumed_from: str | None = None  # the channel the conversation moved here from
    history: list[HistoryItem] = field(default_factory=list)
    summary: str = ""  # the rolling summary of turns older than ``history``
    facts: dict[str, str] = field(default_factory=dict)  # harmless profile facts
    known: list[tuple[str, str]] | None = None  # the customer's own values (for redaction)
    # guard_input
    model_text: str = ""
    # verify: an email or phone the customer left while asking for a person (kind, address)
    callback: tuple[str, str] | None = None
    vault: Vault | None = None  # the personal data replaced for the model, by placeholder
    # generate: the answer carries the customer's own details put back (never cached)
    restored: bool = False
    # understand
    analysis: Analysis | None = None
    recent_nlu: list[dict[str, Any]] = field(default_factory=list)
    # understand, route: what the message's metadata becomes (deliver stores it with the reply)
    message_update: MetadataUpdate | None = None
    # route
    decision: RouteDecision | None = None
    action_result: dict[str, Any] | None = None
    model_tool_arguments: dict[str, Any] | None = None
    # retrieve
    passages: list[Passage] = field(default_factory=list)
    retrieval_query: str | None = None
    kb_version: str | None = None  # retrieve: the knowledge-base version searched (cache)
    cache_hit: bool = False
    # generate
    reply: Reply | None = None
    # route (the model's tool choice), generate: every model call of the turn (spend)
    usage: Usage | None = None
    llm_trace: ChainTrace | None = None
    # guard_output
    grounding: Verdict | None = None
    # how a reply judged ``none`` ended: the passages quoted, or the honest "I don't have that
    # information"; and for a quote, the best cosine of its sentences to the question
    fallback: Fallback | None = None
    fallback_similarity: float | None = None
    policy: PolicyResult | None = None
    # render / deliver
    outbound: list[OutboundMessage] = field(default_factory=list)
    delivered: list[StoredMessage] = field(default_factory=list)
    # runner
    timings: dict[str, float] = field(default_factory=dict)
    halted: str | None = None

    def spend(self, usage: Usage) -> None:
        """Count a model call's ``usage`` in the turn's (the tool choice's, the answer's)."""
        self.usage = usage if self.usage is None else self.usage.plus(usage)

    def halt(self, reason: str, reply: Reply | None = None) -> None:
        """Stop the turn early; render, deliver and record still run for ``reply``."""
        self.halted = reason
        if reply is not None:
            self.reply = reply

    @property
    def persona(self) -> PersonaSettings:
        """The persona the turn speaks with: its variant's, else the workspace's."""
        return self.variant.persona if self.variant else self.workspace.persona

    @property
    def question(self) -> str:
        """The text the model may see (after the input guard)."""
        return self.model_text or self.inbound.text


def settle_stored(ctx: TurnContext, stored: bool) -> None:
    """Say the turn's message is (or will not be) in the database, once."""
    if ctx.stored is not None and not ctx.stored.done():
        ctx.stored.set_result(stored)
