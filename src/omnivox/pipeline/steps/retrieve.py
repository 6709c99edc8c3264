"""retrieve: knowledge passages for the question in its conversation (or a cached answer).

Follow-up questions ("what about for my daughter?") name nothing on their own, so the query
is the question preceded by the conversation's previous messages; the question is searched by
itself too, so a customer who changes the subject gets passages about the new one. A
near-duplicate of an earlier grounded question is answered from the semantic cache: the turn
then skips generation. A turn in an experiment's variant neither reads nor fills the cache (an
answer written in one variant's voice would reach the others).
"""

from __future__ import annotations

from typing import Protocol

from omnivox.knowledge.retriever import contextual_query
from omnivox.pipeline.context import TurnContext
from omnivox.types import Passage, Reply


class Retriever(Protocol):
    """Searches one workspace's knowledge base."""

    async def search(
        self, workspace_id: str, query: str, k: int, question: str | None = None
    ) -> list[Passage]:
        """Best passages first; ``question``: the latest message alone, ``query`` in context."""
        ...


class AnswerCache(Protocol):
    """Grounded answers by question similarity."""

    async def current_version(self, workspace_id: str) -> str | None:
        """The knowledge-base version now."""
        ...

    async def lookup(
        self, workspace_id: str, query: str, question: str | None = None
    ) -> Reply | None:
        """A cached reply for a near-duplicate question."""
        ...

    async def store(
        self,
        workspace_id: str,
        query: str,
        reply: Reply,
        customer_id: str | None = None,
        *,
        question: str | None = None,
        version: str | None = None,
    ) -> None:
        """Remember a grounded reply (whose question it was, which version it came from)."""
        ...


class Retrieve:
    """Fill ``passages``; with no retriever configured there are none."""

    name = "retrieve"
    finishing = False

    def __init__(
        self,
        retriever: Retriever | None = None,
        k: int = 4,
        *,
        history_messages: int = 6,
        cache: AnswerCache | None = None,
    ) -> None:
        self.retriever = retriever
        self.k = k
        self.history_messages = history_messages
        self.cache = cache

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Search only when the route is to answer; a cache hit halts the turn with a reply."""
        if self.retriever is None or not ctx.decision or ctx.decision.route != "answer":
            return ctx
        query = self.query(ctx)
        if self.cache is not None and ctx.variant is None:
            # the version the passages will come from: an answer is cached only under it
            ctx.kb_version = await self.cache.current_version(ctx.inbound.workspace_id)
            cached = await self.cache.lookup(ctx.inbound.workspace_id, query, ctx.question)
            if cached is not None:
                ctx.cache_hit, ctx.grounding = True, "full"
                ctx.halt("cache_hit", cached)
                return ctx
        await self.search(ctx)
        return ctx

    def query(self, ctx: TurnContext) -> str:
        """Set and return ``retrieval_query``: the question after the recent history."""
        ctx.retrieval_query = contextual_query(ctx.question, ctx.history, self.history_messages)
        return ctx.retrieval_query

    async def search(self, ctx: TurnContext) -> None:
        """Set ``passages`` (and ``retrieval_query``) for ``ctx``'s question, cache aside."""
        if self.retriever is None:
            return
        query = ctx.retrieval_query or self.query(ctx)
        workspace_id = ctx.inbound.workspace_id
        ctx.passages = await self.retriever.search(workspace_id, query, self.k, ctx.question)
