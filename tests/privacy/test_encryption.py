"""Encryption at rest: a canary sent in a message never appears in plaintext in the SQLite file,
a PostgreSQL dump, or the logs; the key ring; legacy plaintext still reads; rotation."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from omnivox.privacy.crypto import PREFIX, RING, KeyRing, UnknownKeyError, load_ring
from omnivox.privacy.rotation import index_identities, new_primary, resume
from omnivox.services import Services
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import LiveServer, make_settings, run_on_server

CANARY = "canary-7f3e9b2c-do-not-store"


def test_a_canary_never_reaches_disk_dumps_or_logs(
    tmp_path: Path, database: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    workspace = {"id": "acme", "name": "Acme", "seed": {"customers": "customers.json"}}
    settings = make_settings(tmp_path, database=database, workspaces=[workspace])
    with LiveServer(settings) as live:
        body = {
            "workspace": "acme",
            "customer": {"id": f"visitor-{CANARY}", "name": "Zed"},  # an identity address
            "text": f"My code word is {CANARY}.",
        }
        reply = httpx.post(
            f"{live.url}/api/v1/messages", headers=live.auth(), json=body, timeout=30
        ).json()
        assert CANARY in reply["reply"]["text"]  # the scripted model echoes it back to the customer
        view = httpx.get(
            f"{live.url}/api/v1/conversations/{reply['conversation_id']}", headers=live.auth()
        ).json()
        assert CANARY in view["messages"][0]["text"]  # and it reads back decrypted

        async def raw_texts() -> list[str]:
            async with live.services.db.engine.connect() as conn:
                rows = await conn.execute(text("SELECT text FROM messages"))
                return [r[0] for r in rows]

        stored = run_on_server(live, raw_texts())
        again = {**body, "text": "and again"}  # the encrypted address is found again
        second = httpx.post(
            f"{live.url}/api/v1/messages", headers=live.auth(), json=again, timeout=30
        ).json()
        assert second["conversation_id"] == reply["conversation_id"]
    assert stored and all(s.startswith(PREFIX) for s in stored)
    if "schema" in database:
        dump = subprocess.run(
            [
                "pg_dump",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-n",
                database["schema"],
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "CREATE TABLE" in dump and CANARY not in dump
    else:
        files = [f for f in tmp_path.rglob("*.db*") if f.is_file()]  # the database, its WAL
        assert files and all(CANARY.encode() not in f.read_bytes() for f in files)
    out, err = capfd.readouterr()
    assert CANARY not in out and CANARY not in err


def test_the_key_ring_file_and_legacy_plaintext(tmp_path: Path) -> None:
    ring = load_ring(str(tmp_path))
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
    assert load_ring(str(tmp_path)).keys == ring.keys  # created once, reused
    sealed = ring.encrypt("hello")
    assert sealed.startswith(PREFIX + str(ring.primary)) and ring.decrypt(sealed) == "hello"
    assert ring.encrypt("hello") != sealed  # a fresh nonce every time
    assert ring.decrypt("written before encryption") == "written before encryption"
    with pytest.raises(UnknownKeyError, match="no key"):
        KeyRing({"other": b"x" * 32}, "other").decrypt(sealed)
    env = {"OMNIVOX_KEYRING": '{"primary": "a", "keys": {"a": "' + "A" * 43 + '="}}'}
    assert load_ring(str(tmp_path), env).primary == "a"


async def test_rotation_re_encrypts_everything_and_can_resume(
    tmp_path: Path, services: Services
) -> None:
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "c1", "Zed")
    for i in range(5):
        msg = (
            await store.attach_inbound(
                InboundMessage("acme", "api", CustomerRef("c1"), f"note {i} {CANARY}"), customer
            )
        ).message
    old = RING.primary
    new = new_primary(RING, tmp_path / "keys.json")
    assert new != old and old in RING.keys  # the old key still reads
    changed = await resume(services.db, batch=2)
    assert changed >= 5 + 5 + 1  # texts, metadata, the customer's name and attributes
    assert await resume(services.db, batch=2) == 0  # nothing left: resuming is harmless

    async with services.db.engine.connect() as conn:
        raw = [r[0] for r in await conn.execute(text("SELECT text FROM messages"))]
    assert all(r.startswith(f"{PREFIX}{new}:") for r in raw)
    view = await store.conversation(msg.conversation_id)
    assert view is not None and [m.text for m in view.messages][-1] == f"note 4 {CANARY}"
    async with services.db.engine.connect() as conn:
        address, index = (
            await conn.execute(text("SELECT address, address_hash FROM identities"))
        ).one()
    assert address.startswith(f"{PREFIX}{new}:") and index == RING.index("api:c1")
    assert (await store.resolve_customer("acme", "api", "c1", "Zed"))[0] == customer


async def test_identities_stored_before_blind_indexes_are_indexed_at_start(
    services: Services,
) -> None:
    store = services.store
    customer, _ = await store.resolve_customer("acme", "api", "placeholder")
    async with services.db.engine.begin() as conn:  # a row as migration 0009 leaves it
        await conn.execute(
            text("UPDATE identities SET address = 'legacy-visitor', address_hash = NULL")
        )
    assert (await store.resolve_customer("acme", "api", "legacy-visitor"))[1] is True  # unseen
    async with services.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM identities WHERE address_hash IS NOT NULL"))
        await conn.execute(text("DELETE FROM customers WHERE id != :c"), {"c": customer})
    assert await index_identities(services.db) == 1
    assert await index_identities(services.db) == 0
    async with services.db.engine.connect() as conn:
        address = (await conn.execute(text("SELECT address FROM identities"))).scalar_one()
    assert address.startswith(PREFIX)
    assert await store.resolve_customer("acme", "api", "legacy-visitor") == (customer, False)


def test_rotation_refuses_while_a_server_runs_on_the_data_dir(tmp_path: Path) -> None:
    import sys

    import yaml

    settings = make_settings(tmp_path)
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": settings.data_dir,
                "llm": {"providers": [{"type": "extractive"}]},
                "workspaces": [{"id": "acme", "name": "Acme"}],
            }
        )
    )
    rotate = [sys.executable, "-m", "omnivox", "keys", "rotate", "--config", str(config)]
    with LiveServer(settings):
        busy = subprocess.run(rotate, capture_output=True, text=True, timeout=120)
        # a server keeps its ring in memory: rotating beside it left rows under the old key,
        # duplicate customers, and a ring that could not finish
        assert busy.returncode == 2 and "A server is running" in busy.stderr
        ring = load_ring(settings.data_dir)
        assert len(ring.keys) == 1  # no new key was made
    done = subprocess.run(rotate, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(load_ring(settings.data_dir).keys) == 2


def test_every_encrypted_column_is_rotated() -> None:
    from omnivox.privacy.rotation import ENCRYPTED

    names = {(model.__tablename__, attribute) for model, attribute in ENCRYPTED}
    assert ("kb_chunks", "meta") in names  # missed by the hand-kept list
    assert list(ENCRYPTED)[-1][1] == "address"  # identities last: their blind index follows


async def test_a_claimed_address_is_stored_encrypted(services: Services) -> None:
    from datetime import timedelta

    from omnivox.storage.models import Verification
    from omnivox.types import utcnow

    customer, _ = await services.store.resolve_customer("acme", "api", "c-claim")
    async with services.db.sessions.begin() as session:
        session.add(
            Verification(
                id="ver_1",
                workspace_id="acme",
                customer_id=customer,
                kind="phone",
                address="+13035550177",
                code_hash="x" * 64,
                expires_at=utcnow() + timedelta(minutes=10),
            )
        )
    async with services.db.engine.connect() as conn:
        raw = (await conn.execute(text("SELECT address FROM verifications"))).scalar_one()
    assert raw.startswith(PREFIX) and "3035550177" not in raw  # was plaintext
    async with services.db.sessions() as session:
        assert (await session.get(Verification, "ver_1")).address == "+13035550177"  # type: ignore[union-attr]


@pytest.mark.parametrize("resume_only", [False, True])
def test_rotation_refuses_when_encryption_is_off(tmp_path: Path, resume_only: bool) -> None:
    import yaml
    from typer.testing import CliRunner

    from omnivox.cli import app

    config = tmp_path / "omnivox.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "privacy": {"encrypt": False},
                "llm": {"providers": [{"type": "extractive"}]},
                "workspaces": [{"id": "acme", "name": "Acme"}],
            }
        )
    )
    command = ["keys", "rotate", "--config", str(config)] + (["--resume"] if resume_only else [])
    result = CliRunner().invoke(app, command)
    # it used to encrypt everything, and a server with encrypt: false then could read nothing
    assert result.exit_code == 2
    assert "privacy.encrypt is false" in " ".join(result.output.split())
    assert not (tmp_path / "var" / "keys.json").exists()  # no key made, nothing touched
