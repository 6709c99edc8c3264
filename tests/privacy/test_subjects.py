"""Data-subject requests from the command line, in a separate process (its own key ring):
export everything, erase everything (safe to repeat), and only a hashed id stays behind."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from omnivox.governance.apikeys import split_token
from omnivox.services import Services
from omnivox.settings import Settings
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import ACME, LiveServer, make_settings, run_on_server


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnivox", "customers", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def seeded_settings(tmp_path: Path) -> Settings:
    """Acme with its seeded customers, trusting the REST customer ids (cus_0001 is Maya)."""
    workspace = {
        "id": "acme",
        "name": "Acme",
        "seed": {"customers": "customers.json"},
        "trust_api_customer_ids": True,
    }
    return make_settings(tmp_path, workspaces=[workspace])


def test_export_then_erase_everything_held_about_a_customer(tmp_path: Path) -> None:
    settings = seeded_settings(tmp_path)
    with LiveServer(settings) as live:
        for text in ("Where is my order ACM-482193?", "Please call me back"):
            body = {"workspace": "acme", "customer": {"id": "cus_0001"}, "text": text}
            reply = httpx.post(
                f"{live.url}/api/v1/messages", headers=live.auth(), json=body, timeout=30
            ).json()
        other = {"workspace": "acme", "customer": {"id": "cus_0002"}, "text": "hello"}
        httpx.post(
            f"{live.url}/api/v1/messages", headers=live.auth(), json=other, timeout=30
        ).raise_for_status()
        maya = httpx.get(
            f"{live.url}/api/v1/conversations/{reply['conversation_id']}", headers=live.auth()
        ).json()["customer_id"]
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": settings.data_dir,
                "config_dir": str(ACME),
                "workspaces": [{"id": "acme", "name": "Acme"}],
            }
        )
    )

    shown = cli(config, "show", maya)
    assert shown.returncode == 0 and "Maya Thompson" in shown.stdout  # decrypted in a new process
    exported = cli(config, "export", maya)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    texts = [m["text"] for c in data["conversations"] for m in c["messages"]]
    assert "Where is my order ACM-482193?" in texts and data["customer"]["name"] == "Maya Thompson"
    assert {i["address"] for i in data["identities"]} >= {
        "maya.thompson@example.com",
        "+15550100142",
    }

    erased = cli(config, "erase", maya, "--yes")
    assert erased.returncode == 0 and "Erased" in erased.stderr and "4 messages" in erased.stderr
    again = cli(config, "erase", maya, "--yes")
    assert again.returncode == 0 and "erased before" in again.stderr
    assert cli(config, "export", maya).returncode == 1
    typo = cli(config, "erase", "cus_mistyped", "--yes")  # not "already erased": never held
    assert typo.returncode == 1 and "No customer" in typo.stderr

    db = Path(settings.data_dir) / "omnivox.db"
    with sqlite3.connect(db) as conn:
        left = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        logged = conn.execute(
            "SELECT payload FROM events WHERE type = 'customer.erased'"
        ).fetchall()
    assert left == 2  # the other customer's turn is untouched
    assert len(logged) == 1 and maya not in logged[0][0] and '"subject"' in logged[0][0]

    audit = subprocess.run(
        [sys.executable, "-m", "omnivox", "audit", "verify", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # the conversation read over the API, the export, the erasure
    assert audit.returncode == 0 and "intact: 3 entries" in audit.stderr

    with LiveServer(settings):  # a restart reads seed.customers again: Maya stays erased
        pass
    with sqlite3.connect(db) as conn:
        seeded = {r[0] for r in conn.execute("SELECT external_id FROM customers")}
    assert "cus_0001" not in seeded and "cus_0002" in seeded
    with sqlite3.connect(db) as conn:
        actions = conn.execute("SELECT action, subject FROM audit_log ORDER BY id").fetchall()
        assert [a for a, _ in actions] == [
            "conversation.read",
            "customer.exported",
            "customer.erased",
        ]
        assert actions[2][1] != maya  # the erased subject appears only hashed
        conn.execute(
            "UPDATE audit_log SET subject = 'cus_other' WHERE action = 'customer.exported'"
        )
    tampered = subprocess.run(
        [sys.executable, "-m", "omnivox", "audit", "verify", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tampered.returncode == 1 and "broken at entry 2" in tampered.stderr


def test_an_admin_key_exports_and_erases_over_the_api(tmp_path: Path) -> None:
    with LiveServer(make_settings(tmp_path)) as live:
        body = {"workspace": "acme", "customer": {"id": "v-1"}, "text": "my parcel is late"}
        reply = httpx.post(
            f"{live.url}/api/v1/messages", headers=live.auth(), json=body, timeout=30
        ).json()
        conversation = httpx.get(
            f"{live.url}/api/v1/conversations/{reply['conversation_id']}", headers=live.auth()
        ).json()
        customer = f"{live.url}/api/v1/customers/{conversation['customer_id']}"
        exported = httpx.get(f"{customer}/export", headers=live.auth())
        assert exported.status_code == 200 and "my parcel is late" in exported.text
        erased = httpx.delete(customer, headers=live.auth()).json()
        assert erased["erased"] is True and erased["deleted"]["messages"] == 2
        assert httpx.delete(customer, headers=live.auth()).json() == {
            "erased": False,
            "deleted": {},
        }
        assert httpx.get(f"{customer}/export", headers=live.auth()).status_code == 404
        key_id = (split_token(live.key()) or ("", ""))[0]
    with sqlite3.connect(Path(live.services.settings.data_dir) / "omnivox.db") as conn:
        rows = conn.execute("SELECT actor, action FROM audit_log ORDER BY id").fetchall()
        left = conn.execute(  # the turn's event, still queued when the erasure came, went too
            "SELECT count(*) FROM events WHERE conversation_id = ?", (reply["conversation_id"],)
        ).fetchone()
    assert rows == [
        (f"key:{key_id}", "conversation.read"),
        (f"key:{key_id}", "customer.exported"),
        (f"key:{key_id}", "customer.erased"),
    ]
    assert left == (0,)


async def test_erase_and_export_reach_profiles_merged_two_deep(services: Services) -> None:
    """A merged into B, then B into C: C's export lists A's data, C's erasure removes A too."""
    from sqlalchemy import func, select

    from omnivox.storage.handoffs import HandoffStore
    from omnivox.storage.identities import IdentityStore
    from omnivox.storage.models import Customer, Event, Handoff
    from omnivox.storage.subjects import SubjectStore

    store, identities = services.store, IdentityStore(services.db)
    ids = {}
    for name in ("a", "b", "c"):
        ids[name], _ = await store.resolve_customer("acme", "api", f"chain-{name}", f"{name} Doe")
    message = InboundMessage("acme", "api", CustomerRef("chain-a"), "I am A")
    attached = await store.attach_inbound(message, ids["a"])
    conv = attached.message.conversation_id
    handoffs = HandoffStore(services.db)
    await handoffs.open("acme", conv, ids["a"], {"summary": "A asked"})
    agent_id = await handoffs.add_agent("acme", "sam@acme.example", "Sam", "agent", "x")
    await handoffs.add_note(conv, agent_id, "A prefers email")
    await identities.merge("acme", ids["a"], ids["b"], {"by": "test"})
    await identities.merge("acme", ids["b"], ids["c"], {"by": "test"})

    subjects = SubjectStore(services.db)
    exported = await subjects.export("acme", ids["c"])
    assert exported is not None
    merged = {p["id"]: p for p in exported["customer"]["merged_profiles"]}
    assert set(merged) == {ids["a"], ids["b"]} and merged[ids["a"]]["name"] == "a Doe"
    texts = [m["text"] for c in exported["conversations"] for m in c["messages"]]
    assert "I am A" in texts
    assert [n["text"] for n in exported["notes"]] == ["A prefers email"]
    assert exported["verifications"] == []

    counts = (await subjects.erase("acme", ids["c"], b"k" * 32)).counts
    assert counts["messages"] == 1
    async with services.db.sessions() as session:
        left = await session.execute(
            select(func.count()).select_from(Customer).where(Customer.id.in_(ids.values()))
        )
        handoffs = await session.execute(select(func.count()).select_from(Handoff))
        merges = await session.execute(
            select(func.count()).select_from(Event).where(Event.type == "customer.merged")
        )
    assert left.scalar_one() == 0 and handoffs.scalar_one() == 0
    # the merges' evidence (an agent's reason) named them: those events go too
    assert merges.scalar_one() == 0 and counts["profile_events"] == 2


