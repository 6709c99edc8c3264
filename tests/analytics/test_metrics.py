"""The figures from known data: containment, CSAT, waits, turn times, cost, breakdowns, days."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from omnivox import events
from omnivox.analytics.metrics import figures, percentile
from omnivox.bus import EventRecord
from omnivox.campaigns import Brief, CopyWriter
from omnivox.llm.chain import ProviderChain
from omnivox.llm.openai_compat import OpenAICompatProvider
from omnivox.pipeline.steps.attach import Attach
from omnivox.pipeline.steps.route import RouteStep
from omnivox.services import Services, summarizer
from omnivox.storage.handoffs import HandoffStore
from omnivox.storage.memory import Pending
from omnivox.storage.models import Conversation, Handoff, Rating
from omnivox.types import CustomerRef, HistoryItem, InboundMessage, utcnow
from tests.llm.test_openai_compat import chunk, settings, sse


def turn(channel: str, **payload: Any) -> dict[str, Any]:
    return {"channel": channel, "halted": None, **payload}


async def conversation(services: Services, who: str, channel: str = "api") -> tuple[str, str]:
    customer, _ = await services.store.resolve_customer("acme", channel, who)
    said = InboundMessage("acme", channel, CustomerRef(who), "hello")
    return (await services.store.attach_inbound(said, customer)).message.conversation_id, customer


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(n) for n in range(1, 21)], 50) == 10.0
    assert percentile([float(n) for n in range(1, 21)], 95) == 19.0


async def test_figures_of_a_known_week(services: Services) -> None:
    convs = [await conversation(services, f"c{n}") for n in range(4)]
    handed, customer = convs[0]
    view, _ = await HandoffStore(services.db).open("acme", handed, customer, {"summary": "x"})
    now = utcnow()
    async with services.db.sessions.begin() as session:
        await session.execute(
            update(Handoff).values(created_at=now - timedelta(seconds=90), claimed_at=now)
        )
        for score in (5, 4, 2):
            session.add(
                Rating(workspace_id="acme", conversation_id=handed, channel="api", score=score)
            )
        # a conversation from before the window is not counted
        await session.execute(
            update(Conversation)
            .where(Conversation.id == convs[3][0])
            .values(created_at=now - timedelta(days=10))
        )
    timings = [{"identify": 1.0, "generate": 10.0 * n, "deliver": 1.0} for n in range(1, 5)]
    payloads = [
        turn("api", route="answer", intent="returns", grounded="full", cache_hit=True,
             halted="cache_hit", prompt_tokens=100, completion_tokens=20, cost_usd=0.001,
             first_token_ms=50),
        turn("api", route="answer", intent="returns", grounded="partial", cache_hit=False,
             prompt_tokens=200, completion_tokens=30, cost_usd=0.002, first_token_ms=150),
        turn("sms", route="handoff", intent="talk_to_person"),
        turn("sms", route="answer", intent="shipping", grounded="none"),
    ]  # fmt: skip
    held = turn("sms", halted="held_for_agent")
    where = [convs[1][0], convs[2][0], handed, convs[3][0]]  # the handoff turn: on its own
    await services.store.add_events(
        [
            *(EventRecord("turn.completed", "acme", c, payload=p, timings=t)
              for p, t, c in zip(payloads, timings, where, strict=True)),
            EventRecord("turn.failed", "acme", payload={"step": "generate"}),
            # silent while a person held it: not a turn the assistant took
            EventRecord("turn.completed", "acme", handed, payload=held, timings={"hold": 1.0}),
            EventRecord("turn.completed", "globex", payload=turn("api"), timings={"x": 1.0}),
        ]
    )  # fmt: skip
    f = await figures(services.db, "acme", days=7)
    # c3 began before the window but was answered in it; c0 went to a person
    assert (f.conversations, f.assisted, f.containment) == (3, 4, 0.75)
    assert (f.handoffs, f.handoff_wait_p50_s) == (1, 90.0)
    assert (f.ratings, f.csat, f.csat_satisfied) == (3, 3.67, 0.667)
    assert (f.turns, f.failed_turns) == (4, 1)
    assert (f.turn_ms_p50, f.turn_ms_p95) == (22.0, 42.0)
    assert (f.first_token_ms_p50, f.first_token_ms_p95) == (50.0, 150.0)
    assert (f.prompt_tokens, f.completion_tokens, f.cost_usd) == (300, 50, 0.003)
    assert f.cache_hit_rate == 0.333  # one of the three answers came from the cache
    assert f.grounded == {"full": 1, "partial": 1, "none": 1}
    assert f.routes == {"answer": 3, "handoff": 1} and f.channels == {"api": 2, "sms": 2}
    assert f.intents[0] == ("returns", 2)
    assert len(f.daily) == 8 and f.daily[-1]["turns"] == 4 and f.daily[-1]["handoffs"] == 1
    assert sum(d["turns"] for d in f.daily) == 4
    assert view.id


async def test_an_empty_workspace_has_no_figures_rather_than_zeros(services: Services) -> None:
    f = await figures(services.db, "globex", days=1)
    assert (f.conversations, f.turns, f.handoffs) == (0, 0, 0)
    assert f.containment is None and f.csat is None and f.turn_ms_p50 is None
    assert [d["turns"] for d in f.daily] == [0, 0]


async def test_handoffs_nobody_claimed_count_in_the_wait(services: Services) -> None:
    """Claimed after 60 s, closed unclaimed after 300 s, two still waiting (600 s, 1200 s)."""
    store, now = HandoffStore(services.db), utcnow()
    waits = [(60, "claimed"), (300, "closed"), (600, None), (1200, None)]
    for n, (seconds, end) in enumerate(waits):
        conversation_id, customer = await conversation(services, f"w{n}")
        view, _ = await store.open("acme", conversation_id, customer, {"summary": "x"})
        opened = now - timedelta(seconds=seconds)
        values: dict[str, Any] = {"created_at": opened}
        if end == "claimed":
            values["claimed_at"] = now
        elif end == "closed":
            values.update(closed_at=now, status="resolved")
        async with services.db.sessions.begin() as session:
            await session.execute(update(Handoff).where(Handoff.id == view.id).values(**values))
    f = await figures(services.db, "acme", days=1, now=now)
    assert f.handoffs == 4
    assert f.handoff_wait_p50_s == 300.0  # claimed ones only said 60 s
    assert (f.handoffs_waiting, f.handoff_longest_wait_s) == (2, 1200.0)


def test_waits_read_as_people_say_them() -> None:
    from omnivox.routes.console import duration

    assert [duration(s) for s in (None, 45, 89.4, 720, 5400, 12_600, 200_000)] == [
        "–", "45 s", "89 s", "12 min", "1.5 h", "3.5 h", "2.3 days",
    ]  # fmt: skip


async def test_a_provider_that_failed_mid_answer_counts_in_the_cost(services: Services) -> None:
    """It had read the prompt and written part of the answer: billed, but counted nothing."""
    broken = sse(chunk("Your order"), chunk(" ships on"), done=False)
    priced = OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=0, price_per_1k_input=1, price_per_1k_output=2),
        transport=httpx.MockTransport(lambda r: broken),
    )
    services.chain.providers[:] = [priced, *services.chain.providers]
    said = InboundMessage("acme", "api", CustomerRef("c"), "Do you ship to Canada?")
    answered = await services.turns.handle(said, services.api)
    services.chain.providers[:] = [priced]  # and a turn that no provider answered
    again = InboundMessage("acme", "api", CustomerRef("c"), "Do you ship to Mexico?")
    apologised = await services.turns.handle(again, services.api)
    await services.events.flush()
    failed = [ctx.llm_trace.failures[0] for ctx in (answered, apologised) if ctx.llm_trace]
    assert [f["outcome"] for f in failed] == ["error", "error"]
    assert all(f["completion_tokens"] == 4 and f["cost_usd"] > 0 for f in failed)
    f = await figures(services.db, "acme", days=1)
    assert f.cost_usd == round(sum(x["cost_usd"] for x in failed), 6)
    assert answered.usage is not None and apologised.usage is not None
    assert f.prompt_tokens == answered.usage.prompt_tokens + apologised.usage.prompt_tokens
    assert answered.usage.prompt_tokens > failed[0]["prompt_tokens"]  # the answer's too


def priced(answer: httpx.Response | None = None) -> OpenAICompatProvider:
    """A priced provider whose server answers (50 + 10 tokens reported: $0.07), or ``answer``."""
    said = chunk("Trailhead Rewards members return anything for free within 60 days.")
    usage = {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 10}}
    return OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=0, price_per_1k_input=1, price_per_1k_output=2),
        transport=httpx.MockTransport(lambda r: answer or sse(said, chunk("", "stop"), usage)),
    )


async def test_suggestions_campaigns_and_summaries_count_in_the_cost(services: Services) -> None:
    """Model calls outside a turn's answer write ``llm.usage`` events (failed attempts included,
    as a turn's): the dashboard's tokens and cost count them. They counted nothing."""
    broken = priced(sse(chunk("Your order"), chunk(" ships on"), done=False))
    services.chain.providers[:] = [broken, priced()]
    said = InboundMessage("acme", "api", CustomerRef("c"), "I want to talk to a person please")
    handed = await services.turns.handle(said, services.api)
    assert handed.decision is not None and handed.decision.route == "handoff"
    await asyncio.gather(*services.console.desk._background)  # the suggested reply
    brief = Brief(offer="Free returns for Trailhead Rewards members", channels=["sms"], variants=1)
    writer = CopyWriter(services.settings, services.chain, services.kb, services.events)
    await writer.write(services.settings.workspaces[0], brief)
    attach = next(s for s in services.turns.runner.steps if isinstance(s, Attach))
    attach.summarizer = summarizer(services.settings, ProviderChain([priced()]), services.events)
    assert handed.conversation_id is not None
    items = [HistoryItem("in", "My tent pole snapped on the first night.", "api")]
    await attach.fold("acme", handed.conversation_id, "", Pending(0, 1, items))
    await services.events.flush()
    used = [e.payload for e in await services.store.events(type_=events.LLM_USAGE)]
    assert sorted(u["purpose"] for u in used) == ["campaign", "suggestion", "summary"]
    for u in used:  # each went to the broken provider first (the summary has only one)
        assert (u["outcome"], u["provider"], u["fallbacks"] != []) == (
            "ok",
            "openai_compat",
            u["purpose"] != "summary",
        )
        assert u["cost_usd"] >= 0.07 and u["prompt_tokens"] >= 50
    f = await figures(services.db, "acme", days=1)
    assert f.cost_usd == round(sum(u["cost_usd"] for u in used), 6) > 0.21
    assert f.prompt_tokens == sum(u["prompt_tokens"] for u in used)
    assert f.completion_tokens == sum(u["completion_tokens"] for u in used)
    by = {purpose: (u["calls"], u["cost_usd"]) for purpose, u in f.usage_by_purpose.items()}
    assert by["turn"] == (1, 0.0)  # the handoff turn asked no model
    assert by["summary"] == (1, 0.07) and by["suggestion"][1] > 0.07  # its failed attempt too


async def test_a_side_call_no_provider_answered_still_counts(services: Services) -> None:
    """The campaign's model broke off midway: its copy is composed from the brief, and what
    the model read and wrote before it broke is counted (it is billed)."""
    services.chain.providers[:] = [priced(sse(chunk("Your order"), done=False))]
    brief = Brief(offer="Free returns for Trailhead Rewards members", channels=["sms"], variants=2)
    writer = CopyWriter(services.settings, services.chain, services.kb, services.events)
    campaign = await writer.write(services.settings.workspaces[0], brief)
    assert [c.source for c in campaign.copies] == ["template", "template"]
    await services.events.flush()
    [used] = [e.payload for e in await services.store.events(type_=events.LLM_USAGE)]
    assert (used["purpose"], used["outcome"], used["provider"]) == ("campaign", "failed", None)
    assert used["cost_usd"] > 0 and used["fallbacks"][0]["estimated"]
    f = await figures(services.db, "acme", days=1)
    assert f.cost_usd == round(used["cost_usd"], 6)
    assert f.usage_by_purpose == {
        "campaign": {
            "calls": 1,
            "prompt_tokens": used["prompt_tokens"],
            "completion_tokens": used["completion_tokens"],
            "cost_usd": round(used["cost_usd"], 6),
        }
    }


def tool_model(answer: dict[str, Any] | None, **extra: Any) -> OpenAICompatProvider:
    """A priced tool-calling model whose server answers ``answer`` (None: it never answers)."""

    async def reply(request: httpx.Request) -> httpx.Response:
        if answer is None:
            await asyncio.sleep(30)
        return httpx.Response(200, json=answer)

    return OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=0, tools=True, price_per_1k_input=1,
                 price_per_1k_output=2, **extra),
        transport=httpx.MockTransport(reply),
    )  # fmt: skip


async def test_the_models_tool_choice_counts_in_the_turns_cost(services: Services) -> None:
    """Asking the tool-calling model whether a tool is needed is billed: its usage (40 + 5
    tokens reported: $0.05) was dropped, and a turn cost only its answer ($0.07)."""
    used = {"prompt_tokens": 40, "completion_tokens": 5}
    none = {"choices": [{"message": {"role": "assistant", "content": "No tool."}}], "usage": used}
    route = next(s for s in services.turns.runner.steps if isinstance(s, RouteStep))
    services.chain.providers[:] = [priced()]
    turns = []
    for chooser in (
        tool_model(none),
        tool_model({"choices": "not a list", "usage": used}),  # billed, then unusable
        tool_model(None, timeout_s=0.2),  # it read the prompt: estimated, as a failed attempt
    ):
        route.chooser = chooser
        said = InboundMessage("acme", "api", CustomerRef("c"), "Do you ship to Canada?")
        turns.append(await services.turns.handle(said, services.api))
    assert [t.decision.route if t.decision else None for t in turns] == ["answer"] * 3
    assert [any("tool choice failed" in r for r in t.decision.reasons if t.decision)
            for t in turns] == [False, True, True]  # fmt: skip
    await services.events.flush()
    usage = [t.usage for t in turns if t.usage is not None]
    assert [(u.prompt_tokens, u.completion_tokens, u.cost_usd) for u in usage[:2]] == [
        (90, 15, pytest.approx(0.12))
    ] * 2
    guessed = usage[2]
    assert guessed.estimated and guessed.prompt_tokens > 50 and guessed.cost_usd > 0.07
    f = await figures(services.db, "acme", days=1)
    assert f.prompt_tokens == 180 + guessed.prompt_tokens
    assert f.cost_usd == round(0.24 + guessed.cost_usd, 6)
    assert f.usage_by_purpose["turn"]["calls"] == 3


async def test_a_turn_that_failed_after_the_model_answered_counts_its_cost(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer was written (and billed), then not stored: ``turn.failed`` recorded no
    usage, and the dashboard counted nothing of it."""
    services.chain.providers[:] = [priced()]

    async def gone(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(services.store, "store_outbound", gone)
    said = InboundMessage("acme", "api", CustomerRef("c"), "Do you ship to Canada?")
    with pytest.raises(ConnectionError):
        await services.turns.handle(said, services.api)
    await services.events.flush()
    [failed] = [e.payload for e in await services.store.events(type_=events.TURN_FAILED)]
    assert (failed["step"], failed["provider"], failed["fallbacks"]) == (
        "deliver",
        "openai_compat",
        [],
    )
    assert (failed["prompt_tokens"], failed["completion_tokens"], failed["cost_usd"]) == (
        50,
        10,
        0.07,
    )
    f = await figures(services.db, "acme", days=1)
    assert (f.turns, f.failed_turns, f.cost_usd) == (0, 1, 0.07)
    assert f.usage_by_purpose == {
        "turn": {"calls": 1, "prompt_tokens": 50, "completion_tokens": 10, "cost_usd": 0.07}
    }
