"""``omnivox agents``: add, disable, enable and remove, on the configured database."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sqlite3
from pathlib import Path
from typing import Any

import yaml
from structlog.testing import capture_logs
from typer.testing import CliRunner

from omnivox.cli import app
from omnivox.cli_support import with_database
from omnivox.services import build_services
from omnivox.settings import Settings, load_settings
from omnivox.storage.db import Database
from omnivox.storage.handoffs import HandoffStore
from omnivox.storage.repositories import Store
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import ACME


def write_config(tmp_path: Path, **workspace: Any) -> Path:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "config_dir": str(ACME),
                "workspaces": [{"id": "acme", "name": "Acme", **workspace}],
            }
        )
    )
    return config


def sam_and_kim(tmp_path: Path, sam: str = "sam@acme.example") -> tuple[Path, Settings]:
    """A config seeding two agents (Sam's email written as ``sam``), and its settings."""
    seed = [
        {"email": sam, "name": "Sam", "password": "sam-pw-1234"},
        {"email": "kim@acme.example", "name": "Kim", "password": "kim-pw-1234"},
    ]
    config = write_config(tmp_path, seed={"agents": seed})
    return config, load_settings(config)


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


async def _serve_start(settings: Settings) -> list[tuple[str, bool]]:
    """What ``omnivox serve`` does first (migrate, seed), then the agents: email, disabled."""
    services = build_services(settings)
    try:
        await services.start(warm_up=False)
        agents = await services.console.handoffs.agents("acme")
    finally:
        await services.close()
    return sorted((a.email, a.disabled_at is not None) for a in agents)


def test_a_removed_seed_agent_stays_removed_when_the_server_starts_again(
    tmp_path: Path,
) -> None:
    """The next serve created the removed agent again, with the seed's password."""
    config, settings = sam_and_kim(tmp_path, "Sam@acme.example")
    runner, base = CliRunner(), ["--config", str(config)]
    assert asyncio.run(_serve_start(settings)) == [
        ("kim@acme.example", False),
        ("sam@acme.example", False),
    ]
    # Kim holds a conversation and wrote a note: her removed record is kept
    with_database(settings, lambda db: _hold(db, {"kim@acme.example": "c2"}))
    for email in ("sam@acme.example", "kim@acme.example"):
        removed = runner.invoke(app, ["agents", "remove", email, "--yes", *base])
        assert removed.exit_code == 0, removed.output

    with capture_logs() as logs:
        agents = asyncio.run(_serve_start(settings))
    [(kept, disabled)] = agents  # neither came back
    assert kept.startswith("removed:agt_") and disabled
    warned = [e for e in logs if e["event"] == "workspace.seed_agent_removed"]
    assert [e["entry"] for e in warned] == ["seed.agents[0]", "seed.agents[1]"]
    assert all(e["log_level"] == "warning" for e in warned)

    # added again on purpose: a new account, which the seed keeps up to date as before
    again = ["agents", "add", "sam@acme.example", "--name", "Sam", "--password", "y" * 12, *base]
    assert runner.invoke(app, again).exit_code == 0
    emails = [email for email, _ in asyncio.run(_serve_start(settings))]
    assert "sam@acme.example" in emails and "kim@acme.example" not in emails


def _removal_payloads(tmp_path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(tmp_path / "var" / "omnivox.db") as conn:
        rows = conn.execute("SELECT payload FROM events WHERE type = 'agent.removed'").fetchall()
    return [json.loads(row[0]) for row in rows]


def test_a_removal_record_keys_the_emails_digest_with_the_key_ring(tmp_path: Path) -> None:
    """It kept a plain SHA-256 of the email: reversible by hashing a list of guessed emails."""
    config, settings = sam_and_kim(tmp_path, "sam@acme.example")
    runner, base = CliRunner(), ["--config", str(config)]
    asyncio.run(_serve_start(settings))
    removed = runner.invoke(app, ["agents", "remove", "sam@acme.example", "--yes", *base])
    assert removed.exit_code == 0, removed.output

    ring_file = tmp_path / "var" / "keys.json"
    ring = json.loads(ring_file.read_text())
    key = base64.b64decode(ring["keys"][ring["primary"]])
    derived = hmac.new(key, b"omnivox:agent-removed:v1", hashlib.sha256).digest()
    keyed = hmac.new(derived, b"sam@acme.example", hashlib.sha256).hexdigest()
    assert _removal_payloads(tmp_path) == [{"email_hmac": keyed}]  # no plain digest
    assert hashlib.sha256(b"sam@acme.example").hexdigest() not in str(_removal_payloads(tmp_path))

    # a record made before 2026-12-06 (a plain digest) still keeps its agent removed
    kim = asyncio.run(_serve_start(settings))
    assert [email for email, _ in kim] == ["kim@acme.example"]
    plain = {"email_sha256": hashlib.sha256(b"kim@acme.example").hexdigest()}
    with sqlite3.connect(tmp_path / "var" / "omnivox.db") as conn:
        conn.execute("DELETE FROM agents")  # Kim removed, by a release before 2026-12-06
        conn.execute(
            "INSERT INTO events (workspace_id, type, payload, timings, created_at) "
            "SELECT workspace_id, type, ?, timings, created_at FROM events "
            "WHERE type = 'agent.removed'",
            (json.dumps(plain),),
        )
    # and a rotated ring (a new primary, the old key kept) still finds the keyed one
    ring["keys"]["knew"] = base64.b64encode(bytes(range(32))).decode()
    ring_file.write_text(json.dumps({**ring, "primary": "knew"}))
    assert asyncio.run(_serve_start(settings)) == []  # neither came back


def test_a_removal_record_outlives_the_retention_purge(tmp_path: Path) -> None:
    from datetime import timedelta

    from omnivox.storage.retention import purge
    from omnivox.types import utcnow

    seed = [{"email": "sam@acme.example", "name": "Sam", "password": "sam-pw-1234"}]
    config = write_config(tmp_path, seed={"agents": seed})
    settings = load_settings(config)
    asyncio.run(_serve_start(settings))
    remove = ["agents", "remove", "sam@acme.example", "--yes", "--config", str(config)]
    assert CliRunner().invoke(app, remove).exit_code == 0
    with_database(settings, lambda db: purge(db, "acme", utcnow() + timedelta(days=1)))
    assert asyncio.run(_serve_start(settings)) == []
