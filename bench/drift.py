"""Drift over a busy workspace: how long comparing two windows takes, and grouping the gaps.

Fills a fresh database (SQLite by default, ``--pg`` for PostgreSQL) with N ``turn.completed``
events spread evenly over 180 days (so that the 90-day window has 90 days before it), then
times ``analytics.drift.drift`` for the 7-, 30- and 90-day windows (median of three) and the
longest the event loop was held meanwhile. Then times the knowledge gaps' topic stage on its
own: redacting, embedding (the bundled MiniLM) and clustering ``MAX_QUESTIONS`` questions.

Usage: python bench/drift.py [--events 200000] [--pg] [--no-append]
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard import analytics_main, bench_database, timed

from omnivox.analytics import gaps
from omnivox.analytics.drift import drift
from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.storage.db import Database
from omnivox.storage.models import Event, Workspace
from omnivox.types import utcnow

BATCH = 5_000
INTENTS = ["returns", "shipping", "order_status", "sizing", "warranty", None]
TOPICS = ["student discount", "bike helmets", "gift wrapping", "Klarna", "rental skis"]


def payload(rng: random.Random, i: int) -> dict[str, object]:
    intent = rng.choice(INTENTS)
    return {
        "channel": rng.choice(["webchat", "sms", "email", "api"]),
        "route": rng.choice(["answer"] * 8 + ["act", "handoff"]),
        "message_id": f"msg_{i:08d}",
        "intent": intent,
        "confidence": rng.uniform(0.3, 1.0),
        "language": rng.choice(["en"] * 9 + ["es"]),
        "grounded": rng.choice(["full", "full", "partial", "none"]),
        "passages": rng.choice([0, 3, 4]),
        "cache_hit": rng.random() < 0.2,
        "halted": None,
    }


async def fill(db: Database, n: int) -> None:
    rng, now = random.Random(7), utcnow()
    async with db.sessions.begin() as session:
        await session.execute(insert(Workspace).values(id="acme", name="Acme"))
    step = timedelta(days=180) / n
    for start in range(0, n, BATCH):
        rows = [
            {
                "workspace_id": "acme",
                "conversation_id": f"conv_{i // 4:08d}",
                "type": "turn.completed",
                "payload": payload(rng, i),
                "timings": {"identify": 0.5, "generate": rng.uniform(5, 900)},
                "created_at": now - step * (n - i),
            }
            for i in range(start, min(start + BATCH, n))
        ]
        async with db.sessions.begin() as session:
            await session.execute(insert(Event), rows)


def topic_stage() -> float:
    """Seconds to redact, embed and cluster MAX_QUESTIONS gap questions (the model loaded)."""
    rng = random.Random(7)
    asked = [
        gaps._Question(
            f"Hi, do you have {rng.choice(TOPICS)}? Mail me at p{i}@example.com", f"conv_{i}",
            None, None,
        )
        for i in range(gaps.MAX_QUESTIONS)
    ]  # fmt: skip
    reader = gaps.QuestionReader(MiniLMEmbedder(), secrets.token_bytes(32))
    reader.embedder.embed(["warm up"])
    took = []
    for _ in range(3):
        started = time.perf_counter()
        gaps._group(asked, {}, reader)
        took.append(time.perf_counter() - started)
    return statistics.median(took)


async def run(args: argparse.Namespace) -> list[str]:
    async with bench_database(args.pg) as db:
        await fill(db, args.events)
        lines = ["| window | drift ms | longest loop stall ms |", "|---|---|---|"]
        for days in (7, 30, 90):
            runs = [await timed(drift(db, "acme", days)) for _ in range(3)]
            took, stall = (statistics.median(x) for x in zip(*runs, strict=True))
            lines.append(f"| {days} days (and the {days} before) | {took:.0f} | {stall:.0f} |")
        lines.append("\n(medians of three runs each; the topics not read: no messages here)")
        backend = "PostgreSQL" if args.pg else "SQLite"
        lines.append(f"\n{args.events:,} turn events over 180 days, {backend}.")
        seconds = topic_stage()
        lines.append(
            f"\nTopics of {gaps.MAX_QUESTIONS} gap questions (redact, embed, cluster; in a "
            f"worker thread): {seconds * 1000:.0f} ms (median of three)."
        )
        return lines


if __name__ == "__main__":
    analytics_main(run, "Drift and knowledge gaps (analytics)", "drift.py")
