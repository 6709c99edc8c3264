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
    assert result.exit_code == 1, result.output  # the rest is ingested, the failure reported
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

    missing = runner.invoke(app, ["kb", "search", "--queries", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 2 and "Cannot read" in missing.output
    assert "Traceback" not in missing.output


def test_the_same_text_may_be_ingested_twice(workspace: Path, tmp_path: Path) -> None:
    """Into two workspaces, from a copy in another folder, twice in a file, and after a rename."""
    line = json.dumps({"id": "hours", "text": "The Denver store opens at 9 am every day."})
    docs = tmp_path / "faq"
    docs.mkdir()
    (docs / "a.jsonl").write_text(f"{line}\n{line}\n")
    copy = tmp_path / "copy"
    shutil.copytree(docs, copy)
    for args in (
        [str(docs)],
        [str(docs), "--workspace", "other"],
        [str(copy)],
    ):
        result = runner.invoke(app, ["kb", "ingest", *args])
        assert result.exit_code == 0 and "1 added" in result.output, result.output
    (docs / "a.jsonl").rename(docs / "b.jsonl")
    renamed = runner.invoke(app, ["kb", "ingest", str(docs)])
    assert renamed.exit_code == 0 and "1 added" in renamed.output and "1 removed" in renamed.output
    for ws in ("acme", "other"):
        hits = json.loads(
            runner.invoke(app, ["kb", "search", "--json", "--workspace", ws, "store opens"]).stdout
        )
        assert hits[0]["source_id"] == "hours"


def test_remove_refuses_a_name_two_files_share(workspace: Path, tmp_path: Path) -> None:
    """Until 2026-12-05 ``kb remove faq.jsonl`` removed both files."""
    files = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        files.append(tmp_path / folder / "faq.jsonl")
        files[-1].write_text(json.dumps({"text": f"Answer from {folder}."}) + "\n")
    assert runner.invoke(app, ["kb", "ingest", *map(str, files)]).exit_code == 0
    shared = runner.invoke(app, ["kb", "remove", "faq.jsonl"])
    assert shared.exit_code == 2 and "is the source of 2 files" in shared.output
    assert str(files[0]) in shared.output and str(files[1]) in shared.output
    removed = runner.invoke(app, ["kb", "remove", str(files[0])])
    assert removed.exit_code == 0 and "Removed 1" in removed.output
    last = runner.invoke(app, ["kb", "remove", "faq.jsonl"])  # b's, the only one left
    assert last.exit_code == 0 and "Removed 1" in last.output
    assert "empty" in runner.invoke(app, ["kb", "list"]).output


def test_a_csv_faq_of_empty_answers_fails_like_jsonl(workspace: Path, tmp_path: Path) -> None:
    """Until 2026-12-05 such rows were dropped silently: 0 chunks, and the command exited 0."""
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\nDo you ship to Canada?,\nOpen Sundays?,  \n")
    result = runner.invoke(app, ["kb", "ingest", str(faq)])
    assert result.exit_code == 1 and "1 failed" in result.output, result.output
    assert "faq.csv:2: the answer is empty" in result.output


def test_files_a_parser_cannot_take_are_skipped_and_text_is_never_markup(
    workspace: Path, tmp_path: Path
) -> None:
    docs = tmp_path / "odd"
    docs.mkdir()
    (docs / "dash.csv").write_text("question,answer\nWhat?,---\nOpen Sundays?,Yes from 10.\n")
    (docs / "pipe.jsonl").write_text(json.dumps({"question": "Pipe?", "answer": "|"}) + "\n")
    (docs / "logo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    tags = {"id": 0, "text": "Press [Enter] then [bold] to confirm, or use the [/b] tag."}
    (docs / "tags.jsonl").write_text(json.dumps(tags) + "\n")
    result = runner.invoke(app, ["kb", "ingest", str(docs)])
    assert result.exit_code == 1 and "1 added" in result.output and "3 failed" in result.output
    assert "pipe.jsonl:1: the answer has no text" in result.output
    assert "dash.csv:2: the answer has no text" in result.output  # as in JSONL: file skipped
    assert result.output.count("logo.md: not a text file") == 1  # once: no log line as well
    assert "Traceback" not in result.output
    found = runner.invoke(app, ["kb", "search", "--k", "1", "press enter to confirm"])
    assert found.exit_code == 0, found.output
    assert "[Enter] then [bold]" in found.output and "│ 0 " in found.output  # id 0 is kept
    nothing = runner.invoke(app, ["kb", "remove", "[/x]"])
    assert nothing.exit_code == 1 and "Nothing matched" in nothing.output
