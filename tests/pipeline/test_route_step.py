"""The route step's own behaviour: continuing a pending action, clarifying between intents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from omnivox.actions.base import Tool, ToolContext, ToolResult
from omnivox.actions.orders import OrderStatusTool
from omnivox.actions.tickets import CreateTicketArgs
from omnivox.channels.api import ApiChannel
from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.llm.base import ChatMessage, ToolCall, ToolChoice
from omnivox.pipeline.context import HANDED_OFF, TurnContext
from omnivox.pipeline.steps.route import OPEN_QUESTION, RouteStep
from omnivox.privacy.vault import Vault
from omnivox.storage.repositories import StoredMessage
from omnivox.types import CustomerRef, HistoryItem, InboundMessage, utcnow
from omnivox.understanding.service import Understanding
from tests.conftest import make_settings

INTENTS = [
    {
        "name": "order_status",
        "action": "order_status",
        "examples": ["where is my order", "has my package shipped", "track my parcel"],
    },
    {
        "name": "order_change",
        "description": "changing an order",
        "examples": [
            "change the shipping address of my order",
            "I need to change the delivery address",
            "cancel my order",
            "can I change my order",
        ],
    },
    {"name": "store_hours", "examples": ["what time do you open", "are you open on sunday"]},
    {"name": "returns", "description": "returning an item", "examples": ["return an item"]},
    {"name": "exchanges", "description": "exchanging an item", "examples": ["exchange an item"]},
]
ORDER = {"order_number": "ACM-482193", "customer_id": "cus_0001", "status": "shipped"}


OTHERS = {"order_number": "ACM-100200", "customer_id": "cus_0002", "status": "placed"}


class Owner:
    """Stands in for the customer store: every customer is the order's owner."""

    def __init__(self, ids: set[str] | None = None) -> None:
        self.ids = {"cus_0001"} if ids is None else ids

    async def external_ids(self, workspace_id: str, customer_id: str) -> set[str]:
        return self.ids


@pytest.fixture(scope="module")
def understanding(tmp_path_factory: pytest.TempPathFactory) -> Understanding:
    tmp = tmp_path_factory.mktemp("nlu")
    workspace = {
        "id": "acme",
        "name": "Acme",
        "understanding": {"intents": INTENTS, "order_pattern": r"ACM-\d{6}", "oos_threshold": 0.3},
    }
    nlu = Understanding(make_settings(tmp, workspaces=[workspace]), MiniLMEmbedder())
    nlu.get("acme").train(None)
    return nlu


def context(
    understanding: Understanding,
    text: str,
    recent: list[dict[str, Any]] | None = None,
    history: list[HistoryItem] | None = None,
) -> TurnContext:
    """A REST turn of ``text``, analysed, after ``recent`` analyses and ``history``."""
    settings = make_settings(Path("/tmp"), workspaces=[{"id": "acme", "name": "Acme"}])
    ctx = TurnContext(
        InboundMessage("acme", "api", CustomerRef("c1"), text),
        settings.workspaces[0],
        ApiChannel(),
        "turn_1",
    )
    ctx.customer_id = "cus_x"
    ctx.analysis = understanding.get("acme").analyze(text)
    ctx.recent_nlu = recent or []
    ctx.history = history or []
    return ctx


def step(understanding: Understanding, owner: Owner | None = None) -> RouteStep:
    orders = {ORDER["order_number"]: ORDER, OTHERS["order_number"]: OTHERS}
    tool: Tool = OrderStatusTool(orders, owner or Owner())  # type: ignore[arg-type]
    return RouteStep(understanding, {"acme": {"order_status": tool}})


async def test_a_pending_action_continues_when_the_details_arrive(
    understanding: Understanding,
) -> None:
    pending = [{"intent": "order_status", "confidence": 0.9, "pending_action": "order_status"}]
    ctx = await step(understanding)(context(understanding, "ACM-482193", pending))
    assert ctx.decision is not None and ctx.decision.route == "act"
    assert ctx.decision.reasons[0] == "continues order_status with the details asked for"
    assert ctx.reply is not None and ctx.reply.text.startswith("Order ACM-482193 has shipped.")