def test_a_turn_whose_customer_is_erased_meanwhile_keeps_nothing(tmp_path: Path) -> None:
    slow = [{"type": "scripted", "reply": "ok {question}", "delay_s": 1.5}]
    with LiveServer(make_settings(tmp_path, providers=slow)) as live:
        body = {"workspace": "acme", "customer": {"id": "v-1"}, "text": "my parcel is late"}
        api = f"{live.url}/api/v1"
        first = httpx.post(f"{api}/messages", headers=live.auth(), json=body, timeout=30).json()
        conversation = httpx.get(
            f"{api}/conversations/{first['conversation_id']}", headers=live.auth()
        ).json()
        answered: dict[str, httpx.Response] = {}

        def second() -> None:
            answered["r"] = httpx.post(
                f"{api}/messages", headers=live.auth(), json=dict(body, text="hello?"), timeout=30
            )

        turn = threading.Thread(target=second)
        turn.start()
        time.sleep(0.6)  # the turn is generating its answer
        erased = httpx.delete(f"{api}/customers/{conversation['customer_id']}", headers=live.auth())
        turn.join()
        assert erased.json()["erased"] is True
        assert answered["r"].status_code == 410  # was a 500 (the reply's foreign key)
        assert answered["r"].json()["error"] == "customer_erased"
    with sqlite3.connect(Path(live.services.settings.data_dir) / "omnivox.db") as conn:
        left = conn.execute(
            "SELECT type FROM events WHERE conversation_id = ?", (first["conversation_id"],)
        ).fetchall()
        messages = conn.execute("SELECT count(*) FROM messages").fetchone()
    assert left == [] and messages == (0,)  # no turn.failed about the erased conversation


