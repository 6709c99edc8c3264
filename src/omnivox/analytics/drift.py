"""What changed in what customers ask and in how well it is answered: two windows compared.

The last ``days`` days (the *current* window, up to now; 1 to ``MAX_DAYS``) against the
``days`` days before them (the *previous* window), from the ``turn.completed`` events of the
turns the assistant took (read in pages and decoded off the event loop, as
:mod:`omnivox.analytics.metrics` does). Shares, each of its base, in both windows:

- ``out_of_scope``: of the questions classified against the workspace's intents (the event
  has a ``confidence``), those no intent fitted (``intent`` null);
- ``gaps``: of the answers (route ``answer``) not served from the answer cache, those to
  questions the knowledge base could not answer (:func:`omnivox.analytics.gaps.is_gap`);
- ``grounded_none``, ``grounded_partial``: of the answers the grounding guard checked in the
  turn (not cache hits: those were checked when first written), those it judged ``none`` or
  ``partial``;
- ``handoffs``: of the turns the assistant took, those it handed to a person;
- ``cache_hits``: of the answers, those served from the answer cache;
- the intent mix: each intent's share of the classified questions (out of scope as
  ``OUT_OF_SCOPE``), and the languages' shares of the turns whose language was recorded.

Each share is compared by a pooled two-sided two-proportion z-test, with the rules of
:mod:`omnivox.analytics.stats` (``ALPHA``, "too few to tell" under ``MIN_EXPECTED``); the
intents' and the languages' p-values are multiplied by the number compared (Bonferroni), so
that comparing 12 intents does not find a change by chance. A verdict says a share rose or fell
only when that is significant. The intent mix as a whole: the population stability index,
``sum((after - before) * ln(after / before))`` over the categories (a share of 0 counts as
``PSI_FLOOR``); it says the mix shifted only when some intent's change is significant, and how
much from the PSI (under 0.1 slightly, 0.1-0.25 moderately, from 0.25 markedly). The mean intent
confidence (of the questions an intent fitted) is compared by a large-sample z-test of means.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from omnivox import events
from omnivox.analytics.gaps import (
    MAX_QUESTIONS,
    GapTurn,
    QuestionReader,
    Topic,
    is_gap,
    topics,
)
from omnivox.analytics.metrics import MAX_DAYS, Window, read_events
from omnivox.analytics.stats import (
    ALPHA,
    MIN_MEAN_N,
    said,
    too_few,
    two_mean_p,
    two_proportion_p,
)
from omnivox.storage.db import Database
from omnivox.types import utcnow
from omnivox.understanding.language import NAMES

OUT_OF_SCOPE = "(out of scope)"
NOTHING, TOO_FEW, NO_CHANGE = "nothing to compare", "too few to tell", "no significant change"
PSI_FLOOR = 0.0001
PSI_MODERATE, PSI_MARKED = 0.1, 0.25


@dataclass(frozen=True, slots=True)
class Change:
    """One share in the previous and the current window, and what the z-test says of it."""

    name: str
    label: str
    before: int
    before_of: int
    before_share: float | None
    after: int
    after_of: int
    after_share: float | None
    p_value: float | None
    status: str  # rose, fell, no significant change, too few to tell, nothing to compare
    verdict: str

    @property
    def significant(self) -> bool:
        """True when the share rose or fell significantly."""
        return self.status in ("rose", "fell")


@dataclass(frozen=True, slots=True)
class MeanChange:
    """The mean intent confidence in both windows, and what the z-test says of it."""

    before: float | None
    before_n: int
    after: float | None
    after_n: int
    p_value: float | None
    status: str  # as Change's
    verdict: str

    @property
    def significant(self) -> bool:
        """True when the mean rose or fell significantly."""
        return self.status in ("rose", "fell")


@dataclass(frozen=True, slots=True)
class Gaps:
    """The current window's knowledge gaps: how many, of what, and their topics."""

    questions: int  # gaps in the window
    answers: int  # answers not from the cache (the base)
    no_passage: int  # of the gaps: no passage found at all
    read: int  # the latest gaps (up to MAX_QUESTIONS) still stored, grouped into topics
    topics: list[Topic] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Drift:
    """A workspace's last ``days`` days against the ``days`` before."""

    workspace_id: str
    days: int
    until: str
    turns_before: int
    turns: int
    changes: list[Change]  # the headline shares, in the module's order
    psi: float | None
    mix_verdict: str
    intents: list[Change]  # the intent mix, the largest move first
    confidence: MeanChange
    languages: list[Change]  # the largest move first
    gaps: Gaps

    @property
    def headlines(self) -> list[str]:
        """The verdicts of what changed significantly (none: nothing did)."""
        # out of scope is a headline share already: not again from the intent mix
        mix = [c for c in self.intents if c.name != OUT_OF_SCOPE]
        shares = [c for c in (*self.changes, *mix, *self.languages) if c.significant]
        moved = [(c.p_value or 0.0, c.verdict) for c in shares]
        if self.confidence.significant:
            moved.append((self.confidence.p_value or 0.0, self.confidence.verdict))
        return [verdict for _, verdict in sorted(moved, key=lambda pv: pv[0])]

    def as_dict(self, examples: bool = True) -> dict[str, Any]:
        """JSON-ready; without ``examples`` the topics show no question text."""
        data = asdict(self)
        data["headlines"] = self.headlines
        if not examples:
            for topic in data["gaps"]["topics"]:
                topic["examples"] = []
        return data


