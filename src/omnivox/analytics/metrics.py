"""A workspace's figures over a window of days, from the event log and the handoff tables.

Turns come from ``turn.completed`` events (route, intent, grounding, cache, usage and step
timings) and ``turn.failed`` (with what its model calls used before it broke); the model calls
made outside a turn's answer (suggested replies, campaign copy, model summaries) from
``llm.usage`` events (:mod:`omnivox.llm.metered`);
conversations, handoffs and ratings from their tables. The window's events are read in pages of
``PAGE``, as JSON text (no decoding on the event loop), and decoded and summed in a worker
thread, so a long window does not hold up the server's turns; an index on the events'
workspace, type and time (migration 0014) finds them.
``bench/dashboard.py`` measured 200,000 turns over 90 days on SQLite (2 cores): the 7-day
window in ~0.3 s, 30 days ~1 s, 90 days ~3 s, the event loop held at most ~55 ms (7 and 30
days) and ~180 ms (90 days) meanwhile (reading and decoding everything on the loop held it
for 0.1, 0.6 and 2 s).

Definitions:

- **turns** ("messages the assistant took"): customer messages the assistant routed (it
  answered, acted, asked to clarify or handed off); not those it stayed silent on while a person
  held the conversation, nor ratings, STOP/START or verification codes;
- **containment**: of the conversations with such a turn in the window, the share that no
  handoff to a person ever touched;
- **CSAT**: the mean of the 1-5 ratings given in the window, and the share of 4s and 5s;
- **handoff wait**: the median time from a handoff to an agent claiming it; a handoff no
  agent claimed counts its wait up to its close or, still waiting, up to now (leaving those out
  made a desk nobody staffs look fast); **still waiting**: how many of the window's handoffs no
  agent has claimed or closed yet, and the longest of their waits;
- **reply time**: the pipeline's time from the message to the reply sent (the sum of the
  recorded steps), p50 and p95; **first token**: when the model's first words came;
- **cache hits**: the share of answered questions (route ``answer``) served from the cache;
- **cost**: the providers' reported cost and tokens (the bundled model costs nothing), failed
  attempts' included (:mod:`omnivox.llm.chain`: estimated where a provider reported none), of
  the turns (the tool choice's call included; a failed turn's too, as one call, when it used
  anything) and of every other model call made for the workspace (``llm.usage``), and the same
  split by purpose (``turn``, ``suggestion``, ``campaign``, ``summary``) with each one's calls;
- **experiment**: the same per variant of the workspace's experiment
  (:mod:`omnivox.analytics.experiment`).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, func, select

from omnivox import events
from omnivox.analytics.experiment import ArmTally, ExperimentFigures
from omnivox.analytics.stats import percentile
from omnivox.settings import ExperimentSettings
from omnivox.storage.db import Database
from omnivox.storage.models import Conversation, Event, Handoff, Rating
from omnivox.types import utcnow

MAX_DAYS = 90
PAGE = 2_000  # events read at a time: the event loop serves turns between pages
# the steps up to the reply sent (record and prepare come after it)
REPLY_STEPS = (
    "identify", "experiment", "attach", "consent", "hold", "verify", "rate", "guard_input",
    "understand", "route", "retrieve", "generate", "guard_output", "render", "deliver",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Figures:
    """One workspace's figures for ``days`` days up to ``until``."""

    workspace_id: str
    days: int
    until: str
    conversations: int  # started in the window
    assisted: int  # conversations with a turn the assistant took (containment's base)
    turns: int
    failed_turns: int
    containment: float | None
    handoffs: int
    handoff_wait_p50_s: float | None
    handoffs_waiting: int  # opened in the window, neither claimed nor closed yet
    handoff_longest_wait_s: float | None  # the longest wait of those still waiting
    ratings: int
    csat: float | None
    csat_satisfied: float | None
    turn_ms_p50: float | None
    turn_ms_p95: float | None
    first_token_ms_p50: float | None
    first_token_ms_p95: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cache_hit_rate: float | None
    usage_by_purpose: dict[str, dict[str, Any]] = field(default_factory=dict)
    grounded: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    intents: list[tuple[str, int]] = field(default_factory=list)
    daily: list[dict[str, Any]] = field(default_factory=list)
    experiment: ExperimentFigures | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = asdict(self)
        data["intents"] = [{"intent": i, "turns": n} for i, n in self.intents]
        return data


@dataclass(frozen=True, slots=True)
class Window:
    """A workspace's events from ``since`` (included) to ``until`` (excluded)."""

    workspace_id: str
    since: datetime
    until: datetime