async def test_a_profile_unmerged_after_a_ticket_and_a_handoff_is_erased_whole(
    services: Services,
) -> None:
    """While S was merged into T, S's conversation got a ticket and a handoff naming T."""
    from omnivox.storage.handoffs import HandoffStore
    from omnivox.storage.identities import IdentityStore
    from omnivox.storage.signals import SignalStore
    from omnivox.storage.subjects import SubjectStore

    store, identities = services.store, IdentityStore(services.db)
    t, _ = await store.resolve_customer("acme", "api", "unmerge-t", "T")
    s, _ = await store.resolve_customer("acme", "api", "unmerge-s", "S")
    said = InboundMessage("acme", "api", CustomerRef("unmerge-s"), "the zipper broke")
    conv = (await store.attach_inbound(said, s)).message.conversation_id
    await identities.merge("acme", s, t, {"by": "test"})
    await SignalStore(services.db).open_ticket("acme", t, conv, "Zipper", "the zipper broke")
    await HandoffStore(services.db).open("acme", conv, t, {"summary": "the zipper broke"})
    await identities.unmerge("acme", s, {"by": "test"})

    subjects = SubjectStore(services.db)
    of_t, of_s = await subjects.export("acme", t), await subjects.export("acme", s)
    assert of_t is not None and of_s is not None
    assert of_t["tickets"] == [] and of_t["handoffs"] == []  # S's, not T's
    assert [k["body"] for k in of_s["tickets"]] == ["the zipper broke"]
    assert len(of_s["handoffs"]) == 1
    erased = await subjects.erase("acme", s, b"k" * 32)  # was a foreign-key failure
    assert erased.counts["tickets"] == 1 and erased.counts["handoffs"] == 1
    assert await subjects.export("acme", t) is not None


