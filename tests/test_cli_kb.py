"""``omnivox kb`` commands against a real data dir, honouring OMNIVOX_DATA_DIR."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnivox.cli import app
from tests.conftest import ACME

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "omnivox.yaml"
    config.write_text("workspaces: [{id: acme, name: Acme}, {id: other, name: Other}]\n")
    monkeypatch.setenv("OMNIVOX_CONFIG", str(config))
    monkeypatch.setenv("OMNIVOX_DATA_DIR", str(tmp_path / "data"))
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("returns.md", "shipping.md", "warranty.md"):
        shutil.copy(ACME / "knowledge" / name, docs / name)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    return docs


def test_ingest_search_list_remove(workspace: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["kb", "ingest", str(workspace)])
    assert result.exit_code == 0, result.output
    assert "3 added" in result.output and "1 failed" in result.output
    assert "broken.pdf" in result.output
    assert (tmp_path / "data" / "omnivox.db").is_file()  # OMNIVOX_DATA_DIR honoured

    again = runner.invoke(app, ["kb", "ingest", str(workspace)])
    assert "0 added" in again.output and "3 unchanged" in again.output

    search = runner.invoke(
        app, ["kb", "search", "--json", "--k", "2", "how long do I have to return something"]
    )
    rows = json.loads(search.stdout)
    assert rows[0]["source_id"] == "returns.md" and len(rows) == 2
    assert {"source_id", "title", "text", "score"} <= set(rows[0])

    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"id": "a", "query": "warranty length"}\n{"id": 2, "query": "shipping cost"}\n'
    )
    batch = runner.invoke(app, ["kb", "search", "--queries", str(queries), "--k", "1"])
    lines = [json.loads(x) for x in batch.stdout.splitlines()]
    assert [(x["id"], x["results"][0]["source_id"]) for x in lines] == [
        ("a", "warranty.md"),
        (2, "shipping.md"),
    ]

    table = runner.invoke(app, ["kb", "list"])
    assert "returns.md" in table.output and "warranty.md" in table.output
    assert "empty" in runner.invoke(app, ["kb", "list", "--workspace", "other"]).output

    removed = runner.invoke(app, ["kb", "remove", "warranty.md"])
    assert removed.exit_code == 0 and "Removed 1" in removed.output
    assert "warranty.md" not in runner.invoke(app, ["kb", "list"]).output
    assert runner.invoke(app, ["kb", "remove", "nope.md"]).exit_code == 1


def test_bad_arguments_are_explained(workspace: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["kb", "ingest", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "Not found" in missing.output
    unknown = runner.invoke(app, ["kb", "list", "--workspace", "initech"])
    assert unknown.exit_code == 2 and "acme, other" in unknown.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    batch = runner.invoke(app, ["kb", "search", "--queries", str(bad)])
    assert batch.exit_code == 2 and "bad.jsonl:1" in batch.output
