"""FAQ entries (CSV rows, JSONL question/answer lines): marked, stored, and migrated.

How a FAQ entry is scored is checked exactly in test_index.py; here the flag travels from the
loaders through the database (SQLite and PostgreSQL) and migration 0010 marks the chunks of CSV
files stored before it.
"""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import Connection

from omnivox.services import Services
from omnivox.storage.db import alembic_config


def write_sources(folder: Path) -> list[Path]:
    """A CSV FAQ, a JSONL file with one FAQ entry and one document, and a Markdown page."""
    folder.mkdir()
    csv = folder / "faq.csv"
    csv.write_text("id,question,answer\nship,Do you ship to Canada?,Yes: $19.95 flat.\n")
    lines = folder / "more.jsonl"
    lines.write_text(
        json.dumps({"id": "gift", "question": "Do gift cards expire?", "answer": "Never."})
        + "\n"
        + json.dumps({"id": "note", "title": "Holiday note", "text": "Stores close at 4 p.m."})
        + "\n"
    )
    page = folder / "returns.md"
    page.write_text("# Returns\n\nReturn anything within 60 days for a full refund.\n")
    return [csv, lines, page]


async def faq_flags(services: Services) -> dict[str, bool]:
    chunks, _ = await services.kb.store.chunks("acme")
    return {c.source_id: c.faq for c in chunks}


async def test_faq_entries_are_marked_and_the_mark_is_stored(
    services: Services, tmp_path: Path
) -> None:
    report = await services.kb.ingest("acme", write_sources(tmp_path / "kb"))
    assert not report.failed
    assert await faq_flags(services) == {
        "faq.csv#ship": True,
        "gift": True,
        "note": False,
        "returns.md": False,
    }
    hits = await services.kb.search("acme", "Can I use a gift card years later?", k=1)
    assert hits[0].chunk.source_id == "gift" and hits[0].chunk.faq
    assert hits[0].chunk.text == "Do gift cards expire?\nNever."


async def test_migration_0010_marks_the_chunks_of_csv_files_stored_before_it(
    services: Services, tmp_path: Path
) -> None:
    await services.kb.ingest("acme", write_sources(tmp_path / "kb"))

    def downgrade(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), "0009")

    async with services.db.engine.begin() as conn:
        await conn.run_sync(downgrade)  # the column goes: the rows are as 0009 stored them
    await services.db.migrate()
    assert await faq_flags(services) == {
        "faq.csv#ship": True,  # a CSV file is a FAQ
        "gift": False,  # JSONL FAQ lines are newer than 0010: never stored without the mark
        "note": False,
        "returns.md": False,
    }
