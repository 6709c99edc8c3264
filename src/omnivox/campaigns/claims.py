"""What marketing copy may claim: only numbers someone stated, only words the brand allows.

Copy is persuasive, not a paraphrase of a passage, so most of its sentences are not held to
the answer guard's test. What it must never do is invent a fact a customer acts on: a
sentence stating a price, percentage, date or duration is kept only when a sentence of the
brief or of the knowledge base supports it and states the same numbers (the answer guard's
test, :class:`~omnivox.guardrails.grounding.GroundingChecker`), so a "30-day return window"
that is 14 days in the policy goes, and so does a "30" borrowed from an unrelated passage. A
sentence said twice is kept once; a sentence with a banned phrase is removed; the brand's
preferred and avoided terms are applied to what remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omnivox.guardrails.grounding import GroundingChecker, numbers_in
from omnivox.guardrails.policy import BrandPolicy
from omnivox.text import split_sentences
from omnivox.types import Passage


@dataclass(frozen=True, slots=True)
class Checked:
    """The copy that passed, and each removed sentence with the reason."""

    text: str
    removed: tuple[str, ...]


class ClaimCheck:
    """Checks copy against its evidence (the brief and the passages) and the brand's policy."""

    def __init__(
        self, policy: BrandPolicy, checker: GroundingChecker, evidence: Sequence[Passage]
    ) -> None:
        self.policy = policy
        self.checker = checker
        self.evidence = list(evidence)

    def __call__(self, text: str) -> Checked:
        """Keep each sentence once, if it states nothing unbacked and no banned phrase."""
        kept: list[str] = []
        removed: list[str] = []
        seen: set[str] = set()
        for sentence in split_sentences(text):
            key = " ".join(sentence.lower().split())
            if key in seen:
                continue
            seen.add(key)
            why = self._refusal(sentence)
            if why:
                removed.append(f"{sentence} ({why})")
            else:
                kept.append(sentence)
        rewritten = self.policy.apply(" ".join(kept)).text if kept else ""
        return Checked(rewritten, tuple(removed))

    def _refusal(self, sentence: str) -> str:
        banned = self.policy.apply(sentence).blocked_by
        if banned:
            return f"banned phrase: {banned}"
        stated = numbers_in(sentence)
        if stated and not self.checker.check(sentence, self.evidence).kept:
            return f"unbacked: {', '.join(sorted(stated))}"
        return ""