@dataclass
class _Side:
    """What one window's turn events add up to (filled off the event loop)."""

    turns: int = 0
    handoffs: int = 0
    mix: Counter[str] = field(default_factory=Counter)  # intent (or OUT_OF_SCOPE) -> questions
    confidences: list[float] = field(default_factory=list)
    languages: Counter[str] = field(default_factory=Counter)
    answers: int = 0
    hits: int = 0
    checked: int = 0
    grounded: Counter[str] = field(default_factory=Counter)
    gaps: int = 0
    no_passage: int = 0
    gap_turns: deque[GapTurn] = field(default_factory=lambda: deque(maxlen=MAX_QUESTIONS))

    def add(self, payload: dict[str, Any]) -> None:
        """Count one event of a turn the assistant took (others are skipped)."""
        route = payload.get("route")
        if not route:  # a failure, silent while held, a rating, STOP/START, a code
            return
        self.turns += 1
        self.handoffs += route == "handoff"
        intent = payload.get("intent")
        if payload.get("confidence") is not None:  # classified (no intent: out of scope)
            self.mix[intent or OUT_OF_SCOPE] += 1
            if intent is not None:
                self.confidences.append(float(payload["confidence"]))
        if payload.get("language"):
            self.languages[str(payload["language"])] += 1
        if route == "answer":
            self._answer(payload, intent)

    def _answer(self, payload: dict[str, Any], intent: str | None) -> None:
        self.answers += 1
        if payload.get("cache_hit"):
            self.hits += 1
            return
        grounded = payload.get("grounded")
        if grounded is not None:
            self.checked += 1
            self.grounded[str(grounded)] += 1
        nothing = payload.get("passages") == 0
        if is_gap(payload):
            self.gaps += 1
            self.no_passage += nothing
            if payload.get("message_id"):
                self.gap_turns.append(GapTurn(str(payload["message_id"]), intent))

    @property
    def classified(self) -> int:
        """Questions classified against the intents (out of scope included)."""
        return sum(self.mix.values())


def _tally(rows: list[Any]) -> _Side:
    """Decode and count a window's events (run in a worker thread)."""
    side = _Side()
    for kind, payload, _, _, _ in rows:
        if kind == events.TURN_COMPLETED:
            side.add(json.loads(payload or "{}"))
    return side


async def _side(db: Database, w: Window) -> _Side:
    """One window's events, read in pages and counted in a worker thread."""
    return await asyncio.to_thread(_tally, await read_events(db, w))


async def drift(
    db: Database,
    workspace_id: str,
    days: int = 7,
    now: datetime | None = None,
    reader: QuestionReader | None = None,
) -> Drift:
    """The workspace's last ``days`` days (1 to ``MAX_DAYS``) against the ``days`` before.

    With ``reader``, the knowledge gaps' questions are read and grouped into topics.
    """
    days = max(1, min(days, MAX_DAYS))
    until = now or utcnow()
    span = timedelta(days=days)
    # one window at a time: only one window's rows are held at once
    before = await _side(db, Window(workspace_id, until - 2 * span, until - span))
    after = await _side(db, Window(workspace_id, until - span, until))
    read, found = 0, list[Topic]()
    if reader is not None and after.gap_turns:
        read, found = await topics(db, workspace_id, list(after.gap_turns), reader)
    intents = _family(before.mix, after.mix, _intent_label)
    index = psi(before.mix, after.mix)
    return Drift(
        workspace_id=workspace_id,
        days=days,
        until=until.isoformat(),
        turns_before=before.turns,
        turns=after.turns,
        changes=_headline_changes(before, after),
        psi=index,
        mix_verdict=_mix_verdict(index, intents),
        intents=intents,
        confidence=_confidence(before.confidences, after.confidences),
        languages=_family(before.languages, after.languages, _language_label),
        gaps=Gaps(after.gaps, after.answers - after.hits, after.no_passage, read, found),
    )


def _headline_changes(b: _Side, a: _Side) -> list[Change]:
    """The module's headline shares, each tested on its own."""
    oos_b, oos_a = b.mix[OUT_OF_SCOPE], a.mix[OUT_OF_SCOPE]
    return [
        change("out_of_scope", "Out-of-scope questions",
               (oos_b, b.classified), (oos_a, a.classified)),
        change("gaps", "Questions the knowledge base could not answer",
               (b.gaps, b.answers - b.hits), (a.gaps, a.answers - a.hits)),
        change("grounded_none", "Answers the sources did not support",
               (b.grounded["none"], b.checked), (a.grounded["none"], a.checked)),
        change("grounded_partial", "Answers the sources partly supported",
               (b.grounded["partial"], b.checked), (a.grounded["partial"], a.checked)),
        change("handoffs", "Handoffs to a person", (b.handoffs, b.turns), (a.handoffs, a.turns)),
        change("cache_hits", "Answers from the cache", (b.hits, b.answers), (a.hits, a.answers)),
    ]  # fmt: skip


