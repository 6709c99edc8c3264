"""generate: the provider chain writes the answer, streaming deltas to the channel's sink."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from omnivox.identity.kinds import display_name
from omnivox.knowledge.focus import GAP, focus
from omnivox.llm.base import ChatMessage, CompletionRequest
from omnivox.llm.chain import ChainTrace, ProviderChain
from omnivox.llm.prompts import ChannelGuidance, PromptBuilder
from omnivox.logs import get_logger
from omnivox.pipeline.context import TurnContext
from omnivox.privacy.vault import RESTORE
from omnivox.text import ends_a_sentence, readable, split_sentences
from omnivox.types import Citation, Passage, Reply

log = get_logger(__name__)
APOLOGY = (
    "Sorry — I can't answer right now. Please try again in a moment, or ask for a person "
    "and we'll connect you."
)
_CITE = re.compile(r"\[(\d{1,2})\]")
GUESSES_KEPT = 1024  # senders whose last read-ahead guess waits for their next turn


@dataclass(frozen=True, slots=True)
class _Guess:
    """What a draft's guess showed the model: its question, passages found and passages shown."""

    question: str
    found: tuple[Passage, ...]
    shown: tuple[Passage, ...]


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


def quoted(text: str, passages: Sequence[Passage]) -> tuple[Citation, ...]:
    """Citations for the passages an extractive answer quotes (it writes no ``[n]``).

    A passage is quoted when it holds one of the answer's sentences, read as the extractive
    answer reads it (:func:`omnivox.text.readable`; the stop it adds aside).
    """
    return quoting(split_sentences(text), passages)


def quoting(sentences: Sequence[str], passages: Sequence[Passage]) -> tuple[Citation, ...]:
    """Citations for the passages that hold one of ``sentences`` (as :func:`quoted` reads)."""
    said = [" ".join(s.split()).rstrip(".") for s in sentences]
    return tuple(p.citation() for p in passages if _holds(readable(p.text), said))


def _holds(text: str, sentences: Sequence[str]) -> bool:
    """Whether ``text`` (spaces aside) holds one of ``sentences``."""
    flat = " ".join(text.split())
    return any(s and s in flat for s in sentences)


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
        self._guesses: OrderedDict[str, _Guess] = OrderedDict()  # by sender (conversation key)

    def prompt(
        self, ctx: TurnContext, *, shown: Sequence[Passage] | None = None
    ) -> tuple[ChatMessage, ...]:
        """The chat prompt for the turn: system prompt, history, passages and question.

        The passages are cut to the sentences that match the question (``focus``), unless
        ``shown`` gives them as the model is to see them.
        """
        caps = ctx.channel.capabilities
        if shown is None:
            shown = self._focus(ctx)
        return self.prompts[ctx.workspace.id].build(
            persona=ctx.persona,
            channel=ChannelGuidance(ctx.channel.name, caps.guidance),
            question=ctx.question,
            history=ctx.history,
            passages=shown,
            language=reply_language(ctx),
            resumed_from=display_name(ctx.resumed_from) if ctx.resumed_from else None,
            summary=ctx.summary,
            facts=ctx.facts,
        )

    def guess_prompt(self, ctx: TurnContext, sender: str) -> tuple[ChatMessage, ...]:
        """The prompt of a guess at ``sender``'s next turn (a draft as its question).

        The passages as shown are kept for that turn (:meth:`_shown_as_guessed`).
        """
        shown = self._focus(ctx)
        self._guesses[sender] = _Guess(ctx.question, tuple(ctx.passages), tuple(shown))
        self._guesses.move_to_end(sender)
        while len(self._guesses) > GUESSES_KEPT:
            self._guesses.popitem(last=False)
        return self.prompt(ctx, shown=shown)

    def _focus(
        self, ctx: TurnContext, passages: Sequence[Passage] | None = None, budget: int | None = None
    ) -> list[Passage]:
        """``passages`` (default: the turn's) cut for the turn's question to ``budget`` words."""
        words = self.prompt_words if budget is None else budget
        shown = ctx.passages if passages is None else passages
        return focus(shown, ctx.question, words, ctx.retrieval_query or "")

    def _shown_as_guessed(self, ctx: TurnContext) -> list[Passage] | None:
        """The passages as the sender's last guess showed them, as far as this turn found them.

        A message sent right after its last draft is that draft with a word or two more, and
        it often finds the same passages, in the same order or another, or the guess's first
        ones and then others. Cut for the whole message, they could keep other sentences than
        for the draft, and the model would read everything again from the first one that
        changed: so the guess's passages from its first one up to the first one this turn did
        not find are shown first as the guess showed them, in its order, and the model reads
        only what follows them (the turn's other passages, cut to the words left of the
        budget). ``ctx.passages`` takes that order, so ``[n]`` still cites the passage shown
        as n. Only when the message begins with the draft's question.
        """
        guess = self._guesses.pop(ctx.inbound.conversation_key, None)
        if guess is None or not _begins_with(ctx.question, guess.question):
            return None
        found = {_identity(p): p for p in ctx.passages}
        kept = _found_prefix(guess.found, found)
        if len(found) != len(ctx.passages) or not kept:
            return None
        rest = [p for p in ctx.passages if _identity(p) not in kept]
        ctx.passages = [found[key] for key in kept] + rest
        shown = list(guess.shown[: len(kept)])
        if not rest:
            return shown
        budget = self.prompt_words
        if budget > 0:  # the words the guess's passages left; each of the rest keeps its best
            budget = max(1, budget - sum(_words(p.text) for p in shown))
        return shown + self._focus(ctx, rest, budget)

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set ``reply`` and ``llm_trace``, add every attempt's usage; deltas to ``ctx.sink``."""
        messages = self.prompt(ctx, shown=self._shown_as_guessed(ctx))
        temperature = self.temperature
        if ctx.variant is not None and ctx.variant.temperature is not None:
            temperature = ctx.variant.temperature
        request = CompletionRequest(
            messages, ctx.question, tuple(ctx.passages), self.max_tokens, temperature
        )
        trace = ctx.llm_trace = ChainTrace()
        parts: list[str] = []
        finish: str | None = None
        try:
            async for delta in self.chain.stream(request, trace):
                if delta.reset:
                    parts.clear()
                parts.append(delta.text)
                finish = delta.finish_reason or finish
                if ctx.sink is not None and (delta.text or delta.reset):
                    await ctx.sink(delta)
        except Exception as exc:  # every provider failed: apologise rather than go silent
            log.error("llm.chain.failed", error=str(exc))
            ctx.reply = Reply(APOLOGY)
            ctx.spend(trace.spent())
            return ctx
        ctx.spend(trace.spent())  # the failed attempts' too: what the turn cost
        text = "".join(parts).strip()
        if finish == "length":  # cut at max_tokens: the half sentence at the end goes
            text = whole_sentences(text)
        text = unlabelled(text) or APOLOGY
        if ctx.vault is not None:  # the customer's own details back; other data masked
            restored = ctx.vault.restore(text, self.restore)
            ctx.restored, text = restored != text, restored
        cites = cited(text, ctx.passages)
        if not cites and trace.provider == "extractive":
            cites = quoted(text, ctx.passages)
        ctx.reply = Reply(text, cites, trace.provider)
        return ctx


