"""Knowledge gaps: unanswered questions grouped into topics with the bundled embedder, shown
redacted (never a customer's email, phone or name), gone once the customer is erased, and
shown as text only to those who may read conversations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from omnivox.analytics.cache import TTL_S, DriftCache
from omnivox.analytics.drift import drift
from omnivox.analytics.gaps import QUOTE_ANSWERS, QuestionReader, is_gap
from omnivox.bus import EventRecord
from omnivox.routes.analytics import workspace_drift
from omnivox.services import Services
from omnivox.storage.subjects import SubjectStore
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import LiveServer, make_settings, run_on_server


async def asked(services: Services, who: str, text: str) -> str:
    """Store ``text`` as a customer's message; its id."""
    customer, _ = await services.store.resolve_customer("acme", "api", who)
    said = InboundMessage("acme", "api", CustomerRef(who), text)
    return (await services.store.attach_inbound(said, customer)).message.id


def answered(message_id: str, intent: str | None, grounded: str, passages: int) -> dict[str, Any]:
    return {
        "channel": "api",
        "route": "answer",
        "message_id": message_id,
        "intent": intent,
        "confidence": 0.4,
        "grounded": grounded,
        "passages": passages,
    }


async def test_unanswered_questions_are_grouped_into_topics(services: Services) -> None:
    gaps = [
        ("Do you offer a student discount?", None, "none", 0),
        ("Do you sell bike helmets?", "sizing", "none", 2),
        ("Is there a discount for students?", None, "none", 0),
        ("Are your down jackets ethically sourced?", None, "none", 0),
        ("Have you got cycling helmets in stock?", "sizing", None, 0),  # guard off: no passage
        ("Student discount available?", None, "none", 0),
    ]
    payloads = [
        answered(await asked(services, f"c{n}", text), intent, grounded, passages)
        for n, (text, intent, grounded, passages) in enumerate(gaps)
    ]
    # answered from the knowledge base, or partly: not gaps
    payloads.append(answered(await asked(services, "r", "What is your return policy?"),
                             "returns", "full", 3))  # fmt: skip
    payloads.append(answered(await asked(services, "s", "How long is shipping?"),
                             "shipping", "partial", 3))  # fmt: skip
    await services.store.add_events(
        [EventRecord("turn.completed", "acme", payload=p) for p in payloads]
    )
    reader = QuestionReader(services.kb.embedder, services.verifier.key)
    d = await drift(services.db, "acme", 7, reader=reader)
    assert (d.gaps.questions, d.gaps.answers, d.gaps.no_passage, d.gaps.read) == (6, 8, 5, 6)
    topics = [(t.intent, t.questions, sorted(t.examples)) for t in d.gaps.topics]
    assert topics == [
        (None, 3, ["Do you offer a student discount?", "Is there a discount for students?",
                   "Student discount available?"]),
        ("sizing", 2, ["Do you sell bike helmets?", "Have you got cycling helmets in stock?"]),
        (None, 1, ["Are your down jackets ethically sourced?"]),
    ]  # fmt: skip
    shown = d.as_dict(examples=False)["gaps"]["topics"]
    assert [(t["questions"], t["examples"]) for t in shown] == [(3, []), (2, []), (1, [])]


def test_a_gap_is_what_the_knowledge_base_could_not_answer_not_a_model_that_failed() -> None:
    def quote(similarity: float) -> dict[str, Any]:
        return answered("m", None, "none", 4) | {
            "fallback": "quoted", "fallback_similarity": similarity
        }  # fmt: skip

    assert not is_gap(quote(QUOTE_ANSWERS + 0.1))  # "Do you ship to Canada?": a close quote
    assert is_gap(quote(QUOTE_ANSWERS - 0.1))  # the passages found say something else
    assert is_gap(answered("m", None, "none", 4) | {"fallback": "no_answer"})  # "Yes. No."
    assert is_gap(answered("m", None, "none", 0) | {"fallback": "no_answer"})
    assert not is_gap(answered("m", None, "full", 4) | {"fallback": None})
    assert not is_gap(answered("m", None, "partial", 4))
    # written before the fallback was recorded: every ``none`` counts, as it did then
    assert is_gap(answered("m", None, "none", 4))
    assert is_gap(answered("m", None, None, 0))  # no guard, no passage


async def test_the_drift_report_counts_only_the_gaps(services: Services) -> None:
    close = answered("a", None, "none", 4) | {"fallback": "quoted", "fallback_similarity": 0.8}
    far = answered("b", None, "none", 4) | {"fallback": "quoted", "fallback_similarity": 0.1}
    honest = answered("c", None, "none", 4) | {"fallback": "no_answer"}
    old = answered("d", None, "none", 4)
    await services.store.add_events(
        [EventRecord("turn.completed", "acme", payload=p) for p in (close, far, honest, old)]
    )
    d = await drift(services.db, "acme", 7)
    assert (d.gaps.questions, d.gaps.answers, d.gaps.no_passage) == (3, 4, 0)


async def gap(services: Services, who: str, text: str) -> None:
    """``text`` asked by ``who`` and left unanswered (no passage found)."""
    payload = answered(await asked(services, who, text), None, "none", 0)
    await services.store.add_events([EventRecord("turn.completed", "acme", payload=payload)])