@dataclass
class _Spend:
    """The model calls of one purpose: how many, their tokens and cost."""

    calls: int = 0
    prompt: int = 0
    completion: int = 0
    cost: float = 0.0

    def add(self, payload: dict[str, Any]) -> None:
        """Count one call (or turn) and what it used."""
        self.calls += 1
        self.prompt += int(payload.get("prompt_tokens") or 0)
        self.completion += int(payload.get("completion_tokens") or 0)
        self.cost += float(payload.get("cost_usd") or 0.0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as the figures' totals are named."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "cost_usd": round(self.cost, 6),
        }


@dataclass
class _Turns:
    """What the window's turn events add up to (filled off the event loop)."""

    turns: int = 0
    failed: int = 0
    routed: set[str] = field(default_factory=set)
    reply_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    spent: dict[str, _Spend] = field(default_factory=dict)  # by purpose: "turn", "suggestion"...
    answers: int = 0
    hits: int = 0
    grounded: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    intents: Counter[str] = field(default_factory=Counter)
    days: Counter[date] = field(default_factory=Counter)
    arms: ArmTally | None = None  # the experiment's variants, when one is configured

    def add(self, kind: str, payload: dict[str, Any], timings: dict[str, Any], at: date,
            conversation: str | None) -> None:  # fmt: skip
        """Count one event (a failure, a turn the assistant took, another model call)."""
        if kind == events.TURN_FAILED:
            self.failed += 1
            if payload.get("prompt_tokens") or payload.get("cost_usd"):  # it asked a model
                self.spend("turn", payload)
            return
        if kind == events.LLM_USAGE:
            self.spend(str(payload.get("purpose") or "other"), payload)
            return
        route = payload.get("route")
        if not route:  # silent while held, a rating, STOP/START, a code: not taken
            return
        self.turns += 1
        self.days[at] += 1
        if conversation:
            self.routed.add(conversation)
        reply_ms = sum(float(timings.get(s) or 0.0) for s in REPLY_STEPS)
        self.reply_ms.append(reply_ms)
        if self.arms is not None:
            self.arms.add(payload, reply_ms, conversation)
        if payload.get("first_token_ms") is not None:
            self.first_ms.append(float(payload["first_token_ms"]))
        self.spend("turn", payload)
        if route == "answer":
            self.answers += 1
            self.hits += bool(payload.get("cache_hit"))
        for counter, key in (
            (self.grounded, "grounded"),
            (self.routes, "route"),
            (self.channels, "channel"),
            (self.intents, "intent"),
        ):
            if payload.get(key) is not None:
                counter[str(payload[key])] += 1

    def spend(self, purpose: str, payload: dict[str, Any]) -> None:
        """Add one model call's (or turn's) tokens and cost to its purpose."""
        self.spent.setdefault(purpose, _Spend()).add(payload)

    def total(self) -> _Spend:
        """Every purpose's calls, tokens and cost together."""
        together = _Spend()
        for one in self.spent.values():
            together.calls += one.calls
            together.prompt += one.prompt
            together.completion += one.completion
            together.cost += one.cost
        return together


def _tally(rows: list[Any], experiment: ExperimentSettings | None) -> _Turns:
    """Decode and count the window's events (run in a worker thread)."""
    found = _Turns(arms=ArmTally(experiment) if experiment else None)
    for kind, payload, timings, at, conversation in rows:
        found.add(kind, json.loads(payload or "{}"), json.loads(timings or "{}"),
                  at.date(), conversation)  # fmt: skip
    return found


