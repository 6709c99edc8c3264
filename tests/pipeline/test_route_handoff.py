"""The route step's handoffs: the reasons a person gets, accepting the offer of a person."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnivox.channels.config import EmailSettings
from omnivox.channels.mail.channel import EmailChannel, ReceivedMail
from omnivox.channels.mail.parse import parse_mail
from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.pipeline.context import HANDED_OFF, TurnContext
from omnivox.pipeline.steps.route import RouteStep
from omnivox.pipeline.steps.understand import Understand
from omnivox.storage.repositories import StoredMessage
from omnivox.types import HistoryItem, utcnow
from omnivox.understanding.service import Understanding
from tests.conftest import make_settings
from tests.pipeline.test_route_step import context

INTENTS = [
    {"name": "store_hours", "examples": ["what time do you open", "are you open on sunday"]},
    {"name": "returns", "examples": ["return an item", "can I return my boots"]},
]


@pytest.fixture(scope="module")
def understanding(tmp_path_factory: pytest.TempPathFactory) -> Understanding:
    tmp = tmp_path_factory.mktemp("nlu")
    workspace = {"id": "acme", "name": "Acme", "understanding": {"intents": INTENTS}}
    nlu = Understanding(make_settings(tmp, workspaces=[workspace]), MiniLMEmbedder())
    nlu.get("acme").train(None)
    return nlu


class Desk:
    """Stands in for the handoff desk: records the reasons a person would get."""

    def __init__(self) -> None:
        self.reasons: list[list[str]] = []

    async def open(self, ctx: TurnContext, reasons: list[str]) -> str:
        self.reasons.append(list(reasons))
        return "A person will reply here."


async def test_a_callback_address_left_with_the_request_is_in_the_reasons(
    understanding: Understanding,
) -> None:
    text = "get me a manager! My email is pat.angry@example.net"
    ctx = context(understanding, text)
    ctx.callback = ("email", "pat.angry@example.net")  # verify's
    desk = Desk()
    ctx = await RouteStep(understanding, desk=desk)(ctx)  # type: ignore[arg-type]
    assert ctx.halted == HANDED_OFF
    assert desk.reasons[0][0] == "customer asked for a person"
    assert "the customer left their email for a reply (see their message)" in desk.reasons[0]


OFFERED = "I don't have that information — shall I connect you with a person?"


async def test_a_yes_to_the_offer_hands_off(understanding: Understanding) -> None:
    history = [HistoryItem("in", "do you ship to Mars", "api"), HistoryItem("out", OFFERED, "api")]
    ctx = await RouteStep(understanding)(context(understanding, "Ja, bitte", history=history))
    assert ctx.halted == HANDED_OFF and ctx.decision is not None
    assert ctx.decision.reasons[0] == "accepted the offer of a person"


async def test_the_same_offer_twice_in_a_row_hands_off_unless_declined(
    understanding: Understanding,
) -> None:
    history = [
        HistoryItem("in", "do you ship to Mars", "api"),
        HistoryItem("out", OFFERED, "api"),
        HistoryItem("in", "what about Venus", "api"),
        HistoryItem("out", OFFERED, "api"),
    ]
    ctx = await RouteStep(understanding)(context(understanding, "and Jupiter", history=history))
    assert ctx.halted == HANDED_OFF and ctx.decision is not None  # was: the offer a third time
    assert ctx.decision.reasons[0] == "the offer of a person was made twice in a row"
    ctx = await RouteStep(understanding)(context(understanding, "no thanks", history=history))
    assert ctx.halted is None
    ctx = await RouteStep(understanding)(context(understanding, "and Jupiter", history=history[2:]))
    assert ctx.halted is None  # offered once: answered


@pytest.mark.parametrize(
    ("subject", "wants"),
    [
        ("Please have a real person call me, I want to speak to a manager", True),  # was False
        ("Re: Please have a real person call me, I want to speak to a manager", False),
        ("Broken zipper", False),
    ],
)
async def test_an_email_subject_asking_for_a_person_counts(
    understanding: Understanding, subject: str, wants: bool
) -> None:
    """Through the email channel: the subject was read from a key the channel never wrote."""
    body = "My order arrived with a broken zipper and this is the third time.\n\nJo"
    raw = f"From: jo@example.net\r\nSubject: {subject}\r\n\r\n{body}".encode()
    config = EmailSettings(addresses=["support@acme.example"])
    email = EmailChannel("acme", config, "Acme", "Juniper")
    [inbound] = await email.parse(ReceivedMail(parse_mail(raw), "support@acme.example"))
    settings = make_settings(Path("/tmp"), workspaces=[{"id": "acme", "name": "Acme"}])
    ctx = TurnContext(inbound, settings.workspaces[0], email, "turn_1")
    ctx.conversation_id = "conv_1"
    ctx.message = StoredMessage(
        "msg_1", "conv_1", "in", "email", inbound.text, "received", None, {}, utcnow()
    )
    ctx = await Understand(understanding, None)(ctx)  # type: ignore[arg-type]
    assert ctx.analysis is not None and ctx.analysis.wants_person is wants
