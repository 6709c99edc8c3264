"""Identity resolution plus context assembly with 100,000 customers: PostgreSQL against SQLite.

Each backend gets the same synthetic workspace: N customers, each with a phone and an email
identity and one open conversation of 24 messages (so the rolling summary has work to do). One
lookup is what a turn does before the model: resolve the sender's phone to a customer
(``Store.resolve_customer``), find their open conversation, and recall its memory (last 12
messages, summary, profile facts: ``Store.recall``). Lookups run one at a time for random
customers; the figures are p50/p95 per lookup, and the ratio of the p95s.

Usage: python bench/identity.py [--customers 100000] [--lookups 2000] [--no-append]
Needs PostgreSQL at $OMNIVOX_TEST_PG_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from rich.progress import track
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_results, pct

from omnivox.storage.db import Database
from omnivox.storage.memory import MemoryRules
from omnivox.storage.models import Conversation, Customer, Identity, Message, Workspace
from omnivox.storage.repositories import Store
from omnivox.types import utcnow

PG_URL = os.environ.get("OMNIVOX_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
MESSAGES = 24
BATCH = 2000


def phone(i: int) -> str:
    return f"+1720{i:07d}"


async def populate(db: Database, customers: int) -> None:
    """Bulk-insert the synthetic workspace (executemany in batches)."""
    now = utcnow()
    async with db.sessions.begin() as session:
        await session.execute(
            insert(Workspace), [{"id": "bench", "name": "Bench", "created_at": now}]
        )
    for start in track(range(0, customers, BATCH), description=f"populate {db.backend}"):
        rows = range(start, min(start + BATCH, customers))
        async with db.sessions.begin() as session:
            await session.execute(
                insert(Customer),
                [
                    {
                        "id": f"cus_{i}",
                        "workspace_id": "bench",
                        "display_name": f"Customer {i}",
                        "attributes": {"locale": "en-US"},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in rows
                ],
            )
            await session.execute(
                insert(Identity),
                [
                    {
                        "workspace_id": "bench",
                        "customer_id": f"cus_{i}",
                        "channel": kind,
                        "address": address,
                        "verified": True,
                        "source": "seed",
                        "created_at": now,
                    }
                    for i in rows
                    for kind, address in (("phone", phone(i)), ("email", f"c{i}@example.com"))
                ],
            )
            await session.execute(
                insert(Conversation),
                [
                    {
                        "id": f"conv_{i}",
                        "workspace_id": "bench",
                        "customer_id": f"cus_{i}",
                        "status": "bot",
                        "last_channel": "sms",
                        "created_at": now,
                        "updated_at": now - timedelta(hours=1),
                        "summary": "",
                        "summary_seq": 0,
                    }
                    for i in rows
                ],
            )
            await session.execute(
                insert(Message),
                [
                    {
                        "id": f"msg_{i}_{m}",
                        "workspace_id": "bench",
                        "conversation_id": f"conv_{i}",
                        "direction": "in" if m % 2 == 0 else "out",
                        "channel": "sms",
                        "text": f"Message {m} of customer {i}. Some more words here.",
                        "status": "received",
                        "meta": {},
                        "created_at": now,
                    }
                    for i in rows
                    for m in range(MESSAGES)
                ],
            )


async def lookup(store: Store, i: int) -> float:
    started = time.perf_counter()
    customer, _ = await store.resolve_customer("bench", "phone", phone(i), verified=True)
    conversation = await store.find_open_conversation("bench", customer)
    assert conversation is not None
    recall = await store.recall(conversation, f"msg_{i}_{MESSAGES - 1}", 12, MemoryRules(20))
    assert recall.history
    return (time.perf_counter() - started) * 1000


async def measure(url: str, schema: str | None, customers: int, lookups: int) -> list[float]:
    db = Database(url, schema=schema)
    try:
        await db.migrate()
        await populate(db, customers)
        store = Store(db)
        rng = random.Random(7)
        for _ in range(50):  # warm the pool and caches
            await lookup(store, rng.randrange(customers))
        return [await lookup(store, rng.randrange(customers)) for _ in range(lookups)]
    finally:
        await db.close()


async def drop_schema(schema: str) -> None:
    engine = create_async_engine(PG_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    schema = f"bench_{secrets.token_hex(4)}"
    try:
        pg = asyncio.run(measure(PG_URL, schema, args.customers, args.lookups))
    finally:
        asyncio.run(drop_schema(schema))
    with tempfile.TemporaryDirectory() as tmp:
        lite = asyncio.run(
            measure(f"sqlite+aiosqlite:///{tmp}/bench.db", None, args.customers, args.lookups)
        )
    lines = [
        "| backend (ms per lookup) | p50 | p95 | n |",
        "|---|---|---|---|",
        f"| PostgreSQL | {pct(pg, 50):.2f} | {pct(pg, 95):.2f} | {len(pg)} |",
        f"| SQLite | {pct(lite, 50):.2f} | {pct(lite, 95):.2f} | {len(lite)} |",
        "",
        f"p95 ratio PostgreSQL / SQLite: {pct(pg, 95) / pct(lite, 95):.2f}x; {args.customers:,} "
        f"customers (2 identities, one {MESSAGES}-message conversation each), one lookup at a "
        "time: resolve the phone, find the open conversation, recall memory (12 messages, "
        "the summary check: 11 older messages, under the 20 that trigger a fold; facts).",
    ]
    print("\n".join(lines))
    if not args.no_append:
        append_results(
            "Identity and context (issue 7)",
            "python bench/identity.py " + " ".join(sys.argv[1:]),
            lines,
        )


if __name__ == "__main__":
    main()
