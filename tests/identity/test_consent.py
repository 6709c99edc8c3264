"""Consent decisions: defaults, the latest decision wins, ``*`` covers every channel."""

from __future__ import annotations

import pytest

from omnivox.identity.consent import ConsentStore, keyword
from omnivox.services import Services


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", False),
        (" stop. ", False),
        ("Unsubscribe", False),
        ("START", True),
        ("unstop", True),
        ("stop sending me the wrong size", None),
        ("yes please", None),
    ],
)
def test_sms_keywords(text: str, expected: bool | None) -> None:
    assert keyword(text) is expected


async def test_defaults_latest_decision_and_wildcard(services: Services) -> None:
    consents = ConsentStore(services.db)
    customer, _ = await services.store.resolve_customer(
        "acme", "phone", "+17205550150", verified=True
    )
    assert await consents.allows(customer, "support", "sms")  # they wrote to us
    assert not await consents.allows(customer, "marketing", "email")  # needs an opt-in
    await consents.record("acme", customer, "marketing", "email", True, "checkout checkbox")
    assert await consents.allows(customer, "marketing", "email")
    assert not await consents.allows(customer, "marketing", "sms")
    await consents.record("acme", customer, "marketing", "*", False, "asked by phone")
    assert not await consents.allows(customer, "marketing", "email")  # the latest decision wins
    await consents.record("acme", customer, "support", "sms", False, "sms keyword STOP")
    assert not await consents.allows(customer, "support", "sms")
    assert await consents.allows(customer, "support", "email")
    with pytest.raises(ValueError, match="unknown purpose"):
        await consents.record("acme", customer, "spam", "*", True, "x")
