"""``omnivox agents``: add, disable, enable and remove, on the configured database."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from omnivox.cli import app
from omnivox.cli_support import with_database
from omnivox.settings import load_settings
from omnivox.storage.db import Database
from omnivox.storage.handoffs import HandoffStore
from omnivox.storage.repositories import Store
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import ACME


def write_config(tmp_path: Path) -> Path:
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
    return config


def test_agents_are_disabled_and_enabled_by_email(tmp_path: Path) -> None:
    config = write_config(tmp_path)
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


async def _hold(db: Database, agents: dict[str, str]) -> dict[str, Any]:
    """Sam holds a customer's conversation; Kim resolved another's and wrote a note on it."""
    store, handoffs = Store(db), HandoffStore(db)
    ids = {a.email: a.id for a in await handoffs.agents("acme")}
    held: dict[str, Any] = {}
    for who, customer_ref in agents.items():
        customer, _ = await store.resolve_customer("acme", "api", customer_ref)
        said = InboundMessage("acme", "api", CustomerRef(customer_ref), "help please")
        conv = (await store.attach_inbound(said, customer)).message.conversation_id
        view, _ = await handoffs.open("acme", conv, customer, {"summary": "help"})
        await handoffs.claim("acme", view.id, ids[who])
        held[who] = view.id
    kim = ids["kim@acme.example"]
    await handoffs.add_note(
        (await handoffs.get("acme", held["kim@acme.example"])).conversation_id, kim, "called"
    )
    await handoffs.close("acme", held["kim@acme.example"], kim, "resolved")
    return held


async def _state(db: Database, held: dict[str, str]) -> dict[str, Any]:
    handoffs = HandoffStore(db)
    views = {who: await handoffs.get("acme", h) for who, h in held.items()}
    return {
        "agents": sorted(
            (a.email, a.disabled_at is not None) for a in await handoffs.agents("acme")
        ),
        "handoffs": {who: (v.status, v.agent_id) for who, v in views.items()},
    }


def test_a_removed_agents_conversations_go_back_to_the_queue(tmp_path: Path) -> None:
    """There was no way to remove an agent (only to disable them)."""
    config = write_config(tmp_path)
    settings = load_settings(config)
    runner = CliRunner()
    base = ["--config", str(config)]
    for email, name in (("sam@acme.example", "Sam"), ("kim@acme.example", "Kim")):
        add = ["agents", "add", email, "--name", name, "--password", "x" * 12, *base]
        assert runner.invoke(app, add).exit_code == 0
    held = with_database(
        settings, lambda db: _hold(db, {"sam@acme.example": "c1", "kim@acme.example": "c2"})
    )

    help_text = runner.invoke(app, ["agents", "--help"]).output
    assert "remove" in help_text
    unknown = runner.invoke(app, ["agents", "remove", "nobody@acme.example", "--yes", *base])
    assert unknown.exit_code == 1 and "No agent" in unknown.output
    declined = runner.invoke(app, ["agents", "remove", "sam@acme.example", *base], input="n\n")
    assert declined.exit_code == 1

    sam = runner.invoke(app, ["agents", "remove", "Sam@acme.example", "--yes", *base])
    assert sam.exit_code == 0, sam.output
    assert "1 conversation(s) they held went back to the queue" in " ".join(sam.output.split())
    kim = runner.invoke(app, ["agents", "remove", "kim@acme.example", "--yes", *base])
    assert kim.exit_code == 0 and "kept as a disabled record" in " ".join(kim.output.split())
    state = with_database(settings, lambda db: _state(db, held))
    assert state["handoffs"]["sam@acme.example"] == ("waiting", None)  # back in the queue
    assert state["handoffs"]["kim@acme.example"][0] == "resolved"  # still names Kim
    [(kept_email, disabled)] = state["agents"]  # Sam deleted; Kim kept for her note and handoff
    assert kept_email.startswith("removed:agt_") and disabled
    for command in (["enable"], ["disable"], ["remove", "--yes"]):  # the kept record: nobody's
        acted = runner.invoke(app, ["agents", *command, kept_email, *base])
        assert acted.exit_code == 1 and "No agent" in acted.output, (command, acted.output)

    again = ["agents", "add", "kim@acme.example", "--name", "Kim", "--password", "y" * 12, *base]
    assert runner.invoke(app, again).exit_code == 0  # the email is free: a new account
    state = with_database(settings, lambda db: _state(db, held))
    assert ("kim@acme.example", False) in state["agents"] and len(state["agents"]) == 2
