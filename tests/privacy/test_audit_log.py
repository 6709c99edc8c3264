"""The audit chain stays whole when several processes append at once (server, CLI, replicas)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

from omnivox.storage.audit import AuditLog
from omnivox.storage.db import Database

APPENDER = """
import asyncio, sys
from omnivox.storage.audit import AuditLog
from omnivox.storage.db import Database

async def main(url, schema, name):
    db = Database(url, schema=schema or None)
    try:
        for n in range(15):
            await AuditLog(db).append("acme", name, "test.append", str(n))
    finally:
        await db.close()

asyncio.run(main(*sys.argv[1:]))
"""


async def _migrate_then(url: str, schema: str, verify: bool) -> int | None:
    db = Database(url, schema=schema or None)
    try:
        if not verify:
            await db.migrate()
            return None
        verdict = await AuditLog(db).verify()
        return verdict.entries if verdict.ok else -1
    finally:
        await db.close()


def test_concurrent_appends_from_several_processes_keep_one_chain(
    database: dict[str, Any],
) -> None:
    url, schema = database["url"], database.get("schema", "")
    asyncio.run(_migrate_then(url, schema, verify=False))
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, url, schema, f"process-{i}"])
        for i in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert asyncio.run(_migrate_then(url, schema, verify=True)) == 45  # -1: a broken chain


async def test_verify_reports_the_head_so_a_cut_off_tail_can_be_noticed(tmp_path: Any) -> None:
    from sqlalchemy import delete

    from omnivox.storage.models import AuditEntry

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/a.db")
    try:
        await db.migrate()
        log = AuditLog(db)
        for n in range(3):
            await log.append("acme", "cli", "test.append", str(n))
        whole = await log.verify()
        async with db.sessions.begin() as session:
            await session.execute(delete(AuditEntry).where(AuditEntry.subject == "2"))
        cut = await log.verify()
    finally:
        await db.close()
    assert whole.ok and cut.ok  # the chain alone cannot tell
    assert (whole.entries, cut.entries) == (3, 2) and whole.head != cut.head  # the head can
