"""Builds the handoff desk and the console from the server's parts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from omnivox.bus import EventSink
from omnivox.bus.peers import Peers
from omnivox.channels.base import ChannelAdapter
from omnivox.guardrails.grounding import without_repeats
from omnivox.handoff.bus import ConsoleBus
from omnivox.handoff.console import Console
from omnivox.handoff.csat import Csat
from omnivox.handoff.desk import HandoffDesk, Suggest
from omnivox.handoff.replies import AgentReplies
from omnivox.handoff.webhooks import WebhookSender
from omnivox.identity.consent import ConsentStore
from omnivox.knowledge.retriever import KnowledgeRetriever
from omnivox.knowledge.service import KnowledgeBase
from omnivox.llm.base import CompletionRequest
from omnivox.llm.chain import ProviderChain
from omnivox.llm.metered import Caller, MeteredChain
from omnivox.llm.prompts import ChannelGuidance, PromptBuilder
from omnivox.pipeline.steps.deliver import Deliver
from omnivox.pipeline.steps.generate import whole_sentences
from omnivox.settings import Settings, WorkspaceSettings
from omnivox.storage.handoffs import HandoffStore
from omnivox.storage.identities import IdentityStore
from omnivox.storage.outbox import OutboxStore
from omnivox.storage.repositories import Store

SUGGESTION = ChannelGuidance(
    "agent console", "Write the reply a support agent will review, edit and send to the customer."
)


def suggester(
    settings: Settings, chain: ProviderChain, kb: KnowledgeBase, events: EventSink
) -> Suggest:
    """The copilot: a fresh knowledge search and the provider chain write a suggested reply.

    Each suggestion's model usage is recorded as an ``llm.usage`` event (purpose
    ``suggestion``), whether the chain answered or not.
    """
    metered = MeteredChain(chain, events)
    retriever = KnowledgeRetriever(kb, settings.knowledge.min_similarity)
    prompts = {
        ws.id: PromptBuilder(settings.resolve_path(ws.prompts_dir) if ws.prompts_dir else None)
        for ws in settings.workspaces
    }

    async def suggest(ws: WorkspaceSettings, question: str, conversation_id: str) -> str:
        passages = await retriever.search(ws.id, question, settings.knowledge.top_k)
        messages = prompts[ws.id].build(
            persona=ws.persona, channel=SUGGESTION, question=question, passages=passages
        )
        request = CompletionRequest(
            messages, question, tuple(passages), settings.llm.max_tokens, settings.llm.temperature
        )
        caller = Caller(ws.id, "suggestion", conversation_id)
        completion = await metered.complete(request, caller)
        text = completion.text.strip()
        if completion.finish_reason == "length":  # cut at max_tokens: no half sentence
            text = whole_sentences(text)
        return without_repeats(text)  # what the agent edits: a small model's loop, once

    return suggest


def build_console(
    settings: Settings,
    store: Store,
    chain: ProviderChain,
    kb: KnowledgeBase,
    channels: Mapping[tuple[str, str], ChannelAdapter[Any]],
    key: Callable[[], bytes],
    events: EventSink,
    peers: Peers | None = None,
) -> Console:
    """The desk (used by the route step) and the console's actions."""
    db = store.db
    handoffs, bus = HandoffStore(db), ConsoleBus(peers)
    webhooks = WebhookSender({ws.id: ws.handoff.webhooks for ws in settings.workspaces})
    bus.listen(webhooks)

    def channel_for(workspace_id: str, name: str) -> ChannelAdapter[Any] | None:
        return channels.get((workspace_id, name)) or channels.get(("*", name))

    suggest = suggester(settings, chain, kb, events)
    desk = HandoffDesk(handoffs, store, IdentityStore(db), bus, suggest, channel_for)
    deliver = Deliver(store, OutboxStore(db), ConsentStore(db))
    replies = AgentReplies(store, deliver, channel_for)
    csat = Csat(handoffs, store, replies, key)
    return Console(handoffs, bus, desk, replies, csat, key, webhooks)
