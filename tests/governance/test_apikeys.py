"""API keys: the token format, the stored hash, checks, revocation, seeding, and the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yaml
from typer.testing import CliRunner

from omnivox.cli import app
from omnivox.governance.apikeys import split_token
from omnivox.governance.rbac import Role
from omnivox.services import Services
from tests.conftest import ACME

SEEDED = "ovx_00000000acde_a-chosen-secret-of-ours"


async def test_a_key_checks_until_revoked_and_only_with_its_secret(services: Services) -> None:
    keys = services.api_keys
    info, token = await keys.create("acme", Role.ANALYST, "dashboards")
    parts = split_token(token)
    assert parts is not None and parts[0] == info.id and len(parts[1]) >= 43
    principal = await keys.check(token)
    assert principal is not None
    assert (principal.workspace_id, principal.role, principal.actor) == (
        "acme",
        Role.ANALYST,
        f"key:{info.id}",
    )
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), token + "x", "", "ovx_", "x"):
        assert await keys.check(wrong) is None, wrong
    assert await keys.check(f"ovx_{'f' * 12}_{parts[1]}") is None  # unknown id, same secret
    listed = await keys.keys("acme")
    assert [k.id for k in listed] == [info.id] and listed[0].last_used_at is not None
    assert await keys.keys("globex") == []
    assert await keys.revoke(info.id, "globex") is None  # another workspace's key: untouched
    assert await keys.check(token) is not None
    revoked = await keys.revoke(info.id, "acme")
    assert revoked is not None and revoked.revoked_at is not None
    assert await keys.check(token) is None
    assert (await keys.revoke(info.id)) is not None  # again: still revoked, no error


async def test_seeding_is_idempotent_and_respects_revocation(services: Services) -> None:
    keys = services.api_keys
    assert await keys.seed("acme", Role.ADMIN, "tour", SEEDED) is True
    assert await keys.seed("acme", Role.ADMIN, "tour", SEEDED) is False
    assert (await keys.check(SEEDED)) is not None
    await keys.revoke("key_00000000acde")
    assert await keys.seed("acme", Role.ADMIN, "tour", SEEDED) is False
    assert await keys.check(SEEDED) is None


def test_the_cli_creates_lists_and_revokes_and_stores_no_secret(tmp_path: Path) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "config_dir": str(ACME),
                "workspaces": [{"id": "acme", "name": "Acme"}, {"id": "globex", "name": "G"}],
            }
        )
    )
    runner = CliRunner()
    base = ["--config", str(config), "--workspace", "globex"]
    made = runner.invoke(app, ["keys", "create", "--role", "integration", "--name", "shop", *base])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    key_id, secret = split_token(token) or ("", "")
    assert key_id and "cannot be shown again" in made.output

    listed = runner.invoke(app, ["keys", "list", *base])
    assert listed.exit_code == 0 and key_id in listed.stdout and "integration" in listed.stdout
    assert secret not in listed.stdout
    bad_role = runner.invoke(app, ["keys", "create", "--role", "root", "--name", "x", *base])
    assert bad_role.exit_code == 2 and "root" in bad_role.output

    other = ["--config", str(config), "--workspace", "acme"]
    assert runner.invoke(app, ["keys", "revoke", key_id, *other]).exit_code == 1
    revoked = runner.invoke(app, ["keys", "revoke", key_id, *base])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output

    db = tmp_path / "var" / "omnivox.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT workspace_id, role, secret_hash, revoked_at FROM api_keys")
        workspace, role, digest, revoked_at = row.fetchone()
        actions = [a for (a,) in conn.execute("SELECT action FROM audit_log ORDER BY id")]
    assert (workspace, role) == ("globex", "integration") and revoked_at is not None
    assert digest != secret and len(digest) == 64
    assert secret.encode() not in db.read_bytes()
    assert actions == ["apikey.created", "apikey.revoked"]
