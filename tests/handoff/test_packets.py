"""A handoff's packet: written by several hands, each keeps the fields it did not change; what a
call-back request puts in it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from omnivox.guardrails.grounding import without_repeats
from omnivox.handoff.desk import summary
from omnivox.pipeline.context import HANDED_OFF
from omnivox.routes.console import _conversation as conversation_page
from omnivox.services import Services, build_services
from omnivox.storage.repositories import StoredMessage
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import events_of, make_settings


async def callback_of(services: Services, text: str) -> object:
    """The handoff packet's ``callback`` after ``text`` (which must hand off)."""
    said = InboundMessage("acme", "api", CustomerRef("u-callback"), text)
    ctx = await services.turns.handle(said, services.api)
    assert ctx.halted == HANDED_OFF
    (view,) = await services.console.handoffs.queue("acme")
    return view.packet["callback"]


async def test_a_late_suggestion_keeps_the_rating_request(services: Services) -> None:
    """The suggestion wrote its copy of the packet as the handoff opened: the rating request
    made meanwhile was undone, and the customer's score then refused."""
    store, console = services.store, services.console
    ws = services.settings.workspaces[0]
    customer, _ = await store.resolve_customer("acme", "api", "u1", verified=True)
    said = InboundMessage("acme", "api", CustomerRef("u1"), "I need a person")
    conv = (await store.attach_inbound(said, customer)).message.conversation_id
    opened, _ = await console.handoffs.open("acme", conv, customer, {"summary": "a person"})
    agent = await console.handoffs.add_agent("acme", "sam@acme.example", "Sam", "agent", "x")
    await console.handoffs.claim("acme", opened.id, agent)
    resolved = await console.handoffs.close("acme", opened.id, agent, "resolved")
    await console.csat.request(ws, resolved, agent)
    await console.desk._suggest(ws, opened, "I need a person", str)  # as it opened
    packet = (await console.handoffs.get("acme", opened.id)).packet
    assert packet["summary"] == "a person" and packet["suggested_reply"]
    assert packet["rating"] == "requested"
    assert await console.handoffs.rate(resolved, "api", 5)
    rated = (await console.handoffs.get("acme", opened.id)).packet
    assert (rated["rating"], rated["suggested_reply"]) == (5, packet["suggested_reply"])


async def test_a_call_back_request_gives_the_packet_and_the_console_its_number_and_time(
    services: Services,
) -> None:
    text = "Please call me back on +1 415 555 0100 after 5pm"
    said = InboundMessage("acme", "api", CustomerRef("u-callback"), text)
    ctx = await services.turns.handle(said, services.api)
    assert ctx.halted == HANDED_OFF  # was: answered, as if it were a question
    (view,) = await services.console.handoffs.queue("acme")
    callback = {"kind": "phone", "address": "+14155550100", "when": "after 5pm"}
    assert view.packet["callback"] == callback
    # the number is in the packet (encrypted at rest), never in an event (stored as it is)
    assert ctx.conversation_id is not None
    for event in await events_of(services, ctx.conversation_id):  # not "0100": a latency has it
        payload = json.dumps(event.payload)
        assert "5550100" not in payload and "555 0100" not in payload, event.type
    agent_id = await services.console.handoffs.add_agent(
        "acme", "sam@acme.example", "Sam", "agent", "x"
    )
    agent = await services.console.handoffs.agent(agent_id)
    assert agent is not None
    page = await conversation_page(services, agent, services.settings.workspaces[0], view)
    html = bytes(page.body).decode()
    assert '<dt>Call back</dt><dd class="callback"><a href="tel:+14155550100">' in html
    assert '<span dir="auto">after 5pm</span>' in html


@pytest.mark.parametrize(
    ("text", "callback"),
    [
        (
            "Llámame al +34 612 345 678 mañana después de las 5",
            {"kind": "phone", "address": "+34612345678", "when": "mañana después de las 5"},
        ),
        (
            "Rappelez-moi au +33 6 12 34 56 78 demain matin svp",
            {"kind": "phone", "address": "+33612345678", "when": "demain matin"},
        ),
        (
            "Bitte um Rückruf nach 17 Uhr: +49 30 1234567",
            {"kind": "phone", "address": "+49301234567", "when": "nach 17 Uhr"},
        ),
        (  # an amount of time kept whole (was: "nach 2")
            "Bitte um Rückruf nach 2 Wochen: +49 30 1234567",
            {"kind": "phone", "address": "+49301234567", "when": "nach 2 Wochen"},
        ),
        (  # only the message's language's phrases (were: "alle 5", Italian "at 5")
            "Bitte um Rückruf: +49 30 1234567, ich habe alle 5 Artikel zurückgeschickt",
            {"kind": "phone", "address": "+49301234567", "when": None},
        ),
    ],
)
async def test_the_time_asked_for_is_read_in_the_other_default_languages(
    services: Services, text: str, callback: dict[str, str]
) -> None:
    assert await callback_of(services, text) == callback  # was: "when": None


