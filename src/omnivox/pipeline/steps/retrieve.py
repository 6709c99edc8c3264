"""retrieve: knowledge passages for the question in its conversation, from the workspace's KB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from omnivox.pipeline.context import TurnContext
from omnivox.types import HistoryItem, Passage


class Retriever(Protocol):
    """Searches one workspace's knowledge base."""

    async def search(
        self, workspace_id: str, query: str, k: int, history: Sequence[HistoryItem] = ()
    ) -> list[Passage]:
        """Best passages first; ``history`` lets follow-up questions be resolved."""
        ...


class Retrieve:
    """Fill ``passages``; with no retriever configured there are none."""

    name = "retrieve"
    finishing = False

    def __init__(self, retriever: Retriever | None = None, k: int = 4) -> None:
        self.retriever = retriever
        self.k = k

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Search only when the route is to answer."""
        if self.retriever is not None and ctx.decision and ctx.decision.route == "answer":
            ctx.passages = await self.retriever.search(
                ctx.inbound.workspace_id, ctx.question, self.k, ctx.history
            )
        return ctx