async def test_a_request_by_a_merged_away_or_external_id_covers_the_whole_profile(
    services: Services,
) -> None:
    from omnivox.storage.identities import IdentityStore
    from omnivox.storage.subjects import SubjectStore

    store, key = services.store, b"k" * 32
    a, _ = await store.resolve_customer("acme", "api", "merged-a", "A")
    await store.attach_inbound(InboundMessage("acme", "api", CustomerRef("merged-a"), "hi"), a)
    await store.upsert_customer("acme", "ext-77", "B", {"tier": "gold"}, [])
    b = (await SubjectStore(services.db).export("acme", "ext-77") or {})["customer"]["id"]
    await IdentityStore(services.db).merge("acme", a, b, {"by": "test"})
    subjects = SubjectStore(services.db)
    exported = await subjects.export("acme", a)  # A is merged into B: B's profile, A's data
    assert exported is not None and exported["customer"]["id"] == b
    assert [p["id"] for p in exported["customer"]["merged_profiles"]] == [a]
    erased = await subjects.erase("acme", a, key)
    assert set(erased.customer_ids) == {a, b} and erased.counts["messages"] == 1
    for name in (a, b, "ext-77"):  # each of its names is known as erased, not unknown
        again = await subjects.erase("acme", name, key)
        assert again.counts == {} and again.before
    unknown = await subjects.erase("acme", "cus_never", key)
    assert unknown.counts == {} and not unknown.before
    # the id a business gave a customer over the REST API finds them too
    rest, _ = await store.resolve_customer("acme", "api", "cust-a1", business_id=True)
    await store.attach_inbound(InboundMessage("acme", "api", CustomerRef("cust-a1"), "yo"), rest)
    by_rest_id = await subjects.export("acme", "cust-a1")
    assert by_rest_id is not None and by_rest_id["customer"]["id"] == rest


async def test_erasure_takes_the_verification_events_that_name_the_customer(
    services: Services,
) -> None:
    from sqlalchemy import select

    from omnivox.bus import EventRecord
    from omnivox.storage.models import Event
    from omnivox.storage.subjects import SubjectStore

    store = services.store
    c, _ = await store.resolve_customer("acme", "api", "verifying", "V")
    await store.add_events(
        [
            EventRecord("identity.code_sent", "acme", payload={"customer": c, "kind": "email"}),
            EventRecord("identity.verified", "acme", payload={"customer": "cus_other"}),
        ]
    )
    erased = await SubjectStore(services.db).erase("acme", c, b"k" * 32)
    assert erased.counts["profile_events"] == 1
    async with services.db.sessions() as session:
        left = [e.payload for e in (await session.execute(select(Event))).scalars()]
    assert {"customer": "cus_other"} in left
    assert not any(p.get("customer") == c for p in left)


async def test_the_audit_log_keeps_no_merge_reason_that_would_outlive_an_erasure(
    services: Services,
) -> None:
    from sqlalchemy import select

    from omnivox.storage.identities import IdentityStore
    from omnivox.storage.models import AuditEntry
    from omnivox.storage.subjects import SubjectStore

    store, identities = services.store, IdentityStore(services.db)
    a, _ = await store.resolve_customer("acme", "api", "reason-a", "A")
    b, _ = await store.resolve_customer("acme", "api", "reason-b", "B")
    why = {"method": "api", "by": "key:k1", "reason": "same person, phone +15550199999"}
    await identities.merge("acme", a, b, why)
    await identities.unmerge("acme", a, why)
    await SubjectStore(services.db).erase("acme", a, b"k" * 32)
    async with services.db.sessions() as session:
        entries = list((await session.execute(select(AuditEntry))).scalars())
    merges = [e for e in entries if e.action in ("customer.merged", "customer.unmerged")]
    assert len(merges) == 2 and all(json.loads(e.details)["by"] == "key:k1" for e in merges)
    assert "15550199999" not in " ".join(str(e.details) for e in entries)
    assert (await services.verifier.store.audit.verify()).ok


def _seeding(tmp_path: Path, secret: str = "") -> Any:
    workspaces = [{"id": "acme", "name": "Acme", "seed": {"customers": "customers.json"}}]
    server = {"secret_key": secret} if secret else {}
    return make_settings(tmp_path, workspaces=workspaces, server=server)


async def _started(settings: Any, work: Any = None) -> Any:
    """Start the services (seeding), run ``work`` on them, return whether Maya is seeded."""
    from omnivox.services import build_services

    services = build_services(settings)
    await services.start()
    try:
        if work is not None:
            await work(services)
        return await services.verifier.store.by_external_id("acme", "cus_0001") is not None
    finally:
        await services.close()


