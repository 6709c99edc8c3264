"""The pipeline's view of the knowledge base: passages for a question in context."""

from __future__ import annotations

from collections.abc import Sequence

from omnivox.guardrails.injection import looks_like_injection, screen_passage
from omnivox.knowledge.service import KnowledgeBase
from omnivox.logs import get_logger
from omnivox.types import HistoryItem, Passage

log = get_logger(__name__)


def contextual_query(question: str, history: Sequence[HistoryItem], messages: int) -> str:
    """The question preceded by the conversation's previous ``messages`` (both sides).

    Follow-ups ("what about for my daughter?") name nothing on their own; the earlier
    messages carry the topic, and the assistant's own (grounded) answers carry the documents'
    vocabulary. On doc2dial dev, the last 6 messages beat the last 3 customer turns by about
    0.1 gold-document recall@5 (bench/retrieval.py, docs/knowledge.md).
    """
    earlier = [h.text for h in history][-messages:] if messages else []
    return " ".join([*earlier, question])


class KnowledgeRetriever:
    """Hybrid search; passages screened for planted instructions."""

    def __init__(
        self, kb: KnowledgeBase, min_similarity: float = 0.25, question_lead: float = 0.1
    ) -> None:
        self.kb = kb
        self.min_similarity = min_similarity
        self.question_lead = question_lead

    async def search(
        self, workspace_id: str, query: str, k: int, question: str | None = None
    ) -> list[Passage]:
        """Best passages first; passages not close enough to the question are left out.

        ``question``: the latest message alone when ``query`` is it in its conversation
        (:func:`contextual_query`); a passage then ranks by the better of the two searches.
        """
        hits = await self.kb.search(
            workspace_id, query, k, alone=question, alone_lead=self.question_lead
        )
        passages = []
        for hit in hits:
            if hit.similarity is not None and hit.similarity < self.min_similarity:
                continue
            clean, removed = screen_passage(hit.chunk.text)
            if removed:
                log.warning(
                    "guard.injection_screened", source_id=hit.chunk.source_id, sentences=removed
                )
            if clean:
                chunk = hit.chunk
                # a title is shown to the model and in citations: an instruction there goes too
                title = chunk.source_id if looks_like_injection(chunk.title) else chunk.title
                passages.append(Passage(chunk.source_id, title, clean, hit.score, chunk.url))
        return passages