async def figures(
    db: Database,
    workspace_id: str,
    days: int = 7,
    now: datetime | None = None,
    experiment: ExperimentSettings | None = None,
) -> Figures:
    """The workspace's figures for the last ``days`` days (1 to ``MAX_DAYS``).

    With ``experiment`` (the workspace's), its variants' figures too.
    """
    days = max(1, min(days, MAX_DAYS))
    until = now or utcnow()
    w = Window(workspace_id, until - timedelta(days=days), until)
    rows = await read_events(db, w)
    async with db.sessions() as session:
        handed = {r[0] for r in await session.execute(_handed(w))}
        handoffs = (await session.execute(_handoffs(w))).all()
        rated = [(r[0], r[1]) for r in await session.execute(_ratings(w))]
        started = int((await session.execute(_started(w))).scalar_one())
    t = await asyncio.to_thread(_tally, rows, experiment)
    ratings = [score for score, _ in rated]
    opened = Counter(o.date() for o, _, _ in handoffs)
    waits, waiting = _waits(handoffs, until)
    first = w.since.date()
    spent = t.total()
    return Figures(
        workspace_id=workspace_id,
        days=days,
        until=until.isoformat(),
        conversations=started,
        assisted=len(t.routed),
        turns=t.turns,
        failed_turns=t.failed,
        containment=_share([c not in handed for c in t.routed]),
        handoffs=len(handoffs),
        handoff_wait_p50_s=percentile(waits, 50),
        handoffs_waiting=len(waiting),
        handoff_longest_wait_s=max(waiting, default=None),
        ratings=len(ratings),
        csat=round(sum(ratings) / len(ratings), 2) if ratings else None,
        csat_satisfied=_share([r >= 4 for r in ratings]),
        turn_ms_p50=percentile(t.reply_ms, 50),
        turn_ms_p95=percentile(t.reply_ms, 95),
        first_token_ms_p50=percentile(t.first_ms, 50),
        first_token_ms_p95=percentile(t.first_ms, 95),
        prompt_tokens=spent.prompt,
        completion_tokens=spent.completion,
        cost_usd=round(spent.cost, 6),
        cache_hit_rate=round(t.hits / t.answers, 3) if t.answers else None,
        usage_by_purpose={k: v.as_dict() for k, v in sorted(t.spent.items())},
        grounded=dict(t.grounded.most_common()),
        routes=dict(t.routes.most_common()),
        channels=dict(t.channels.most_common()),
        intents=t.intents.most_common(8),
        daily=[
            {
                "day": (day := first + timedelta(days=n)).isoformat(),
                "turns": t.days[day],
                "handoffs": opened[day],
            }
            for n in range(days + 1)
        ],
        experiment=t.arms.figures(handed, rated) if t.arms else None,
    )


async def read_events(db: Database, w: Window) -> list[Any]:
    """The window's turn and ``llm.usage`` events, a page at a time (other work between pages).

    Rows of (type, payload, timings, created_at, conversation_id), oldest first; the payload
    and timings are JSON text, for the caller to decode off the event loop.
    """
    rows: list[Any] = []
    after = -1
    while True:
        async with db.sessions() as session:
            page = list((await session.execute(_events(w, after))).all())
        rows += [r[1:] for r in page]
        if len(page) < PAGE:
            return rows
        after = page[-1][0]


def _events(w: Window, after: int) -> Any:
    """One page of the window's turn and usage events, their JSON as text (decoded off the loop)."""
    return (
        select(
            Event.id,
            Event.type,
            cast(Event.payload, Text),
            cast(Event.timings, Text),
            Event.created_at,
            Event.conversation_id,
        )
        .where(
            Event.workspace_id == w.workspace_id,
            Event.type.in_((events.TURN_COMPLETED, events.TURN_FAILED, events.LLM_USAGE)),
            Event.created_at >= w.since,
            Event.created_at < w.until,
            Event.id > after,
        )
        .order_by(Event.id)
        .limit(PAGE)
    )


def _handed(w: Window) -> Any:
    return (
        select(Handoff.conversation_id)
        .where(Handoff.workspace_id == w.workspace_id, Handoff.created_at < w.until)
        .distinct()
    )


def _waits(handoffs: Sequence[Any], until: datetime) -> tuple[list[float], list[float]]:
    """Seconds each handoff waited for an agent, and those of the ones still waiting.

    A claimed handoff waited until its claim; one closed unclaimed until its close; one still
    waiting until ``until`` (so far).
    """
    waits: list[float] = []
    waiting: list[float] = []
    for opened, claimed, closed in handoffs:
        end = claimed or closed or until
        waits.append(max((end - opened).total_seconds(), 0.0))
        if claimed is None and closed is None:
            waiting.append(waits[-1])
    return waits, waiting


def _handoffs(w: Window) -> Any:
    return select(Handoff.created_at, Handoff.claimed_at, Handoff.closed_at).where(
        Handoff.workspace_id == w.workspace_id,
        Handoff.created_at >= w.since,
        Handoff.created_at < w.until,
    )


def _ratings(w: Window) -> Any:
    return select(Rating.score, Rating.conversation_id).where(
        Rating.workspace_id == w.workspace_id,
        Rating.created_at >= w.since,
        Rating.created_at < w.until,
    )


def _started(w: Window) -> Any:
    return select(func.count()).where(
        Conversation.workspace_id == w.workspace_id,
        Conversation.created_at >= w.since,
        Conversation.created_at < w.until,
    )


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None
