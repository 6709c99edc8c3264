"""A workspace's experiment measured: each variant's figures, and containment A against B.

Each conversation belongs to the variant of its first routed turn in the window (the variant
its ``turn.completed`` event names, for the experiment configured now); its other turns count
there too. Conversations whose first routed turn carries no variant of this experiment (before
it started, or another experiment's) are left out. Definitions follow
:mod:`omnivox.analytics.metrics`: containment is the share of the variant's conversations no
handoff ever touched, and ``handoffs`` the variant's conversations handed to a person; ratings
are those given in the window in the variant's conversations; grounded share is of the turns
whose answer was checked against sources, those found fully or partly supported.

With two variants, containment is compared by a two-sided two-proportion z-test (pooled):
the verdict reads "B contains more (p=0.01)" only under ``ALPHA``, and says "too few
conversations" while either variant expects fewer than ``MIN_EXPECTED`` contained or handed-off
conversations (the normal approximation does not hold there; both rules live in
:mod:`omnivox.analytics.stats`). Nothing corrects for looking every day: see docs/analytics.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from omnivox.analytics.stats import ALPHA, percentile, said, too_few, two_proportion_p
from omnivox.settings import ExperimentSettings


@dataclass(frozen=True, slots=True)
class VariantFigures:
    """One variant's figures over the window."""

    name: str
    weight: float
    conversations: int
    turns: int
    containment: float | None
    handoffs: int
    ratings: int
    csat: float | None
    turn_ms_p50: float | None
    grounded_share: float | None


@dataclass(frozen=True, slots=True)
class ExperimentFigures:
    """The experiment's variants, and (two variants) the containment test."""

    name: str
    variants: list[VariantFigures]
    p_value: float | None = None
    verdict: str | None = None


@dataclass
class _Arm:
    conversations: set[str] = field(default_factory=set)
    turns: int = 0
    reply_ms: list[float] = field(default_factory=list)
    checked: int = 0
    grounded: int = 0


class ArmTally:
    """The routed turns of an experiment's variants, counted by their conversation's variant."""

    def __init__(self, experiment: ExperimentSettings) -> None:
        self.experiment = experiment
        self.arms = {v.name: _Arm() for v in experiment.variants}
        self.variant_of: dict[str, str | None] = {}  # conversation -> variant (None: outside)

    def add(self, payload: dict[str, Any], reply_ms: float, conversation: str | None) -> None:
        """Count one routed turn (events come oldest first)."""
        if conversation is None:
            return
        if conversation not in self.variant_of:
            named = payload.get("variant")
            inside = payload.get("experiment") == self.experiment.name and named in self.arms
            self.variant_of[conversation] = str(named) if inside else None
        variant = self.variant_of[conversation]
        if variant is None:
            return
        arm = self.arms[variant]
        arm.conversations.add(conversation)
        arm.turns += 1
        arm.reply_ms.append(reply_ms)
        if payload.get("grounded") is not None:
            arm.checked += 1
            arm.grounded += payload["grounded"] in ("full", "partial")

    def figures(self, handed: set[str], ratings: Iterable[tuple[int, str]]) -> ExperimentFigures:
        """The variants' figures, given the handed-off conversations and (score, conversation)."""
        scores: dict[str, list[int]] = {}
        for score, conversation in ratings:
            variant = self.variant_of.get(conversation)
            if variant is not None:
                scores.setdefault(variant, []).append(score)
        found = []
        for v in self.experiment.variants:
            arm, rated = self.arms[v.name], scores.get(v.name, [])
            kept = [c not in handed for c in arm.conversations]
            found.append(
                VariantFigures(
                    name=v.name,
                    weight=v.weight,
                    conversations=len(arm.conversations),
                    turns=arm.turns,
                    containment=round(sum(kept) / len(kept), 3) if kept else None,
                    handoffs=kept.count(False),
                    ratings=len(rated),
                    csat=round(sum(rated) / len(rated), 2) if rated else None,
                    turn_ms_p50=percentile(arm.reply_ms, 50),
                    grounded_share=round(arm.grounded / arm.checked, 3) if arm.checked else None,
                )
            )
        if len(found) != 2:
            return ExperimentFigures(self.experiment.name, found)
        p_value, verdict = compare(*found)
        return ExperimentFigures(self.experiment.name, found, p_value, verdict)


def compare(a: VariantFigures, b: VariantFigures) -> tuple[float | None, str]:
    """The containment test of two variants: its p-value and a verdict in plain words."""
    n1, n2 = a.conversations, b.conversations
    if not n1 or not n2:
        return None, "no conversations in both variants yet"
    x1, x2 = n1 - a.handoffs, n2 - b.handoffs
    p = two_proportion_p(x1, n1, x2, n2)
    if too_few(x1, n1, x2, n2):
        return round(p, 4), f"too few conversations to tell yet ({said(p)})"
    if p >= ALPHA:
        return round(p, 4), f"no significant difference yet ({said(p)})"
    more = a.name if x1 / n1 > x2 / n2 else b.name
    return round(p, 4), f"{more} contains more ({said(p)})"
