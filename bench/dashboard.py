"""The dashboard's figures over a busy workspace: how long one window takes to compute.

Fills a fresh database (SQLite by default, ``--pg`` for PostgreSQL) with N ``turn.completed``
events spread evenly over 90 days (realistic payloads and step timings, a handoff every 20th
turn), then times ``analytics.metrics.figures`` for the 7-, 30- and 90-day windows (median of
three). The baseline in the same run is what the first version did: read every event of the
window and decode its payload and timings in Python.

Usage: python bench/dashboard.py [--events 200000] [--pg] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from rich.progress import track
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_results

from omnivox.analytics.metrics import figures
from omnivox.storage.db import Database
from omnivox.storage.models import Event, Workspace
from omnivox.types import utcnow

PG_URL = os.environ.get("OMNIVOX_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
BATCH = 5_000


def payload(rng: random.Random) -> dict[str, object]:
    route = rng.choice(["answer"] * 8 + ["act", "handoff"])
    return {
        "channel": rng.choice(["webchat", "sms", "email", "api"]),
        "route": route,
        "intent": rng.choice(["returns", "shipping", "order_status", "sizing", "warranty"]),
        "grounded": rng.choice(["full", "full", "partial", "none"]),
        "cache_hit": rng.random() < 0.2,
        "prompt_tokens": rng.randint(200, 1400),
        "completion_tokens": rng.randint(20, 120),
        "cost_usd": 0.0,
        "first_token_ms": rng.uniform(50, 700),
        "halted": None,
    }


async def fill(db: Database, n: int) -> None:
    rng, now = random.Random(7), utcnow()
    async with db.sessions.begin() as session:
        await session.execute(insert(Workspace).values(id="acme", name="Acme"))
    step = timedelta(days=90) / n
    for start in track(range(0, n, BATCH), description=f"{n:,} events"):
        rows = [
            {
                "workspace_id": "acme",
                "conversation_id": f"conv_{i // 4:08d}",
                "turn_id": f"turn_{i:08d}",
                "type": "turn.completed",
                "payload": payload(rng),
                "timings": {"identify": 0.5, "attach": 1.5, "generate": rng.uniform(5, 900)},
                "created_at": now - step * (n - i),
            }
            for i in range(start, min(start + BATCH, n))
        ]
        async with db.sessions.begin() as session:
            await session.execute(insert(Event), rows)


async def decoded(db: Database, days: int) -> int:
    """The baseline: every event of the window read and decoded in Python."""
    since = utcnow() - timedelta(days=days)
    async with db.sessions() as session:
        rows = await session.execute(
            select(Event.payload, Event.timings).where(
                Event.workspace_id == "acme", Event.created_at >= since
            )
        )
        return sum(1 for p, t in rows if p.get("route") and t)


async def timed(work: object) -> tuple[float, float]:
    """(ms the work took, the longest ms the event loop was held meanwhile).

    The stall is what a customer's turn on the same server would wait: a ticker asks for the
    loop every millisecond and records the longest gap.
    """
    longest, done = 0.0, False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await work  # type: ignore[misc]
    took = (time.perf_counter() - started) * 1000
    done = True
    await ticker
    return took, longest * 1000


@contextlib.asynccontextmanager
async def bench_database(pg: bool) -> AsyncIterator[Database]:
    """A migrated database of the run's own: a temporary SQLite file, or a PostgreSQL schema
    dropped afterwards."""
    schema = f"b_{secrets.token_hex(4)}" if pg else None
    url = PG_URL if pg else f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database(url, schema=schema)
    try:
        await db.migrate()
        yield db
    finally:
        await db.close()
        if schema:
            engine = create_async_engine(PG_URL)
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await engine.dispose()


def analytics_main(
    run: Callable[[argparse.Namespace], Awaitable[list[str]]], title: str, script: str
) -> None:
    """The command line of an analytics benchmark: fill ``--events``, run, report."""
    parser = argparse.ArgumentParser(
        description=(sys.modules["__main__"].__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=200_000, help="turn events to fill in")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    lines = asyncio.run(run(args))
    print("\n".join(lines))
    if not args.no_append:
        command = f"python bench/{script} " + " ".join(sys.argv[1:])
        append_results(title, command.strip(), lines)


async def run(args: argparse.Namespace) -> list[str]:
    async with bench_database(args.pg) as db:
        await fill(db, args.events)
        lines = [
            "| window | figures ms | longest loop stall ms | baseline: decode every event, ms "
            "| baseline's stall ms | time ratio |",
            "|---|---|---|---|---|---|",
        ]
        for days in (7, 30, 90):
            ours = [await timed(figures(db, "acme", days)) for _ in range(3)]
            base = [await timed(decoded(db, days)) for _ in range(3)]
            took, stall = (statistics.median(x) for x in zip(*ours, strict=True))
            base_took, base_stall = (statistics.median(x) for x in zip(*base, strict=True))
            lines.append(
                f"| {days} days | {took:.0f} | {stall:.0f} | {base_took:.0f} | {base_stall:.0f} "
                f"| {took / base_took:.2f} |"
            )
        lines.append("\n(medians of three runs each)")
        backend = "PostgreSQL" if args.pg else "SQLite"
        lines.append(f"\n{args.events:,} turn events over 90 days, {backend}.")
        return lines


if __name__ == "__main__":
    analytics_main(run, "Dashboard figures (analytics)", "dashboard.py")