async def test_no_pending_action_without_the_details(understanding: Understanding) -> None:
    pending = [{"intent": "order_status", "confidence": 0.9, "pending_action": "order_status"}]
    ctx = await step(understanding)(context(understanding, "are you open on sunday", pending))
    assert ctx.decision is not None and ctx.decision.route == "answer"
    assert ctx.halted is None


async def test_a_pending_action_does_not_take_over_another_question(
    understanding: Understanding,
) -> None:
    # "What's your order number?" -> a message with a number that asks something else
    pending = [{"intent": "order_status", "confidence": 0.9, "pending_action": "order_status"}]
    text = "I need to change the shipping address on ACM-482193"
    ctx = context(understanding, text, pending)
    assert ctx.analysis is not None and ctx.analysis.intent is not None
    assert ctx.analysis.intent.intent == "order_change"
    ctx = await step(understanding)(ctx)
    assert ctx.decision is not None and ctx.decision.route == "answer"
    assert ctx.halted is None and ctx.reply is None


async def test_a_close_call_asks_which_one(understanding: Understanding) -> None:
    ctx = await step(understanding)(context(understanding, "an item", []))
    assert ctx.decision is not None and ctx.decision.route == "clarify"
    assert ctx.reply is not None
    # the two candidates, best first: "an item" fits both about equally
    choices = {"returning an item or exchanging an item", "exchanging an item or returning an item"}
    assert any(choice in ctx.reply.text for choice in choices)
    assert ctx.halted == "clarify"


async def test_asking_for_details_remembers_the_pending_action_on_the_message(
    understanding: Understanding,
) -> None:
    ctx = context(understanding, "where is my order", [])
    ctx.message = StoredMessage(
        "msg_1", "conv_1", "in", "api", "where is my order", "received", None, {"thread": "new"},
        utcnow(),
    )  # fmt: skip
    await step(understanding)(ctx)
    assert ctx.halted == "clarify" and ctx.message_update is not None
    assert ctx.message_update.message_id == "msg_1"
    assert ctx.message_update.metadata["thread"] == "new"  # the rest of the metadata is kept
    assert ctx.message_update.metadata["nlu"]["pending_action"] == "order_status"


async def test_asked_once_already_offers_the_customers_own_orders(
    understanding: Understanding,
) -> None:
    # "where is my order" -> "What's your order number?" -> "where is my order??" ...: the
    # question was asked forever; now the customer's own orders are offered instead
    pending = [{"intent": "order_status", "confidence": 0.9, "pending_action": "order_status"}]
    ctx = context(understanding, "where is my order", pending)
    ctx.message = StoredMessage(
        "msg_2", "conv_1", "in", "api", "where is my order", "received", None, {}, utcnow()
    )
    ctx = await step(understanding)(ctx)
    assert ctx.halted == "clarify" and ctx.reply is not None
    assert "Your most recent orders: ACM-482193 (shipped)" in ctx.reply.text
    assert "ACM-100200" not in ctx.reply.text  # someone else's
    assert ctx.message_update is not None
    assert ctx.message_update.metadata["nlu"]["pending_action"] == "order_status"
    # first time: the plain question
    first = await step(understanding)(context(understanding, "where is my order", []))
    assert first.reply is not None and "Your most recent orders" not in first.reply.text


async def test_asked_once_already_and_no_orders_to_offer_hands_off(
    understanding: Understanding,
) -> None:
    pending = [{"intent": "order_status", "confidence": 0.9, "pending_action": "order_status"}]
    ctx = context(understanding, "where is my order", pending)
    ctx = await step(understanding, Owner(set()))(ctx)
    assert ctx.halted == HANDED_OFF and ctx.reply is not None
    assert ctx.decision is not None and ctx.decision.route == "handoff"
    assert "order_status: still no details after 1 asks" in ctx.decision.reasons