# a label a small model puts before what it says ("The answer is: 3–7 business days.")
_LABEL = re.compile(r"^\s*(?:the\s+)?(?:short\s+)?answer(?:\s+is)?\s*:\s*", re.IGNORECASE)


def unlabelled(text: str) -> str:
    """``text`` without a leading "The answer is:" / "Answer:" (the bundled model's habit)."""
    rest = _LABEL.sub("", text, count=1)
    return rest[:1].upper() + rest[1:] if rest != text else text


# a stop (and its closing quote or bracket, and the [n] markers right after it) before a space
# or the end; a CJK stop needs no space after it
_SENTENCE_END = re.compile(
    r"(?:[.!?…][\"'”’)\]]*(?:\[\d{1,2}\])*(?=\s|$)|[。！？](?:\[\d{1,2}\])*)"
)


def whole_sentences(text: str) -> str:
    """``text`` up to the end of its last whole sentence (all of it when none ends).

    A stop after an abbreviation or an initial ("Mr. Smith", "e.g.") ends none.
    """
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    ends = [end for end in ends if ends_a_sentence(text, _before_markers(text, end))]
    return text[: ends[-1]] if ends else text


def _before_markers(text: str, end: int) -> int:
    """Where a sentence end's ``[n]`` markers begin ("days.[1][2]": after "days.")."""
    while text[:end].endswith("]") and (start := text.rfind("[", 0, end)) >= 0:
        end = start
    return end


def _identity(passage: Passage) -> tuple[str, str]:
    return passage.source_id, passage.text


def _found_prefix(
    guessed: Sequence[Passage], found: Mapping[tuple[str, str], Passage]
) -> list[tuple[str, str]]:
    """The guess's passages, from its first on, up to the first one this turn did not find.

    A passage the guess showed twice ends it too: the turn shows each passage once.
    """
    kept: list[tuple[str, str]] = []
    for passage in guessed:
        key = _identity(passage)
        if key not in found or key in kept:
            break
        kept.append(key)
    return kept


def _words(text: str) -> int:
    """Words of a focused passage as the budget counts them (the ``…`` marks are not)."""
    return sum(1 for word in text.split() if word != GAP)


def _begins_with(question: str, draft: str) -> bool:
    """True when ``question`` is ``draft`` with more words (spacing aside)."""
    return " ".join(question.split()).startswith(" ".join(draft.split()))