async def test_a_new_secret_key_brings_no_erased_seeded_customer_back(tmp_path: Path) -> None:
    from omnivox.storage.subjects import SubjectStore

    async def erase(services: Services) -> None:
        erased = await SubjectStore(services.db).erase_logged(
            "acme", "cus_0001", services.verifier.key, "cli"
        )
        assert erased.counts

    assert not await _started(_seeding(tmp_path), erase)

    # the erasure is keyed with the key ring, not with the signing key: setting one changes
    # nothing (it used to seed Maya again, and her id was no longer "erased before")
    async def again(services: Services) -> None:
        erasure = await SubjectStore(services.db).erase("acme", "cus_0001", services.verifier.key)
        assert erasure.before and not erasure.counts

    assert not await _started(_seeding(tmp_path, "now-set-in-production"), again)


async def test_an_erasure_keyed_with_the_signing_key_is_carried_over(tmp_path: Path) -> None:
    """Records made before 2026-12-05 (hashed with the signing key) still hold, and gain the
    ring-keyed hash at the next start, so a later key change keeps Maya erased."""
    from sqlalchemy import select

    from omnivox.storage.models import Event
    from omnivox.storage.subjects import SubjectStore, subject_hash

    async def erase_the_old_way(services: Services) -> None:
        erasure = await SubjectStore(services.db).erase("acme", "cus_0001", b"unused")
        names = ["cus_0001", *erasure.customer_ids]
        old = services.verifier.key  # <data_dir>/secret.key: no secret_key is configured
        async with services.db.sessions.begin() as session:
            record = await session.execute(select(Event).where(Event.type == "customer.erased"))
            event = record.scalar_one()
            event.payload = {
                **event.payload,
                "subject": subject_hash(old, "cus_0001"),
                "subjects": sorted(subject_hash(old, n) for n in names),
            }

    assert not await _started(_seeding(tmp_path), erase_the_old_way)
    # secret_key now set: the record is found under secret.key's key, and carried over
    assert not await _started(_seeding(tmp_path, "set-in-production"))
    (Path(_seeding(tmp_path).data_dir) / "secret.key").unlink()
    assert not await _started(_seeding(tmp_path, "changed-again"))  # the ring-keyed hash holds


def test_the_export_holds_the_events_the_erasure_deletes_and_the_log_no_asked_id(
    tmp_path: Path,
) -> None:
    settings = seeded_settings(tmp_path)
    with LiveServer(settings) as live:

        def api(method: str, path: str, **kw: Any) -> httpx.Response:
            return httpx.request(method, f"{live.url}{path}", headers=live.auth(), timeout=30, **kw)

        def say(who: str, text: str) -> str:
            body = {"workspace": "acme", "customer": {"id": who}, "text": text}
            conv = api("POST", "/api/v1/messages", json=body).json()["conversation_id"]
            return str(api("GET", f"/api/v1/conversations/{conv}").json()["customer_id"])

        maya = say("cus_0001", "Where is my order ACM-482193?")
        visitor = say("visitor-9", "hello, it is Maya's daughter")
        reason = "Veronica says she is Maya's daughter, same account"
        merge = {"workspace": "acme", "other": visitor, "reason": reason}
        assert api("POST", f"/api/v1/customers/{maya}/merge", json=merge).status_code == 200
        run_on_server(live, live.services.events.flush())
        exported = api("GET", "/api/v1/customers/cus_0001/export").json()
        erased = api("DELETE", "/api/v1/customers/cus_0001").json()
        audit = run_on_server(live, _audit(live.services))
    events = exported["events"]
    turns = [e for e in events if e["type"] == "turn.completed"]
    assert len(turns) == 2 and all(e["conversation_id"] for e in turns)
    assert all("intent" in e["payload"] and "sentiment" in e["payload"] for e in turns)
    assert any(
        e["type"] == "customer.merged" and e["payload"]["evidence"]["reason"] == reason
        for e in events
    )
    assert erased["deleted"]["events"] + erased["deleted"]["profile_events"] >= len(events)
    # the export's entry names the profile (cus_…, random) as every entry does, not the
    # business's customer id asked for; the erasure's entry only a keyed hash
    assert ("customer.exported", maya, "{}") in audit
    assert not any("cus_0001" in f"{subject} {details}" for _, subject, details in audit)


async def _audit(services: Services) -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from omnivox.storage.models import AuditEntry

    async with services.db.sessions() as session:
        rows = (await session.execute(select(AuditEntry))).scalars()
        return [(e.action, e.subject or "", str(e.details)) for e in rows]