async def test_asked_three_times_a_person_takes_over_even_with_orders_to_offer(
    understanding: Understanding,
) -> None:
    pending = [{"intent": "order_status", "confidence": 0.9, "pending_action": "order_status"}]
    ctx = context(understanding, "where is my order", pending * 3)
    ctx = await step(understanding)(ctx)
    assert ctx.halted == HANDED_OFF
    assert ctx.decision is not None
    assert "order_status: still no details after 3 asks" in ctx.decision.reasons


class Recorder:
    """A ticket tool that keeps the arguments it was called with."""

    name = "create_ticket"
    description = "Open a ticket."
    Args = CreateTicketArgs

    def __init__(self) -> None:
        self.calls: list[CreateTicketArgs] = []

    async def call(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        assert isinstance(args, CreateTicketArgs)
        self.calls.append(args)
        return ToolResult(True, "Ticket T-1 opened.", {"ticket_id": "T-1"})


class Chooser:
    """A tool-calling model that opens a ticket with the placeholders it was shown."""

    name = "fake"
    timeout_s = 5.0

    def __init__(self, arguments: dict[str, Any]) -> None:
        self.arguments = arguments

    async def choose_tool(
        self, messages: tuple[ChatMessage, ...], tools: list[dict[str, Any]]
    ) -> ToolChoice:
        return ToolChoice(ToolCall("create_ticket", self.arguments))


async def test_a_models_tool_arguments_get_the_customers_details_back(
    understanding: Understanding,
) -> None:
    vault = Vault(b"k" * 32, "conv_1")
    phone = vault.placeholder("PHONE", "303-555-0199")
    email = vault.placeholder("EMAIL", "maya@example.com")
    card = vault.placeholder("CARD", "4111 1111 1111 4242")
    body = f"Call me back at {phone} or email {email}; card {card}; <EMAIL_deadbeef>"
    recorder = Recorder()
    route = RouteStep(
        understanding,
        {"acme": {"create_ticket": recorder}},  # type: ignore[dict-item]
        chooser=Chooser({"subject": f"Callback {phone}", "body": body}),
    )
    ctx = context(understanding, "are you open on sunday", [])
    ctx.vault = vault
    ctx = await route(ctx)
    assert ctx.decision is not None and ctx.decision.route == "act"
    (args,) = recorder.calls
    assert args.subject == "Callback 303-555-0199"
    # own email and phone back, a card masked, a placeholder this turn did not make removed
    assert args.body == "Call me back at 303-555-0199 or email maya@example.com; card •••• 4242; "


def after_a_question(
    understanding: Understanding, text: str, options: list[str], asked: str = "an item"
) -> TurnContext:
    """``text`` in answer to "Just to be sure…: <options>?", asked about ``asked``."""
    recent = [{"intent": options[0], "confidence": 0.5, "pending_intents": options}]
    history = [
        HistoryItem("in", asked, "api"),
        HistoryItem("out", "Just to be sure I help with the right thing: …?", "api"),
    ]
    return context(understanding, text, recent, history)


async def test_a_close_call_remembers_the_intents_it_offered(
    understanding: Understanding,
) -> None:
    ctx = context(understanding, "an item", [])
    ctx.message = StoredMessage(
        "msg_1", "conv_1", "in", "api", "an item", "received", None, {}, utcnow()
    )
    await step(understanding)(ctx)
    assert ctx.halted == "clarify" and ctx.message_update is not None
    offered = ctx.message_update.metadata["nlu"]["pending_intents"]
    assert sorted(offered) == ["exchanges", "returns"]


async def test_the_answer_to_which_one_answers_the_message_it_was_about(
    understanding: Understanding,
) -> None:
    ctx = after_a_question(understanding, "the second one", ["returns", "exchanges"])
    ctx = await step(understanding)(ctx)
    assert ctx.decision is not None and ctx.decision.route == "answer"
    assert ctx.decision.reasons[0] == "chose exchanges when asked"
    assert ctx.question == "an item"  # retrieval and the model answer the question asked about
    assert ctx.analysis is not None and ctx.analysis.intent is not None
    assert ctx.analysis.intent.intent == "exchanges" and ctx.halted is None

    named = await step(understanding)(
        after_a_question(understanding, "returning it", ["returns", "exchanges"])
    )
    assert named.decision is not None and named.decision.reasons[0] == "chose returns when asked"


async def test_yes_to_an_action_runs_it_on_the_message_it_was_about(
    understanding: Understanding,
) -> None:
    asked = "has ACM-482193 moved at all"
    ctx = after_a_question(understanding, "yes", ["order_status"], asked)
    ctx.recent_nlu[0]["entities"] = [
        {"kind": "order_number", "text": "ACM-482193", "value": "ACM-482193", "start": 4, "end": 14}
    ]
    ctx = await step(understanding)(ctx)
    assert ctx.decision is not None and ctx.decision.route == "act"
    assert ctx.decision.action == "order_status"
    assert ctx.reply is not None and ctx.reply.text.startswith("Order ACM-482193 has shipped.")


async def test_no_to_the_only_intent_offered_asks_an_open_question(
    understanding: Understanding,
) -> None:
    ctx = await step(understanding)(after_a_question(understanding, "no", ["order_status"]))
    assert ctx.decision is not None and ctx.decision.route == "clarify"
    assert ctx.reply is not None and ctx.reply.text == OPEN_QUESTION
    assert ctx.message_update is None  # nothing offered: nothing to remember


async def test_a_new_question_after_which_one_is_read_on_its_own(
    understanding: Understanding,
) -> None:
    ctx = after_a_question(understanding, "are you open on sunday?", ["returns", "exchanges"])
    ctx = await step(understanding)(ctx)
    assert ctx.decision is not None and ctx.decision.route == "answer"
    assert ctx.question == "are you open on sunday?"
    assert not ctx.decision.reasons[0].startswith("chose")


async def test_a_bare_yes_to_several_asks_which_one_again(understanding: Understanding) -> None:
    ctx = after_a_question(understanding, "yes", ["returns", "exchanges"])
    ctx.message = StoredMessage(
        "msg_2", "conv_1", "in", "api", "yes", "received", None, {}, utcnow()
    )
    ctx = await step(understanding)(ctx)
    assert ctx.decision is not None and ctx.decision.route == "clarify"
    assert ctx.reply is not None
    assert ctx.reply.text == "Which one do you mean: returning an item or exchanging an item?"
    assert ctx.message_update is not None  # the answer to this one chooses too
    assert ctx.message_update.metadata["nlu"]["pending_intents"] == ["returns", "exchanges"]
    # the answer to that is about the message first asked about, not the "yes"
    then = context(
        understanding,
        "the second one",
        [ctx.message_update.metadata["nlu"]],
        [
            *ctx.history,
            HistoryItem("in", "yes", "api"),
            HistoryItem("out", ctx.reply.text, "api"),
        ],
    )
    then = await step(understanding)(then)
    assert then.decision is not None and then.decision.reasons[0] == "chose exchanges when asked"
    assert then.question == "an item"


async def test_a_question_a_keywords_reply_followed_is_no_longer_pending(
    understanding: Understanding,
) -> None:
    ctx = after_a_question(understanding, "the second one", ["returns", "exchanges"])
    ctx.history += [
        HistoryItem("in", "HELP", "sms"),
        HistoryItem("out", "Acme: reply STOP to opt out.", "sms"),
    ]
    ctx = await step(understanding)(ctx)
    assert ctx.decision is not None and not ctx.decision.reasons[0].startswith("chose")
    assert ctx.question == "the second one"


async def test_a_second_bare_yes_is_read_on_its_own(understanding: Understanding) -> None:
    ctx = after_a_question(understanding, "yes", ["returns", "exchanges"])
    ctx.history += [
        HistoryItem("in", "yes", "api"),
        HistoryItem(
            "out", "Which one do you mean: returning an item or exchanging an item?", "api"
        ),
    ]
    ctx = await step(understanding)(ctx)
    assert ctx.decision is not None and ctx.decision.route != "clarify"
