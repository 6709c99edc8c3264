"""generate: the provider chain writes the answer, streaming deltas to the channel's sink."""

from __future__ import annotations

import re
from collections.abc import Mapping

from omnivox.identity.kinds import display_name
from omnivox.knowledge.focus import focus
from omnivox.llm.base import ChatMessage, CompletionRequest, Usage
from omnivox.llm.chain import ChainTrace, ProviderChain
from omnivox.llm.prompts import ChannelGuidance, PromptBuilder
from omnivox.logs import get_logger
from omnivox.pipeline.context import TurnContext
from omnivox.privacy.vault import RESTORE
from omnivox.types import Citation, Passage, Reply

log = get_logger(__name__)
APOLOGY = (
    "Sorry — I can't answer right now. Please try again in a moment, or ask for a person "
    "and we'll connect you."
)
_CITE = re.compile(r"\[(\d{1,2})\]")


def reply_language(ctx: TurnContext) -> str | None:
    """The customer's language when it is reliably not the workspace's own."""
    analysis = ctx.analysis
    if analysis is None or not analysis.language.reliable:
        return None
    if analysis.language.code == ctx.workspace.understanding.language:
        return None
    return analysis.language.name


def cited(text: str, passages: list[Passage]) -> tuple[Citation, ...]:
    """Citations for the passages the answer refers to as ``[n]``, in order of first mention."""
    seen: list[int] = []
    for match in _CITE.finditer(text):
        index = int(match.group(1)) - 1
        if 0 <= index < len(passages) and index not in seen:
            seen.append(index)
    return tuple(passages[i].citation() for i in seen)


class Generate:
    """Build the prompt and stream the answer."""

    name = "generate"
    finishing = False

    def __init__(
        self,
        chain: ProviderChain,
        prompts: Mapping[str, PromptBuilder],
        *,
        max_tokens: int,
        temperature: float,
        restore: frozenset[str] = RESTORE,
        prompt_words: int = 0,
    ) -> None:
        self.chain = chain
        self.prompts = prompts
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.restore = restore
        self.prompt_words = prompt_words  # passage words the model reads (0: whole passages)

    def prompt(self, ctx: TurnContext) -> tuple[ChatMessage, ...]:
        """The chat prompt for the turn: system prompt, history, passages and question."""
        caps = ctx.channel.capabilities
        return self.prompts[ctx.workspace.id].build(
            persona=ctx.workspace.persona,
            channel=ChannelGuidance(ctx.channel.name, caps.guidance),
            question=ctx.question,
            history=ctx.history,
            passages=focus(
                ctx.passages, ctx.question, self.prompt_words, ctx.retrieval_query or ""
            ),
            language=reply_language(ctx),
            resumed_from=display_name(ctx.resumed_from) if ctx.resumed_from else None,
            summary=ctx.summary,
            facts=ctx.facts,
        )

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set ``reply``, ``usage`` and ``llm_trace``; forward deltas to ``ctx.sink``."""
        messages = self.prompt(ctx)
        request = CompletionRequest(
            messages, ctx.question, tuple(ctx.passages), self.max_tokens, self.temperature
        )
        trace = ctx.llm_trace = ChainTrace()
        parts: list[str] = []
        try:
            async for delta in self.chain.stream(request, trace):
                if delta.reset:
                    parts.clear()
                parts.append(delta.text)
                ctx.usage = delta.usage or ctx.usage
                if ctx.sink is not None and (delta.text or delta.reset):
                    await ctx.sink(delta)
        except Exception as exc:  # every provider failed: apologise rather than go silent
            log.error("llm.chain.failed", error=str(exc))
            ctx.reply, ctx.usage = Reply(APOLOGY), Usage()
            return ctx
        text = "".join(parts).strip() or APOLOGY
        if ctx.vault is not None:  # the customer's own details back; other data masked
            text = ctx.vault.restore(text, self.restore)
        ctx.reply = Reply(text, cited(text, ctx.passages), trace.provider)
        return ctx
