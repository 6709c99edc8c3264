"""What marketing copy may claim: only what someone stated, only words the brand allows.

Copy is persuasive, not a paraphrase of a passage, so most of its sentences are not held to
the answer guard's test. What it must not do is invent a fact a customer acts on:

- A **number** (price, percentage, date, duration; digits or words such as "thirteen") is
  fine when the brief states it (the marketer vouches for the offer, facts, audience and call
  to action). A number only the knowledge base states needs the sentence to be supported by a
  passage sentence stating it: the answer guard's test
  (:class:`~omnivox.guardrails.grounding.GroundingChecker`), so a "30-day return window" that
  is 14 days in the policy goes, and so does a "30" borrowed from an unrelated passage.
- A **promise word** (free, half, double, triple, guaranteed, lifetime, unlimited, "buy one get
  one") is held to the same rule: "free shipping" needs the brief to say "free", or a
  passage sentence supporting the claim and saying it.

A sentence said twice is kept once; a sentence with a banned phrase is removed; the brand's
preferred and avoided terms are applied to what remains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from omnivox.campaigns.formats import PARAGRAPHS
from omnivox.guardrails.grounding import GroundingChecker, numbers_in
from omnivox.guardrails.policy import BrandPolicy
from omnivox.text import split_sentences
from omnivox.types import Passage

_PROMISES = re.compile(
    r"\b(free|half|double|triple|guaranteed?|lifetime|unlimited|bogo|buy one,? get one)\b",
    re.IGNORECASE,
)


def promises_in(text: str) -> set[str]:
    """The promise words ``text`` uses, lower case ("guarantee" and "guaranteed" as one)."""
    return {w.lower().rstrip("d").replace(",", "") for w in _PROMISES.findall(text)}


@dataclass(frozen=True, slots=True)
class Checked:
    """The copy that passed, and each removed sentence with the reason."""

    text: str
    removed: tuple[str, ...]


class ClaimCheck:
    """Checks copy against the brief (vouched for), the passages, and the brand's policy."""

    def __init__(
        self,
        policy: BrandPolicy,
        checker: GroundingChecker,
        brief: Sequence[str],
        passages: Sequence[Passage],
    ) -> None:
        self.policy = policy
        self.checker = checker
        self.vouched = set().union(*map(numbers_in, brief), *map(promises_in, brief))
        stated = [Passage("brief", "brief", text, 1.0) for text in brief]
        self.evidence = [*stated, *passages]
        self.said = set().union(*(promises_in(p.text) for p in passages))

    def __call__(self, text: str) -> Checked:
        """Keep each sentence once, if it states nothing unbacked and no banned phrase.

        Paragraphs (blank-line separated) stay apart.
        """
        paragraphs: list[str] = []
        removed: list[str] = []
        seen: set[str] = set()
        for paragraph in PARAGRAPHS.split(text):
            kept = []
            for sentence in split_sentences(paragraph):
                key = " ".join(sentence.lower().split())
                if key in seen:
                    continue
                seen.add(key)
                why = self._refusal(sentence)
                if why:
                    removed.append(f"{sentence} ({why})")
                else:
                    kept.append(sentence)
            if kept:
                paragraphs.append(" ".join(kept))
        rewritten = self.policy.apply("\n\n".join(paragraphs)).text if paragraphs else ""
        return Checked(rewritten, tuple(removed))

    def _refusal(self, sentence: str) -> str:
        banned = self.policy.apply(sentence).blocked_by
        if banned:
            return f"banned phrase: {banned}"
        numbers = numbers_in(sentence) - self.vouched
        promises = promises_in(sentence) - self.vouched
        if (numbers or promises) and not self._supported(sentence, promises):
            return f"unbacked: {', '.join(sorted(numbers | promises))}"
        return ""

    def _supported(self, sentence: str, promises: set[str]) -> bool:
        """Whether a passage sentence backs ``sentence`` (numbers too) and says its promises."""
        return bool(self.checker.check(sentence, self.evidence).kept) and promises <= self.said