def change(
    name: str, label: str, before: tuple[int, int], after: tuple[int, int], compared: int = 1
) -> Change:
    """``label``'s share, (count, base) before and after, tested; ``compared``: Bonferroni's m."""
    (x1, n1), (x2, n2) = before, after
    s1, s2 = _share(x1, n1), _share(x2, n2)
    p = None
    if s1 is not None and s2 is not None:
        p = min(1.0, two_proportion_p(x1, n1, x2, n2) * compared)
    status = _status(p, p is not None and too_few(x1, n1, x2, n2), (s2 or 0.0) > (s1 or 0.0))
    verdict = _verdict(label, status, _pct(s1), _pct(s2), p)
    return Change(name, label, x1, n1, s1, x2, n2, s2, _round(p), status, verdict)


def _status(p: float | None, few: bool, up: bool) -> str:
    """What a test found: rose, fell, no significant change, too few to tell, nothing."""
    if p is None:
        return NOTHING
    if few:
        return TOO_FEW
    if p >= ALPHA:
        return NO_CHANGE
    return "rose" if up else "fell"


def _verdict(label: str, status: str, before: str, after: str, p: float | None) -> str:
    """The verdict in words: "Out-of-scope questions rose from 4.1% to 11.0% (p<0.001)"."""
    if status in ("rose", "fell"):
        assert p is not None
        return f"{label} {status} from {before} to {after} ({said(p)})"
    tested = f", {said(p)}" if p is not None else ""
    yet = " yet" if status in (NOTHING, TOO_FEW) else ""
    return f"{label}: {status}{yet} ({before} → {after}{tested})"


def _family(before: Counter[str], after: Counter[str], label: Callable[[str], str]) -> list[Change]:
    """Each category's share, Bonferroni-tested; the largest move first."""
    names = sorted(set(before) | set(after))
    n1, n2 = sum(before.values()), sum(after.values())
    found = [
        change(name, label(name), (before[name], n1), (after[name], n2), len(names))
        for name in names
    ]
    return sorted(found, key=lambda c: -abs((c.after_share or 0.0) - (c.before_share or 0.0)))


def psi(before: Counter[str], after: Counter[str]) -> float | None:
    """The population stability index of two mixes; None when either is empty."""
    n1, n2 = sum(before.values()), sum(after.values())
    if not n1 or not n2:
        return None
    total = 0.0
    for name in set(before) | set(after):
        b, a = max(before[name] / n1, PSI_FLOOR), max(after[name] / n2, PSI_FLOOR)
        total += (a - b) * math.log(a / b)
    return round(total, 4)


def _mix_verdict(index: float | None, intents: list[Change]) -> str:
    """Whether the intent mix shifted: only when some intent moved significantly."""
    if index is None:
        return "Intent mix: nothing to compare yet"
    if any(c.significant for c in intents):
        return f"The intent mix shifted {_how_much(index)} (PSI {index:.2f})"
    if all(too_few(c.before, c.before_of, c.after, c.after_of) for c in intents):
        return f"Intent mix: too few questions to tell yet (PSI {index:.2f})"
    return f"Intent mix: no significant shift (PSI {index:.2f})"


def _how_much(index: float) -> str:
    if index >= PSI_MARKED:
        return "markedly"
    return "moderately" if index >= PSI_MODERATE else "slightly"


def _confidence(before: list[float], after: list[float]) -> MeanChange:
    """The mean intent confidence in both windows, compared."""
    n1, n2 = len(before), len(after)
    m1, m2 = _mean(before), _mean(after)
    p = None
    if m1 is not None and m2 is not None:
        v1 = statistics.variance(before) if n1 > 1 else 0.0
        v2 = statistics.variance(after) if n2 > 1 else 0.0
        exact = statistics.fmean(before), statistics.fmean(after)
        p = two_mean_p(exact[0], v1, n1, exact[1], v2, n2)
    status = _status(p, min(n1, n2) < MIN_MEAN_N, (m2 or 0.0) > (m1 or 0.0))
    shown = [f"{m:.2f}" if m is not None else "–" for m in (m1, m2)]
    verdict = _verdict("Mean intent confidence", status, shown[0], shown[1], p)
    return MeanChange(m1, n1, m2, n2, _round(p), status, verdict)


def _intent_label(name: str) -> str:
    return "Out-of-scope questions" if name == OUT_OF_SCOPE else f"Questions about {name}"


def _language_label(code: str) -> str:
    return f"Messages in {NAMES.get(code, code)}"


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def _round(p: float | None) -> float | None:
    """Four significant digits: a small p-value stays readable (5.745e-06, not 0.0)."""
    return None if p is None else float(f"{p:.4g}")


def _share(x: int, n: int) -> float | None:
    return round(x / n, 4) if n else None


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.1f}%"
