"""The verify step on its own: a request for a person with an address, the phone, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omnivox.channels.api import ApiChannel
from omnivox.identity.verification import Started, VerificationError
from omnivox.pipeline.context import TurnContext
from omnivox.pipeline.steps.verify import Verify
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import make_settings


class Verifier:
    """Records the verifications started; ``error``: what start raises instead."""

    def __init__(self, error: VerificationError | None = None) -> None:
        self.started: list[tuple[str, str]] = []
        self.error = error

    async def expects_code(self, workspace_id: str, customer_id: str) -> bool:
        return False

    async def start(self, ws: str, customer: str, kind: str, address: str, **_: Any) -> Started:
        if self.error is not None:
            raise self.error
        self.started.append((kind, address))
        return Started("ver_1", kind, address, "2026-12-05T00:00:00")


def context(text: str, channel: str = "api", region: str = "US") -> TurnContext:
    workspace = {"id": "acme", "name": "Acme", "understanding": {"phone_region": region}}
    settings = make_settings(Path("/tmp"), workspaces=[workspace])
    ctx = TurnContext(
        InboundMessage("acme", channel, CustomerRef("c1"), text),
        settings.workspaces[0],
        ApiChannel(),
        "turn_1",
    )
    ctx.customer_id = "cus_x"
    return ctx


@pytest.mark.parametrize(
    ("text", "callback"),
    [
        (
            "I want to speak to a real person. Please have someone call me, my number is "
            "303-555-0177",
            ("phone", "303-555-0177"),
        ),
        (
            "Please call me back on +1 415 555 0100 after 5pm",  # was: answered as a question
            ("phone", "+1 415 555 0100"),
        ),
        (
            "This is the third time I'm asking, get me a manager! "
            "My email is pat.angry@example.net",
            ("email", "pat.angry@example.net"),
        ),
        # no claim, but a call-back request: the number in it is where to call (was: none)
        ("Rappelez-moi au +33 6 12 34 56 78 svp", ("phone", "+33 6 12 34 56 78")),
        ("Bitte um Rückruf: +49 30 1234567", ("phone", "+49 30 1234567")),
        ("Call me tomorrow, 415 555 0100", ("phone", "415 555 0100")),
        # in a sentence of its own, "00" for "+" where the region dials out with 011 (was: none)
        ("Can someone phone me? 0044 20 7946 0958", ("phone", "0044 20 7946 0958")),
        # an order number before it is not where to call (was: "1234567")
        (
            "Please call me back about order #1234567. 415 555 0100",
            ("phone", "415 555 0100"),
        ),
        # "order" ending the sentence before it is no order number (was: None)
        ("Please call me back about my order. +1 415 555 0100", ("phone", "+1 415 555 0100")),
        ("Llámame, es sobre mi pedido. +34 612 345 678", ("phone", "+34 612 345 678")),
    ],
)
async def test_a_request_for_a_person_with_an_address_is_no_verification(
    text: str, callback: tuple[str, str]
) -> None:
    verifier = Verifier()
    ctx = await Verify(verifier, None)(context(text))  # type: ignore[arg-type]
    assert verifier.started == [] and ctx.halted is None  # was: "I've sent a 6-digit code"
    assert ctx.callback == callback  # route hands off and says an address was left


async def test_a_number_without_a_call_back_request_is_left_alone() -> None:
    ctx = await Verify(Verifier(), None)(context("Is 415 555 0100 your store's number?"))  # type: ignore[arg-type]
    assert ctx.callback is None and ctx.halted is None


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("Please call me back about order #1234567", "US"),  # was: ("phone", "1234567")
        ("Please call me back about order 4155550100", "US"),
        ("Please call me back, order number: 4155550100", "US"),
        ("Please call me back, Ref. 4155550100", "US"),
        ("Rufen Sie mich zurück wegen der Lieferung am 12.05.2026", "DE"),  # was: the date
        ("Can you call me back? It was delivered 2026-12-05", "GB"),
        ("Please call me back, 555-0100", "US"),  # no area code: not a number to dial
        ("Please call me back on 555-0100", "US"),  # the same after a claim (was: "555-0100")
        ("My number is 555-0100, call me back", "US"),
    ],
)
async def test_a_call_back_request_without_a_phone_number_leaves_none(
    text: str, region: str
) -> None:
    ctx = await Verify(Verifier(), None)(context(text, region=region))  # type: ignore[arg-type]
    assert ctx.callback is None and ctx.halted is None


async def test_no_code_is_sent_on_a_phone_call() -> None:
    verifier = Verifier()
    ctx = await Verify(verifier, None)(context("my number is 303-555-0177", "voice"))  # type: ignore[arg-type]
    assert verifier.started == [] and ctx.halted is None
    ctx = await Verify(verifier, None)(context("my number is 303-555-0177"))  # type: ignore[arg-type]
    assert verifier.started == [("phone", "303-555-0177")]


async def test_a_refusal_never_shows_the_customer_configuration() -> None:
    cause = "the code could not be sent: outbound email is disabled: set channels.email.relay"
    verifier = Verifier(VerificationError(502, "not_sent", cause))
    ctx = await Verify(verifier, None)(context("my email is jo@example.net"))  # type: ignore[arg-type]
    assert ctx.reply is not None
    assert "relay" not in ctx.reply.text and "channels." not in ctx.reply.text
    assert ctx.reply.text.startswith("Sorry, I couldn't verify that: I can't send")
    too_many = VerificationError(429, "too_many_codes", "too many codes asked for; try in an hour")
    ctx = await Verify(Verifier(too_many), None)(context("my email is jo@example.net"))  # type: ignore[arg-type]
    assert ctx.reply is not None and "too many codes asked for" in ctx.reply.text
