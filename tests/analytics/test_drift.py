"""Drift from known events: shares, z-tests, PSI, the intent mix, confidence, languages, gaps."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnivox.analytics.drift import OUT_OF_SCOPE, change, drift, psi
from omnivox.analytics.metrics import MAX_DAYS
from omnivox.analytics.stats import two_mean_p, two_proportion_p
from omnivox.bus import EventRecord
from omnivox.services import Services
from omnivox.types import utcnow
from tests.conftest import LiveServer, make_settings, run_on_server


def answer(**payload: Any) -> dict[str, Any]:
    return {"channel": "api", "route": "answer", "halted": None, "passages": 3, **payload}


async def seed(services: Services, at: datetime, payloads: list[dict[str, Any]]) -> None:
    await services.store.add_events(
        [EventRecord("turn.completed", "acme", payload=p, created_at=at) for p in payloads]
    )


def previous_week(i: int) -> dict[str, Any]:
    """200 turns: 10 handed off, 1 cache hit, 9 unsupported, 20 partial; 5% out of scope."""
    intent = "returns" if i < 100 else "shipping" if i < 190 else None
    p = answer(
        intent=intent,
        confidence=0.3 if intent is None else (0.8, 0.9)[i % 2],
        language="es" if i >= 190 else "en",
        grounded="none" if 11 <= i < 20 else "partial" if 20 <= i < 40 else "full",
    )
    if i < 10:
        p |= {"route": "handoff", "grounded": None, "passages": 0}
    if i == 10:
        p |= {"cache_hit": True, "halted": "cache_hit", "grounded": "full"}
    return p


def last_week(i: int) -> dict[str, Any]:
    """200 turns: 14 handed off, 3 cache hits, 30 unsupported (12 with no passage at all), 22
    partial; a new intent, gift_cards; 20% out of scope; 15% Spanish; lower confidence."""
    intent = "returns" if i < 100 else "shipping" if i < 150 else "gift_cards" if i < 160 else None
    p = answer(
        intent=intent,
        confidence=0.3 if intent is None else (0.7, 0.8)[i % 2],
        language="es" if i < 30 else "en",
        grounded="none" if 17 <= i < 47 else "partial" if 47 <= i < 69 else "full",
        passages=0 if 17 <= i < 29 else 3,
    )
    if i < 14:
        p |= {"route": "handoff", "grounded": None, "passages": 0}
    if 14 <= i < 17:
        p |= {"cache_hit": True, "halted": "cache_hit", "grounded": "full"}
    return p


def test_the_tests_match_hand_computed_values() -> None:
    # 10/200 against 40/200: pooled 0.125, se = sqrt(0.125 * 0.875 * 2 / 200) = 0.033072,
    # z = 0.15 / 0.033072 = 4.5356, p = erfc(z / sqrt 2) = 5.74e-6
    assert two_proportion_p(10, 200, 40, 200) == pytest.approx(5.745e-6, rel=1e-3)
    # means 0.80 (variance 0.04) and 0.75 (0.05), 100 each: se = sqrt(0.0004 + 0.0005) = 0.03,
    # z = 1.6667, p = 0.09558
    assert two_mean_p(0.80, 0.04, 100, 0.75, 0.05, 100) == pytest.approx(0.09558, abs=1e-5)
    assert two_mean_p(0.5, 0.0, 40, 0.5, 0.0, 40) == 1.0
    assert two_mean_p(0.5, 0.0, 40, 0.6, 0.0, 40) == 0.0
    # shares 0.5/0.45/0.05/0 against 0.5/0.25/0.2/0.05 (a share of 0 counts as 0.0001):
    # 0 + (-0.2)(ln 0.25/0.45) + (0.15)(ln 4) + (0.0499)(ln 500) = 0.1176 + 0.2079 + 0.3101
    before = {"returns": 100, "shipping": 90, OUT_OF_SCOPE: 10}
    after = {"returns": 100, "shipping": 50, OUT_OF_SCOPE: 40, "gift_cards": 10}
    assert psi(_c(before), _c(after)) == pytest.approx(0.6356, abs=1e-4)
    assert psi(_c(before), _c(before)) == 0.0
    assert psi(_c({}), _c(after)) is None


def _c(counts: dict[str, int]) -> Counter[str]:
    return Counter(counts)


def test_a_verdict_claims_a_change_only_when_it_is_significant() -> None:
    rose = change("oos", "Out-of-scope questions", (10, 200), (40, 200))
    assert (rose.status, rose.p_value, rose.significant) == ("rose", 5.745e-06, True)
    assert rose.verdict == "Out-of-scope questions rose from 5.0% to 20.0% (p<0.001)"
    fell = change("h", "Handoffs", (40, 200), (10, 200))
    assert fell.verdict == "Handoffs fell from 20.0% to 5.0% (p<0.001)"
    # 10/200 against 14/200: pooled 0.06, se 0.023749, z 0.8422, p 0.3997
    same = change("h", "Handoffs to a person", (10, 200), (14, 200))
    assert (same.status, same.p_value, same.significant) == ("no significant change", 0.3997, False)
    assert same.verdict == "Handoffs to a person: no significant change (5.0% → 7.0%, p=0.40)"
    # 1/190 against 3/186: expects 190 * 4/376 = 2.0 hits (< 5): the test does not hold
    few = change("c", "Answers from the cache", (1, 190), (3, 186))
    assert few.verdict == "Answers from the cache: too few to tell yet (0.5% → 1.6%, p=0.30)"
    assert not few.significant
    # significant on its own (p 0.00086), not once 2 are compared (Bonferroni: 0.0017 still is;
    # 60 compared: 0.051 is not)
    assert change("l", "Messages in Spanish", (10, 200), (30, 200), 2).significant
    assert not change("l", "Messages in Spanish", (10, 200), (30, 200), 60).significant
    nothing = change("o", "Out-of-scope questions", (0, 0), (3, 10))
    assert (nothing.status, nothing.p_value) == ("nothing to compare", None)
    assert nothing.verdict == "Out-of-scope questions: nothing to compare yet (– → 30.0%)"


async def test_two_known_weeks_compared(services: Services) -> None:
    now = utcnow()
    await seed(services, now - timedelta(days=8), [previous_week(i) for i in range(200)])
    await seed(services, now - timedelta(days=1), [last_week(i) for i in range(200)])
    # outside both windows, another workspace, a failure, a silent turn: none of them count
    await seed(services, now - timedelta(days=15), [answer(intent=None, confidence=0.1)] * 50)
    await services.store.add_events(
        [
            EventRecord("turn.completed", "globex", payload=answer(), created_at=now),
            EventRecord("turn.failed", "acme", payload={"step": "generate"}, created_at=now),
            EventRecord("turn.completed", "acme", payload={"halted": "held_for_agent"}),
        ]
    )
    d = await drift(services.db, "acme", 7, now=now)
    assert (d.days, d.turns_before, d.turns) == (7, 200, 200)
    shares = {c.name: c for c in d.changes}
    assert [c.name for c in d.changes] == [
        "out_of_scope", "gaps", "grounded_none", "grounded_partial", "handoffs", "cache_hits",
    ]  # fmt: skip
    oos = shares["out_of_scope"]
    assert (oos.before, oos.before_of, oos.after, oos.after_of) == (10, 200, 40, 200)
    assert oos.verdict == "Out-of-scope questions rose from 5.0% to 20.0% (p<0.001)"
    # gaps: 9 of the 189 fresh answers, then 30 of 183 (12 of them found no passage): pooled
    # 39/372, se 0.031771, z 3.6611, p 0.000251
    gaps = shares["gaps"]
    assert (gaps.before, gaps.before_of, gaps.after, gaps.after_of) == (9, 189, 30, 183)
    assert gaps.p_value == pytest.approx(0.0002511, abs=1e-7) and gaps.significant
    assert gaps.verdict.startswith("Questions the knowledge base could not answer rose from 4.8%")
    assert (d.gaps.questions, d.gaps.answers, d.gaps.no_passage) == (30, 183, 12)
    assert shares["grounded_none"].after_of == 183 and shares["grounded_none"].significant
    # partly supported: 20/189 against 22/183, p 0.6609
    partial = shares["grounded_partial"]
    assert partial.p_value == pytest.approx(0.6609, abs=1e-4) and not partial.significant
    assert shares["handoffs"].verdict == (
        "Handoffs to a person: no significant change (5.0% → 7.0%, p=0.40)"
    )
    assert shares["cache_hits"].status == "too few to tell"
    # the intent mix: PSI 0.6356 (see above); shipping 90 -> 50 of 200 (p 2.75e-5 x 4
    # categories), gift_cards 0 -> 10 (p 0.001362 x 4 = 0.005448), returns unchanged
    assert d.psi == pytest.approx(0.6356, abs=1e-4)
    assert d.mix_verdict == "The intent mix shifted markedly (PSI 0.64)"
    assert [c.name for c in d.intents] == ["shipping", OUT_OF_SCOPE, "gift_cards", "returns"]
    gift = d.intents[2]
    assert gift.p_value == pytest.approx(4 * 0.0013621, rel=1e-3)
    assert gift.verdict == "Questions about gift_cards rose from 0.0% to 5.0% (p=0.005)"
    assert d.intents[3].verdict == (
        "Questions about returns: no significant change (50.0% → 50.0%, p=1.00)"
    )
    # confidence: 95 x 0.8 and 95 x 0.9 against 80 x 0.7 and 80 x 0.8
    c = d.confidence
    assert (c.before, c.before_n, c.after, c.after_n) == (0.85, 190, 0.75, 160)
    se = math.sqrt((190 * 0.0025 / 189) / 190 + (160 * 0.0025 / 159) / 160)
    # z = 0.1 / se = 18.585, p = 4.225e-77
    assert c.p_value == pytest.approx(math.erfc(0.1 / se / math.sqrt(2)), rel=1e-3)
    assert c.p_value == pytest.approx(4.225e-77, rel=1e-3)
    assert c.verdict == "Mean intent confidence fell from 0.85 to 0.75 (p<0.001)"
    # Spanish 10 -> 30 of 200: p 0.000858 x 2 languages
    spanish = d.languages[0]
    assert (spanish.name, spanish.p_value) == ("es", pytest.approx(2 * 0.00085812, rel=1e-3))
    assert spanish.verdict == "Messages in Spanish rose from 5.0% to 15.0% (p=0.002)"
    assert d.headlines == [  # smallest p first (4e-77 for the confidence)
        "Mean intent confidence fell from 0.85 to 0.75 (p<0.001)",
        "Out-of-scope questions rose from 5.0% to 20.0% (p<0.001)",
        "Questions about shipping fell from 45.0% to 25.0% (p<0.001)",
        "Questions the knowledge base could not answer rose from 4.8% to 16.4% (p<0.001)",
        "Answers the sources did not support rose from 4.8% to 16.4% (p<0.001)",
        "Messages in Spanish rose from 5.0% to 15.0% (p=0.002)",
        "Messages in English fell from 95.0% to 85.0% (p=0.002)",
        "Questions about gift_cards rose from 0.0% to 5.0% (p=0.005)",
    ]
    assert d.gaps.topics == [] and d.gaps.read == 0  # no reader: counted, not read


async def test_a_small_shift_is_not_called_a_change(services: Services) -> None:
    now = utcnow()
    before = [
        answer(intent="returns" if i < 100 else "shipping", confidence=0.8) for i in range(200)
    ]
    after = [
        answer(intent="returns" if i < 110 else "shipping", confidence=0.8) for i in range(200)
    ]
    await seed(services, now - timedelta(hours=36), before)
    await seed(services, now - timedelta(hours=1), after)
    d = await drift(services.db, "acme", 1, now=now)
    # 0.05 ln(1.1) + 0.05 ln(1 / 0.9) = 0.0100; returns 100 -> 110 of 200: p 0.3167 x 2
    assert d.psi == pytest.approx(0.0100, abs=1e-4)
    assert d.mix_verdict == "Intent mix: no significant shift (PSI 0.01)"
    assert d.intents[0].p_value == pytest.approx(0.6334, abs=1e-3)
    assert d.confidence.status == "no significant change"  # every confidence 0.8 both weeks
    assert d.headlines == []


async def test_a_handful_of_turns_is_too_few_to_tell(services: Services) -> None:
    now = utcnow()
    await seed(services, now - timedelta(days=10), [answer(intent="returns", confidence=0.9)] * 3)
    await seed(services, now - timedelta(hours=1), [answer(intent=None, confidence=0.2)] * 4)
    d = await drift(services.db, "acme", 7, now=now)
    # 0/3 against 4/4: pooled 4/7, se = sqrt(4/7 * 3/7 * (1/3 + 1/4)) = 0.37796, z 2.6458,
    # p 0.00815; but 3 turns expect 3 * 3/7 = 1.3 in scope (< 5)
    assert d.changes[0].verdict == (
        "Out-of-scope questions: too few to tell yet (0.0% → 100.0%, p=0.008)"
    )
    # returns 1 -> 0 (0.0001), out of scope 0.0001 -> 1: 2 x 0.9999 x ln(10000) = 18.419
    assert d.psi == pytest.approx(18.419, abs=1e-3)
    assert d.mix_verdict == "Intent mix: too few questions to tell yet (PSI 18.42)"
    assert d.confidence.status == "nothing to compare"  # no intent fitted last week
    assert d.headlines == []


async def test_empty_windows_compare_nothing(services: Services) -> None:
    d = await drift(services.db, "globex", 7)
    assert (d.turns_before, d.turns, d.psi, d.intents, d.languages) == (0, 0, None, [], [])
    assert all(c.status == "nothing to compare" and c.p_value is None for c in d.changes)
    assert d.changes[0].verdict == "Out-of-scope questions: nothing to compare yet (– → –)"
    assert d.mix_verdict == "Intent mix: nothing to compare yet"
    assert d.confidence.verdict == "Mean intent confidence: nothing to compare yet (– → –)"
    assert (d.gaps.questions, d.gaps.answers, d.gaps.topics, d.headlines) == (0, 0, [], [])
    assert d.as_dict()["headlines"] == []


async def test_the_window_is_bounded_as_the_figures_are(services: Services) -> None:
    assert (await drift(services.db, "acme", 0)).days == 1
    assert (await drift(services.db, "acme", 10_000)).days == MAX_DAYS


AGENT = {"email": "sam@acme.example", "name": "Sam", "password": "sam-password-1"}


def test_the_api_and_the_dashboard_show_what_changed(tmp_path: Path) -> None:
    acme = {"id": "acme", "name": "Acme", "seed": {"agents": [AGENT]}}
    settings = make_settings(tmp_path, workspaces=[acme, {"id": "globex", "name": "Globex"}])
    with LiveServer(settings) as live:
        now = utcnow()
        previous = [previous_week(i) for i in range(200)]
        run_on_server(live, seed(live.services, now - timedelta(days=8), previous))
        run_on_server(
            live, seed(live.services, now - timedelta(days=1), [last_week(i) for i in range(200)])
        )
        url = f"{live.url}/api/v1/analytics/drift"
        found = httpx.get(url, params={"days": 7}, headers=live.auth("analyst")).json()
        refused = [httpx.get(url, params={"days": d}, headers=live.auth()) for d in (0, 91, "x")]
        console = httpx.Client(base_url=live.url, timeout=30)
        form = {"workspace": "acme", "email": AGENT["email"], "password": AGENT["password"]}
        console.post("/console/login", data=form)
        page = console.get("/console/dashboard", params={"days": 7}).text
        fallback = console.get("/console/dashboard", params={"days": "abc"}).text
    assert [r.status_code for r in refused] == [422, 422, 422]  # as GET /api/v1/analytics
    assert (found["days"], found["turns_before"], found["turns"]) == (7, 200, 200)
    assert found["changes"][0]["p_value"] == 5.745e-06 and found["psi"] == 0.6356
    assert "Out-of-scope questions rose from 5.0% to 20.0% (p<0.001)" in found["headlines"]
    assert 'data-testid="drift"' in page and "the last 7 days against the 7 before" in page
    assert "<li>Out-of-scope questions rose from 5.0% to 20.0% (p&lt;0.001).</li>" in page
    assert (
        '<tr data-change="handoffs"><th>Handoffs to a person</th><td>5.0% <small>(10 of 200)'
        "</small></td><td>7.0% <small>(14 of 200)</small></td><td>0.4</td>"
        "<td>no significant change</td></tr>"
    ) in page
    assert '<p data-testid="mix">The intent mix shifted markedly (PSI 0.64).</p>' in page
    assert '<tr data-intent="gift_cards"><th>gift_cards</th><td>0.0% <small>(0 of 200)' in page
    assert "30 of 183 answers in the last 7 days went to questions the knowledge base" in page
    assert "(12 found no passage at all)" in page
    assert "the last 7 days against the 7 before" in fallback  # a bad window: the week


def test_p_values_near_alpha_are_not_rounded_onto_it() -> None:
    from omnivox.analytics.stats import said

    assert [said(p) for p in (0.0004, 0.0468, 0.0523, 0.0996, 0.4)] == [
        "p<0.001", "p=0.047", "p=0.052", "p=0.100", "p=0.40",
    ]  # fmt: skip
