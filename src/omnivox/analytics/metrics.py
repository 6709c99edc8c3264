"""A workspace's figures over a window of days, read from the event log and the handoff tables.

Turns come from ``turn.completed`` events (one per answered customer message: route, intent,
grounding, cache, usage and step timings) and ``turn.failed``; conversations, handoffs and
ratings from their tables. Everything is aggregated here in Python from the window's rows: a
dashboard over days of a busy workspace reads tens of thousands of events, which takes well
under a second; longer windows are capped at ``MAX_DAYS``.

Definitions:

- **containment**: of the conversations the assistant routed a message of in the window (it
  answered, acted, asked, or handed off), the share that no handoff to a person touched (a
  conversation that only carried a rating or a STOP is not one the assistant answered);
- **CSAT**: the mean of the 1-5 ratings given in the window, and the share of 4s and 5s;
- **turn time**: the pipeline's time from the message to the reply sent (the sum of the
  recorded steps), p50 and p95; **first token**: when the model's first words came;
- **cost**: the providers' reported cost and tokens (the bundled model costs nothing).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from omnivox import events
from omnivox.storage.db import Database
from omnivox.storage.models import Conversation, Event, Handoff, Rating
from omnivox.types import utcnow

MAX_DAYS = 90
_NOT_STEPS = ("total", "record", "prepare")  # after the reply (or the sum): not turn time
_DONE = events.TURN_COMPLETED


@dataclass(frozen=True, slots=True)
class Figures:
    """One workspace's figures for ``days`` days up to ``until``."""

    workspace_id: str
    days: int
    until: str
    conversations: int  # started in the window
    assisted: int  # conversations the assistant routed a message of (containment's base)
    turns: int
    failed_turns: int
    containment: float | None
    handoffs: int
    handoff_wait_p50_s: float | None
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
    grounded: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    intents: list[tuple[str, int]] = field(default_factory=list)
    daily: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = asdict(self)
        data["intents"] = [{"intent": i, "turns": n} for i, n in self.intents]
        return data


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0-100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)


async def figures(
    db: Database, workspace_id: str, days: int = 7, now: datetime | None = None
) -> Figures:
    """The workspace's figures for the last ``days`` days (1 to ``MAX_DAYS``)."""
    days = max(1, min(days, MAX_DAYS))
    until = now or utcnow()
    since = until - timedelta(days=days)
    async with db.sessions() as session:
        turns = await _events(session, workspace_id, since, until)
        routed = {c for kind, p, _, _, c in turns if c and p.get("route") and kind == _DONE}
        conversations = await _conversations(session, workspace_id, since, until, routed)
        handoffs = await _handoffs(session, workspace_id, since, until)
        ratings = [
            r[0]
            for r in await session.execute(
                select(Rating.score).where(
                    Rating.workspace_id == workspace_id,
                    Rating.created_at >= since,
                    Rating.created_at < until,
                )
            )
        ]
    contained = [c not in conversations[1] for c in routed]
    return _summarise(
        workspace_id, days, since, until, turns, conversations[0], contained, handoffs, ratings
    )


async def _events(session: Any, workspace_id: str, since: datetime, until: datetime) -> list[Any]:
    rows = await session.execute(
        select(
            Event.type, Event.payload, Event.timings, Event.created_at, Event.conversation_id
        ).where(
            Event.workspace_id == workspace_id,
            Event.type.in_((events.TURN_COMPLETED, events.TURN_FAILED)),
            Event.created_at >= since,
            Event.created_at < until,
        )
    )
    return list(rows.all())


async def _conversations(
    session: Any, workspace_id: str, since: datetime, until: datetime, routed: set[str]
) -> tuple[int, set[str]]:
    """(conversations started in the window, which of ``routed`` a handoff touched)."""
    total = (
        await session.execute(
            select(func.count()).where(
                Conversation.workspace_id == workspace_id,
                Conversation.created_at >= since,
                Conversation.created_at < until,
            )
        )
    ).scalar_one()
    handed = await session.execute(
        select(Handoff.conversation_id).where(Handoff.conversation_id.in_(routed)).distinct()
    )
    return int(total), {r[0] for r in handed}


