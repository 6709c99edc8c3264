"""``omnivox agents``: add, disable and enable, on the configured database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yaml
from typer.testing import CliRunner

from omnivox.cli import app
from tests.conftest import ACME


def test_agents_are_disabled_and_enabled_by_email(tmp_path: Path) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "config_dir": str(ACME),
                "workspaces": [{"id": "acme", "name": "Acme"}],
            }
        )
    )
    runner = CliRunner()
    base = ["--config", str(config)]
    added = runner.invoke(
        app, ["agents", "add", "Sam@acme.example", "--name", "Sam", "--password", "x" * 12, *base]
    )
    assert added.exit_code == 0, added.output

    def state() -> tuple[object, object]:
        with sqlite3.connect(tmp_path / "var" / "omnivox.db") as conn:
            row = conn.execute("SELECT disabled_at, signed_out_at FROM agents").fetchone()
        return row[0], row[1]

    assert state() == (None, None)
    disabled = runner.invoke(app, ["agents", "disable", "sam@acme.example", *base])
    assert disabled.exit_code == 0 and "disabled" in disabled.output
    assert all(state())  # disabled, and its sessions ended
    enabled = runner.invoke(app, ["agents", "enable", "SAM@acme.example", *base])
    assert enabled.exit_code == 0 and state()[0] is None
    unknown = runner.invoke(app, ["agents", "disable", "nobody@acme.example", *base])
    assert unknown.exit_code == 1 and "No agent" in unknown.output
