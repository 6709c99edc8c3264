"""guard_output: every sentence checked against the passages, then brand policy.

- No relevant passages: an honest "I don't have that information" replaces the answer.
- The extractive provider quotes passages, so its answers are grounded by construction
  (``full``); its "I don't have that information" stands on nothing (``none``, ``no_answer``).
- Otherwise unsupported sentences are removed; when too little remains, the reply falls back
  to the extractive answer from the same passages, its sentences ranked by their similarity to
  the question. The verdict (full, partial, none) is kept
  on the context and recorded with the turn; for ``none``, how the reply ended too
  (``fallback``: ``quoted``, with the best cosine of a quoted sentence to the question, or
  ``no_answer``), which tells a knowledge gap from a model that failed
  (:mod:`omnivox.analytics.gaps`).
- The sources become one per document, the answer's ``[n]`` markers renumbered to match
  (:mod:`omnivox.pipeline.citing`).
- Finally the workspace's brand policy (its experiment variant's, in one) rewrites
  preferred/avoided terms or blocks the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from omnivox.guardrails.grounding import GroundingChecker
from omnivox.guardrails.policy import BrandPolicy
from omnivox.llm.extractive import NO_ANSWER, quote
from omnivox.pipeline.citing import numbered
from omnivox.pipeline.context import TurnContext
from omnivox.pipeline.steps.generate import quoting
from omnivox.pipeline.steps.retrieve import AnswerCache
from omnivox.types import Reply


class GuardOutput:
    """Ground, then apply policy, before anything is rendered."""

    name = "guard_output"
    finishing = False

    def __init__(
        self,
        checker: GroundingChecker | None,
        policies: Mapping[str, BrandPolicy],
        fallback_sentences: int = 2,
        *,
        cache: AnswerCache | None = None,
    ) -> None:
        self.checker = checker
        self.policies = policies
        self.fallback_sentences = fallback_sentences
        self.cache = cache

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Rewrite ``reply``; set ``grounding`` and ``policy``."""
        if ctx.reply is None:
            return ctx
        if self.checker is not None:
            ctx.reply = await self._ground(ctx, ctx.reply, self.checker)
        ctx.reply = numbered(ctx.reply, ctx.passages)
        policy = ctx.variant.policy if ctx.variant else self.policies.get(ctx.workspace.id)
        if policy is not None:
            result = policy.apply(ctx.reply.text)
            ctx.policy = result
            if result.text != ctx.reply.text:
                citations = () if result.blocked_by else ctx.reply.citations
                ctx.reply = Reply(result.text, citations, ctx.reply.provider)
        await self._remember(ctx)
        return ctx

    async def _remember(self, ctx: TurnContext) -> None:
        """Cache grounded, unblocked answers under the query that found their passages.

        Never an answer that may be the customer's own: one whose prompt carried their
        profile facts (a first name, a loyalty tier) or summary, or that had their details
        put back. Another customer asking the same would get it word for word. Nor one of an
        experiment's variant: a customer of another variant would get its voice.
        """
        blocked = ctx.policy is not None and ctx.policy.blocked_by is not None
        grounded = ctx.grounding in ("full", "partial") and ctx.passages
        personal = bool(ctx.facts or ctx.summary or ctx.restored)
        if not (self.cache and ctx.reply and ctx.retrieval_query and grounded):
            return
        if not blocked and not personal and ctx.variant is None:
            await self.cache.store(
                ctx.inbound.workspace_id,
                ctx.retrieval_query,
                ctx.reply,
                ctx.customer_id,
                question=ctx.question,
                version=ctx.kb_version,
            )

    async def _ground(self, ctx: TurnContext, reply: Reply, checker: GroundingChecker) -> Reply:
        passages = ctx.passages
        if not passages:
            return _no_answer(ctx, reply)
        if reply.provider == "extractive":
            if reply.text == NO_ANSWER:
                return _no_answer(ctx, reply)
            ctx.grounding = "full"
            return reply
        result = await asyncio.to_thread(checker.check, reply.text, passages)
        ctx.grounding = result.verdict
        if result.verdict != "none":
            cites = tuple(passages[i].citation() for i in result.supporting)
            return Reply(result.text, cites, reply.provider)
        found = await asyncio.to_thread(
            quote,
            ctx.question,
            tuple(passages),
            self.fallback_sentences,
            checker.similarity,
        )
        if not found.sentences:  # no sentence of the passages says enough ("Yes. No. Ok.")
            return _no_answer(ctx, reply)
        ctx.fallback, ctx.fallback_similarity = "quoted", found.similarity
        # cited by the sentences as chosen: the joined text may split elsewhere ("…if the
        # item: You can ask…" is one sentence to split_sentences, and no passage holds it)
        return Reply(" ".join(found.sentences), quoting(found.sentences, passages), "extractive")


def _no_answer(ctx: TurnContext, reply: Reply) -> Reply:
    """The honest "I don't have that information": grounded in nothing, so ``none``."""
    ctx.grounding, ctx.fallback = "none", "no_answer"
    return Reply(NO_ANSWER, (), reply.provider)