async def test_a_reload_reuses_the_report_until_a_turn_an_erasure_or_a_minute(
    services: Services,
) -> None:
    """The dashboard's report (questions embedded and clustered: ~1-2 s) is computed once while
    nothing it reads changed; a new turn, an erasure anywhere (no forget() here: as by the CLI
    or another server) or its age makes it computed again."""
    now = [0.0]
    cache = services.drift_cache = DriftCache(clock=lambda: now[0])
    await gap(services, "c1", "Do you offer a student discount?")
    shown = await workspace_drift(services, "acme", 7)
    assert await workspace_drift(services, "acme", 7) is shown  # a reload: was computed again
    assert cache.computed == 1
    await workspace_drift(services, "acme", 30)  # another window: a report of its own
    assert cache.computed == 2
    await gap(services, "c2", "Do you sell bike helmets?")
    assert (await workspace_drift(services, "acme", 7)).gaps.read == 2
    assert cache.computed == 3
    customer, _ = await services.store.resolve_customer("acme", "api", "c1")
    await SubjectStore(services.db).erase("acme", customer, services.verifier.key)
    after = await workspace_drift(services, "acme", 7)
    assert cache.computed == 4
    assert after.gaps.read == 1 and "student" not in str(after.gaps.topics)
    now[0] += TTL_S  # its windows end when it was computed
    await workspace_drift(services, "acme", 7)
    assert cache.computed == 5


async def test_an_erasure_of_the_latest_asker_is_never_served_from_the_cache(
    services: Services,
) -> None:
    """The erased customer's turn was the latest event: SQLite gives the erasure's record the
    deleted row's id, so the report's stamp looked unchanged and it kept quoting them."""
    cache = services.drift_cache = DriftCache()
    await gap(services, "c1", "Do you offer a student discount?")
    customer, _ = await services.store.resolve_customer("acme", "api", "c2")
    said = InboundMessage("acme", "api", CustomerRef("c2"), "Do you sell bike helmets?")
    stored = await services.store.attach_inbound(said, customer)
    payload = answered(stored.message.id, None, "none", 0)
    conversation = stored.message.conversation_id
    await services.store.add_events(
        [EventRecord("turn.completed", "acme", conversation, payload=payload)]
    )
    assert (await workspace_drift(services, "acme", 7)).gaps.read == 2
    await SubjectStore(services.db).erase("acme", customer, services.verifier.key)
    after = await workspace_drift(services, "acme", 7)
    assert cache.computed == 2
    assert after.gaps.read == 1 and "helmets" not in str(after.gaps.topics)


EMAIL, PHONE, NAME = "maya.t@uni.example.edu", "(415) 555-0134", "Maya Thompson"
OWN_EMAIL = "maya.thompson@example.com"  # on her profile
QUESTION = (
    f"Hi, {NAME} here. Do you offer a student discount? Write to {EMAIL} or {OWN_EMAIL}, "
    f"or call {PHONE}."
)
AGENT = {"email": "sam@acme.example", "name": "Sam", "password": "sam-password-1"}


def test_the_gaps_never_show_personal_data_and_forget_an_erased_customer(
    tmp_path: Path, database: dict[str, Any]
) -> None:
    acme = {
        "id": "acme",
        "name": "Acme",
        "seed": {"customers": "customers.json", "agents": [AGENT]},
        "trust_api_customer_ids": True,
    }
    settings = make_settings(tmp_path, database=database, workspaces=[acme])
    with LiveServer(settings) as live:
        body = {"workspace": "acme", "customer": {"id": "cus_0001"}, "text": QUESTION}
        sent = httpx.post(f"{live.url}/api/v1/messages", json=body, headers=live.auth(), timeout=30)
        sent.raise_for_status()  # no knowledge base here: nothing can answer it
        run_on_server(live, live.services.events.flush())
        url = f"{live.url}/api/v1/analytics/drift"
        admin = httpx.get(url, headers=live.auth(), timeout=60)
        console = httpx.Client(base_url=live.url, timeout=60)
        console.post("/console/login", data={"workspace": "acme", **_login(AGENT)})
        page = console.get("/console/dashboard", params={"days": 7}).text
        marketer = httpx.get(url, headers=live.auth("marketer"), timeout=60).json()
        erased = httpx.delete(f"{live.url}/api/v1/customers/cus_0001", headers=live.auth())
        after = httpx.get(url, headers=live.auth(), timeout=60).json()
        page_after = console.get("/console/dashboard", params={"days": 7}).text
    topic = admin.json()["gaps"]["topics"][0]
    (example,) = topic["examples"]
    assert "student discount" in example and "student discount" in page
    for raw in (EMAIL, PHONE, NAME, OWN_EMAIL, "Maya", "555-0134", "uni.example"):
        assert raw not in admin.text and raw not in page, raw
    for kind in ("NAME", "EMAIL", "PHONE"):  # the placeholders the model saw
        assert f"<{kind}_" in example and f"&lt;{kind}_" in page
    # a key that may not read conversations sees the topic, not the question
    assert marketer["gaps"]["questions"] == 1 and marketer["gaps"]["topics"][0]["examples"] == []
    assert erased.json()["erased"] is True
    assert after["gaps"] == {"questions": 0, "answers": 0, "no_passage": 0, "read": 0, "topics": []}
    assert "student discount" not in page_after


def _login(agent: dict[str, str]) -> dict[str, str]:
    return {"email": agent["email"], "password": agent["password"]}