@pytest.mark.parametrize(
    ("text", "address"),
    [
        # a number in a sentence of its own, 00 for + (was: no callback in the packet)
        ("Can someone phone me? 0044 20 7946 0958", "+442079460958"),
        ("Please call me back.\n0044 20 7946 0958", "+442079460958"),
        # the order number before it is not the number (was: "+11234567")
        ("Please call me back about order #1234567. +1 415 555 0100", "+14155550100"),
    ],
)
async def test_a_number_anywhere_in_a_call_back_request_is_where_to_call(
    services: Services, text: str, address: str
) -> None:
    assert await callback_of(services, text) == {"kind": "phone", "address": address, "when": None}


async def test_an_order_number_in_a_call_back_request_is_no_number_to_call(
    services: Services,
) -> None:
    text = "Please call me back about order #1234567"
    assert await callback_of(services, text) is None  # was: {"address": "+11234567", …}


async def test_a_number_without_its_area_code_is_no_number_to_call(services: Services) -> None:
    text = "Please call me back on 555-0100"
    # was: {"address": "+15550100", …}, a tel: link
    assert await callback_of(services, text) is None


async def test_a_request_to_be_called_when_something_happens_is_answered(
    services: Services,
) -> None:
    said = InboundMessage(
        "acme", "api", CustomerRef("u-notify"), "Please call me when my order ships"
    )
    ctx = await services.turns.handle(said, services.api)
    assert ctx.halted != HANDED_OFF and ctx.callback is None  # was: handed off
    assert await services.console.handoffs.queue("acme") == []


async def test_a_number_before_the_event_is_still_a_request_to_be_told(
    services: Services,
) -> None:
    text = "Please call me back on +1 415 555 0100 when my order ships"
    said = InboundMessage("acme", "api", CustomerRef("u-notify"), text)
    ctx = await services.turns.handle(said, services.api)
    assert ctx.halted != HANDED_OFF and ctx.callback is None  # was: handed off
    assert await services.console.handoffs.queue("acme") == []
    # without the event it is a call-back request, the number in the packet
    assert await callback_of(services, "call me back on +1 415 555 0100") == {
        "kind": "phone",
        "address": "+14155550100",
        "when": None,
    }


async def test_a_request_to_be_called_back_with_news_hands_off(services: Services) -> None:
    text = "Please call me back when you have an update. +1 415 555 0100"
    # was: answered, read as a request to be told of an event ("when my order ships")
    assert await callback_of(services, text) == {
        "kind": "phone",
        "address": "+14155550100",
        "when": None,
    }


def _said(text: str, channel: str = "webchat") -> StoredMessage:
    return StoredMessage("m", "c", "in", channel, text, "received", None, {}, datetime.now(UTC))


def test_the_summary_quotes_a_single_message_once() -> None:
    one = summary(None, [_said("My tent pole snapped!")], ["customer asked for a person"])
    assert one == (
        'The customer wrote on web chat: "My tent pole snapped". '
        "Handed to a person because customer asked for a person."
    )
    two = summary("Maya", [_said("Where is my order?"), _said("Any news?", "sms")], [])
    assert two == (
        'Maya wrote on web chat, text messages, first: "Where is my order". '
        'Latest message: "Any news". '
        "Handed to a person because a person was asked for."
    )


async def test_the_suggested_reply_says_a_looping_models_sentence_once(tmp_path: Path) -> None:
    # the bundled model looped: "I'm sorry to hear that." five times in the agent's draft
    loop = "Your tent pole snapped, sorry. I'm sorry to hear that. I'm sorry to hear that.\n\n"
    provider = {"type": "scripted", "reply": loop + "I'm sorry to hear that. We can help [1]."}
    services = build_services(make_settings(tmp_path, providers=[provider]))
    await services.start()
    try:
        ws = services.settings.workspaces[0]
        text = await services.console.desk.suggest(ws, "my tent pole snapped", "conv_x")
    finally:
        await services.close()
    assert text == "Your tent pole snapped, sorry. I'm sorry to hear that.\n\nWe can help [1]."


def test_repeats_go_whatever_their_markers_and_a_new_word_stays() -> None:
    text = "Returns take 60 days [1]. Returns take 60 days. Returns take 60 days, sadly. Ok. Ok."
    assert without_repeats(text) == "Returns take 60 days [1]. Returns take 60 days, sadly. Ok."


def test_repeats_go_and_the_line_breaks_stay() -> None:
    text = "Steps:\n1. Pack the item.\n2. Print the label.\n\nSorry.\n\nSorry.\n\nBye."
    assert (
        without_repeats(text) == "Steps:\n1. Pack the item.\n2. Print the label.\n\nSorry.\n\nBye."
    )
    assert without_repeats("") == without_repeats(" \n\n ") == ""


def test_a_sentence_of_markers_alone_is_no_repeat() -> None:
    text = "Labels are free. [1]\nReturns take 60 days. [2]"
    assert without_repeats(text) == text