async def _handoffs(
    session: Any, workspace_id: str, since: datetime, until: datetime
) -> list[tuple[datetime, datetime | None]]:
    rows = await session.execute(
        select(Handoff.created_at, Handoff.claimed_at).where(
            Handoff.workspace_id == workspace_id,
            Handoff.created_at >= since,
            Handoff.created_at < until,
        )
    )
    return [(r[0], r[1]) for r in rows]


def _summarise(
    workspace_id: str,
    days: int,
    since: datetime,
    until: datetime,
    turns: list[Any],
    conversations: int,
    contained: list[bool],
    handoffs: list[tuple[datetime, datetime | None]],
    ratings: list[int],
) -> Figures:
    done = [(p, t) for kind, p, t, *_ in turns if kind == _DONE]
    answered = [p for p, _ in done if p.get("halted") is None]
    waits = [(c - o).total_seconds() for o, c in handoffs if c is not None]
    first = [float(p["first_token_ms"]) for p in answered if p.get("first_token_ms") is not None]
    return Figures(
        workspace_id=workspace_id,
        days=days,
        until=until.isoformat(),
        conversations=conversations,
        assisted=len(contained),
        turns=len(done),
        failed_turns=sum(1 for kind, *_ in turns if kind == events.TURN_FAILED),
        containment=_share(contained),
        handoffs=len(handoffs),
        handoff_wait_p50_s=percentile(waits, 50),
        ratings=len(ratings),
        csat=round(sum(ratings) / len(ratings), 2) if ratings else None,
        csat_satisfied=round(sum(r >= 4 for r in ratings) / len(ratings), 3) if ratings else None,
        turn_ms_p50=percentile([_turn_ms(t) for _, t in done], 50),
        turn_ms_p95=percentile([_turn_ms(t) for _, t in done], 95),
        first_token_ms_p50=percentile(first, 50),
        first_token_ms_p95=percentile(first, 95),
        prompt_tokens=sum(int(p.get("prompt_tokens") or 0) for p, _ in done),
        completion_tokens=sum(int(p.get("completion_tokens") or 0) for p, _ in done),
        cost_usd=round(sum(float(p.get("cost_usd") or 0.0) for p, _ in done), 6),
        cache_hit_rate=_share([bool(p.get("cache_hit")) for p in answered]),
        grounded=_counts(p.get("grounded") for p in answered),
        routes=_counts(p.get("route") for p, _ in done),
        channels=_counts(p.get("channel") for p, _ in done),
        intents=Counter(str(p["intent"]) for p, _ in done if p.get("intent")).most_common(8),
        daily=_daily(since, days, turns, handoffs),
    )


def _turn_ms(timings: dict[str, Any]) -> float:
    return float(sum(float(v) for k, v in timings.items() if k not in _NOT_STEPS))


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def _counts(values: Any) -> dict[str, int]:
    return dict(Counter(str(v) for v in values if v is not None).most_common())


def _daily(
    since: datetime, days: int, turns: list[Any], handoffs: list[tuple[datetime, datetime | None]]
) -> list[dict[str, Any]]:
    """Turns and handoffs per day, oldest first (UTC days, the window's first day included)."""
    first = since.date()
    turned, opened = [0] * (days + 1), [0] * (days + 1)
    for kind, _, _, at, _ in turns:
        if kind == _DONE:
            turned[(at.date() - first).days] += 1
    for at, _ in handoffs:
        opened[(at.date() - first).days] += 1
    return [
        {"day": (first + timedelta(days=n)).isoformat(), "turns": turned[n], "handoffs": opened[n]}
        for n in range(days + 1)
    ]
