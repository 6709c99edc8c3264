"""Contracts of each step: what it reads and writes, and nothing else."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from omnivox.channels.api import ApiChannel
from omnivox.llm.base import CompletionRequest, Delta
from omnivox.llm.chain import ProviderChain
from omnivox.llm.prompts import PromptBuilder
from omnivox.pipeline.context import TurnContext
from omnivox.pipeline.steps.deliver import Deliver
from omnivox.pipeline.steps.generate import (
    APOLOGY,
    Generate,
    cited,
    unlabelled,
    whole_sentences,
)
from omnivox.pipeline.steps.guard_input import GuardInput
from omnivox.pipeline.steps.retrieve import Retrieve
from omnivox.pipeline.steps.route import RouteStep
from omnivox.services import Services
from omnivox.settings import ScriptedSettings
from omnivox.storage.repositories import MetadataUpdate, Newcomer
from omnivox.testing import ScriptedProvider
from omnivox.types import (
    CustomerRef,
    HistoryItem,
    InboundMessage,
    OutboundMessage,
    Passage,
    Reply,
)
from omnivox.understanding.routing import Decision as RouteDecision
from tests.conftest import make_settings

PASSAGES = [
    Passage("returns.md", "Returns", "Return within 60 days.", 0.9, "https://x/r"),
    Passage("shipping.md", "Shipping", "Ships in 3-7 days.", 0.8),
]


def context(tmp_path: Path, text: str = "What is the return window?") -> TurnContext:
    settings = make_settings(tmp_path)
    return TurnContext(
        InboundMessage("acme", "api", CustomerRef("c"), text),
        settings.workspaces[0],
        ApiChannel(),
        "turn_1",
    )


def snapshot(ctx: TurnContext) -> dict[str, object]:
    return {k: copy.deepcopy(v) for k, v in vars(ctx).items() if k not in ("channel", "sink")}


async def test_guard_input_passes_text_through(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    await GuardInput()(ctx)
    assert ctx.model_text == ctx.inbound.text


async def test_route_answers_when_nothing_was_understood_and_says_why(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    await RouteStep()(ctx)
    assert ctx.decision == RouteDecision("answer", ("default: no understanding for this turn",))
    assert ctx.halted is None


class FakeRetriever:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int, str | None]] = []

    async def search(
        self, workspace_id: str, query: str, k: int, question: str | None = None
    ) -> list[Passage]:
        self.calls.append((workspace_id, query, k, question))
        return PASSAGES[:k]


class FakeCache:
    def __init__(self, answer: Reply | None) -> None:
        self.answer = answer
        self.lookups: list[str] = []

    async def current_version(self, workspace_id: str) -> str | None:
        return "v1"

    async def lookup(
        self, workspace_id: str, query: str, question: str | None = None
    ) -> Reply | None:
        self.lookups.append(query)
        return self.answer

    async def store(self, workspace_id: str, query: str, reply: Reply, *args: Any) -> None:
        raise AssertionError("retrieve never stores")


async def test_retrieve_uses_the_retriever_only_when_answering(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    await Retrieve()(ctx)
    assert ctx.passages == []
    retriever = FakeRetriever()
    ctx.decision = RouteDecision("handoff", ("asked for a person",))
    await Retrieve(retriever, k=1)(ctx)
    assert ctx.passages == [] and retriever.calls == []
    ctx.decision = RouteDecision("answer", ("default",))
    await Retrieve(retriever, k=1)(ctx)
    assert ctx.passages == PASSAGES[:1]
    question = "What is the return window?"
    assert retriever.calls == [("acme", question, 1, question)]


async def test_retrieve_folds_in_earlier_messages(tmp_path: Path) -> None:
    ctx = context(tmp_path, "what about for my daughter?")
    ctx.decision = RouteDecision("answer", ("default",))
    ctx.history = [
        HistoryItem("in", "I need hiking boots", "api"),
        HistoryItem("out", "Sure, which size?", "api"),
        HistoryItem("in", "size 9 for me", "api"),
    ]
    retriever = FakeRetriever()
    await Retrieve(retriever, k=2, history_messages=2)(ctx)
    expected = "Sure, which size? size 9 for me what about for my daughter?"
    assert retriever.calls == [("acme", expected, 2, "what about for my daughter?")]
    assert ctx.retrieval_query == expected


async def test_a_cache_hit_halts_with_the_cached_reply(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    ctx.decision = RouteDecision("answer", ("default",))
    cached = Reply("60 days [1].", (PASSAGES[0].citation(),), "llamacpp")
    retriever = FakeRetriever()
    await Retrieve(retriever, k=2, cache=FakeCache(cached))(ctx)
    assert ctx.reply == cached and ctx.cache_hit and ctx.halted == "cache_hit"
    assert retriever.calls == []
    miss = context(tmp_path)
    miss.decision = RouteDecision("answer", ("default",))
    await Retrieve(retriever, k=2, cache=FakeCache(None))(miss)
    assert not miss.cache_hit and miss.passages == PASSAGES[:2]


def test_cited_maps_markers_to_passages() -> None:
    citations = cited("Within 60 days [1]. Ships fast [2][1]. Bogus [7].", PASSAGES)
    assert [c.source_id for c in citations] == ["returns.md", "shipping.md"]
    assert citations[0].url == "https://x/r"


def generate_step(provider: ScriptedProvider) -> Generate:
    return Generate(
        ProviderChain([provider]),
        {"acme": PromptBuilder(), "globex": PromptBuilder()},
        max_tokens=50,
        temperature=0.1,
    )


async def test_generate_streams_to_the_sink_and_builds_the_reply(tmp_path: Path) -> None:
    provider = ScriptedProvider(ScriptedSettings(type="scripted", reply="60 days [1]."))
    ctx = context(tmp_path)
    ctx.passages = list(PASSAGES)
    received: list[Delta] = []

    async def sink(delta: Delta) -> None:
        received.append(delta)

    ctx.sink = sink
    await generate_step(provider)(ctx)
    assert "".join(d.text for d in received) == "60 days [1]."
    assert ctx.reply is not None and ctx.reply.text == "60 days [1]."
    assert ctx.usage is not None and ctx.usage.completion_tokens > 0
    system = provider.requests[0].messages[0]
    assert system.role == "system" and "Juniper" in system.content
    question = provider.requests[0].messages[-1].content
    assert question.startswith("Passages:\n[1] Returns: Return within 60 days.")
    assert question.endswith("\n\nQuestion: What is the return window?")


class Stopped(ScriptedProvider):
    """The scripted reply, as a model that ran out of ``max_tokens`` ends it."""

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        async for delta in super().stream(request):
            yield replace(delta, finish_reason="length") if delta.finish_reason else delta


async def test_an_answer_cut_at_max_tokens_ends_at_its_last_whole_sentence(
    tmp_path: Path,
) -> None:
    words = "Return within 60 days [1]. You can choose to"
    ctx = context(tmp_path)
    ctx.passages = list(PASSAGES)
    await generate_step(Stopped(ScriptedSettings(type="scripted", reply=words)))(ctx)
    assert ctx.reply is not None and ctx.reply.text == "Return within 60 days [1]."
    # an answer the model ended itself is kept whole, stop or not
    whole = context(tmp_path)
    await generate_step(ScriptedProvider(ScriptedSettings(type="scripted", reply=words)))(whole)
    assert whole.reply is not None and whole.reply.text == words
    assert whole_sentences("Yes. It costs $6.95 and (so") == "Yes."
    assert whole_sentences('He said "fine." Then') == 'He said "fine."'
    assert whole_sentences("no stop at all") == "no stop at all"
    assert whole_sentences("Free within 30 days.[1] Labels are free.[2] You can") == (
        "Free within 30 days.[1] Labels are free.[2]"
    )
    assert (
        whole_sentences("退货在30天内免费。会员标签免费。您也可以")
        == "退货在30天内免费。会员标签免费。"
    )
    assert whole_sentences("Ask for it. Please contact Mr. Smith at the") == "Ask for it."
    assert whole_sentences("Boots, e.g. the Ridgeline, fit") == "Boots, e.g. the Ridgeline, fit"


async def test_generate_drops_the_models_answer_label(tmp_path: Path) -> None:
    # the bundled model opens with "The answer is:" (the demo sent "The answer is: No.")
    labelled = "The answer is: return within 60 days [1]."
    ctx = context(tmp_path)
    await generate_step(ScriptedProvider(ScriptedSettings(type="scripted", reply=labelled)))(ctx)
    assert ctx.reply is not None and ctx.reply.text == "Return within 60 days [1]."
    assert unlabelled("Answer: yes.") == "Yes."
    assert unlabelled("The answer is yes.") == "The answer is yes."  # no label: a sentence
    assert unlabelled("Answers are emailed in 3 days.") == "Answers are emailed in 3 days."


async def test_generate_apologises_when_every_provider_fails(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    await generate_step(ScriptedProvider(ScriptedSettings(type="scripted", fail=True)))(ctx)
    assert ctx.reply == Reply(APOLOGY)


async def test_generate_sends_the_model_only_the_matching_sentences(tmp_path: Path) -> None:
    long = Passage(
        "returns.md",
        "Returns",
        "Stores open at nine. Items can be returned within 60 days. Gift cards are sold here.",
        0.9,
    )
    provider = ScriptedProvider(ScriptedSettings(type="scripted", reply="60 days [1]."))
    step = Generate(
        ProviderChain([provider]),
        {"acme": PromptBuilder()},
        max_tokens=50,
        temperature=0.1,
        prompt_words=10,
    )
    ctx = context(tmp_path, "How many days to return items?")
    ctx.passages = [long]
    await step(ctx)
    question = provider.requests[0].messages[-1].content
    assert "[1] Returns: … Items can be returned within 60 days. …" in question
    assert "Stores open" not in question and "Gift cards" not in question
    assert provider.requests[0].passages == (long,)  # providers without a prompt see them whole
    assert ctx.reply is not None and ctx.reply.citations[0].snippet.startswith("Stores open")


SALE = Passage(
    "returns.md",
    "Returns",
    "Stores open at nine. Sale items can be returned within 30 days. Boots worn outside are "
    "final sale. Refunds reach your card in five days.",
    0.9,
)
MAIL = Passage(
    "shipping.md",
    "Shipping",
    "Standard shipping takes a week. Mail returns need the prepaid label from your order page.",
    0.8,
)


def reading_step(provider: ScriptedProvider) -> Generate:
    return Generate(
        ProviderChain([provider]),
        {"acme": PromptBuilder()},
        max_tokens=50,
        temperature=0.1,
        prompt_words=14,
    )


async def test_a_turn_shows_its_passages_as_the_drafts_guess_did(tmp_path: Path) -> None:
    provider = ScriptedProvider(ScriptedSettings(type="scripted", reply="30 days [1]."))
    step = reading_step(provider)
    guess = context(tmp_path, "Can I return sale items")
    guess.passages = [SALE, MAIL]
    head = step.guess_prompt(guess, guess.inbound.conversation_key)[-1].content
    ctx = context(tmp_path, "Can I return sale items by mail?")
    ctx.passages = [MAIL, SALE]  # the same passages, found in another order
    assert step.prompt(ctx)[-1].content.split("Question:")[0] != head.split("Question:")[0]
    await step(ctx)  # cut for the whole message they would differ: shown as the guess was
    final = provider.requests[-1].messages[-1].content
    assert final.split("Question:")[0] == head.split("Question:")[0]
    assert final.endswith("Question: Can I return sale items by mail?")
    assert ctx.passages == [SALE, MAIL]  # in the order shown, so [1] cites what was shown as [1]
    assert ctx.reply is not None and [c.source_id for c in ctx.reply.citations] == ["returns.md"]


GIFT = Passage(
    "gifts.md",
    "Gift cards",
    "Gift cards never expire. They can be used online and in stores. Lost cards cannot be "
    "replaced.",
    0.7,
)


async def test_a_turn_keeps_the_guesss_first_passages_and_reads_only_the_others(
    tmp_path: Path,
) -> None:
    provider = ScriptedProvider(ScriptedSettings(type="scripted", reply="Yes [2]."))
    step = reading_step(provider)
    guess = context(tmp_path, "Can I return sale items")
    guess.passages = [SALE, MAIL]
    head = step.guess_prompt(guess, guess.inbound.conversation_key)[-1].content
    shown_sale = head.split("\n[2]")[0]  # the guess's passage [1] as it showed it
    question = "Can I return sale items and boots worn outside with gift cards?"
    alone = context(tmp_path, question)
    alone.passages = [SALE, GIFT]
    assert not step.prompt(alone)[-1].content.startswith(shown_sale)  # cut for the message
    ctx = context(tmp_path, question)
    ctx.passages = [GIFT, SALE]  # the guess's first passage, and another instead of MAIL
    await step(ctx)
    final = provider.requests[-1].messages[-1].content
    assert final.startswith(shown_sale + "\n[2] Gift cards: ")
    assert "Mail returns" not in final and "Standard shipping" not in final
    assert ctx.passages == [SALE, GIFT]  # in the order shown: [2] cites the gift cards
    assert ctx.reply is not None and [c.source_id for c in ctx.reply.citations] == ["gifts.md"]
    # the words the guess's passage used come off the budget: the other keeps its best
    gift_line = final.split("\n[2] Gift cards: ")[1].split("\n")[0]
    assert gift_line.startswith("Gift cards never expire.") and gift_line.endswith("…")


@pytest.mark.parametrize(
    ("guessed", "found", "kept", "order"),
    [
        ([SALE, MAIL], [SALE], 1, [SALE]),  # fewer passages: the guess's first, as shown
        ([SALE, MAIL, GIFT], [GIFT, SALE], 1, [SALE, GIFT]),  # MAIL is gone: GIFT is cut anew
        ([SALE, SALE, MAIL], [SALE, GIFT], 1, [SALE, GIFT]),  # a passage is never shown twice
    ],
)
async def test_a_guess_is_kept_up_to_its_first_passage_the_turn_did_not_find(
    tmp_path: Path, guessed: list[Passage], found: list[Passage], kept: int, order: list[Passage]
) -> None:
    provider = ScriptedProvider(ScriptedSettings(type="scripted", reply="Yes."))
    step = reading_step(provider)
    guess = context(tmp_path, "Can I return sale items")
    guess.passages = list(guessed)
    head = step.guess_prompt(guess, guess.inbound.conversation_key)[-1].content
    ctx = context(tmp_path, "Can I return sale items with gift cards?")
    ctx.passages = list(found)
    await step(ctx)
    lines = provider.requests[-1].messages[-1].content.split("Question:")[0].strip().splitlines()
    read = head.split("Question:")[0].strip().splitlines()  # what the guess had the model read
    assert lines[: kept + 1] == read[: kept + 1]  # "Passages:" and the passages kept
    assert lines[kept + 1 :] != read[kept + 1 :]
    assert ctx.passages == order and len(lines) == len(order) + 1
    assert [line.split(": ")[0] for line in lines[1:]] == [
        f"[{n}] {p.title}" for n, p in enumerate(order, 1)
    ]


async def test_a_guess_is_not_reused_for_other_passages_or_another_question(
    tmp_path: Path,
) -> None:
    provider = ScriptedProvider(ScriptedSettings(type="scripted", reply="Yes [1]."))
    step = reading_step(provider)
    for question, passages in (
        ("Can I return sale items by mail?", [MAIL]),  # not the guess's first passage
        ("Could I send sale items back by mail?", [SALE, MAIL]),  # not the draft continued
    ):
        guess = context(tmp_path, "Can I return sale items")
        guess.passages = [SALE, MAIL]
        step.guess_prompt(guess, guess.inbound.conversation_key)
        ctx = context(tmp_path, question)
        ctx.passages = list(passages)
        expected = step.prompt(ctx)
        await step(ctx)
        assert provider.requests[-1].messages == expected
        assert ctx.passages == passages
    ctx = context(tmp_path, "Can I return sale items by mail?")  # a guess serves one turn
    ctx.passages = [MAIL, SALE]
    await step(ctx)
    assert ctx.passages == [MAIL, SALE]


async def test_deliver_stores_the_messages_metadata_with_the_reply_or_alone(
    services: Services, tmp_path: Path
) -> None:
    store = services.store
    attached = await store.attach_inbound(
        InboundMessage("acme", "api", CustomerRef("c"), "hi"), Newcomer("acme", "api", "c")
    )
    ctx = context(tmp_path, "hi")
    ctx.customer_id, ctx.message = attached.customer_id, attached.message
    ctx.conversation_id = attached.message.conversation_id
    nlu = {**attached.message.metadata, "nlu": {"intent": "greeting"}}
    ctx.message_update = MetadataUpdate(attached.message.id, nlu)
    ctx.outbound = [OutboundMessage("api", "c", "Hello!")]
    await Deliver(store)(ctx)
    assert ctx.message_update is None and [m.text for m in ctx.delivered] == ["Hello!"]
    view = await store.conversation(ctx.conversation_id)
    assert view is not None
    assert [m.metadata.get("nlu") for m in view.messages] == [{"intent": "greeting"}, None]
    # a turn that ends with nothing to send still stores what it learned
    ctx.message_update = MetadataUpdate(attached.message.id, {**nlu, "nlu": {"intent": "bye"}})
    ctx.outbound, ctx.delivered = [], []
    await Deliver(store)(ctx)
    view = await store.conversation(ctx.conversation_id)
    assert view is not None and view.messages[0].metadata["nlu"] == {"intent": "bye"}
    assert len(view.messages) == 2 and ctx.message_update is None
