"""Recognizers find personal data (with checksums against false positives); the vault's
placeholders are stable within a conversation and restored only where policy allows."""

from __future__ import annotations

import pytest

from omnivox.privacy.recognizers import find, iban_valid, luhn
from omnivox.privacy.vault import Vault


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("write to jane.doe+orders@example.co.uk please", "EMAIL", "jane.doe+orders@example.co.uk"),
        ("call me at (720) 555-0123 tonight", "PHONE", "(720) 555-0123"),
        ("my number is +44 20 7946 0958", "PHONE", "+44 20 7946 0958"),
        ("card 4111-1111-1111-1111 expired", "CARD", "4111-1111-1111-1111"),
        ("IBAN GB82 WEST 1234 5698 7654 32 is mine", "IBAN", "GB82 WEST 1234 5698 7654 32"),
        ("SSN 078-05-1120.", "SSN", "078-05-1120"),
        ("from 203.0.113.7.", "IP", "203.0.113.7"),
        ("from 2001:db8::ff00:42:8329 today", "IP", "2001:db8::ff00:42:8329"),
    ],
)
def test_each_kind_is_found(text: str, kind: str, value: str) -> None:
    assert [(f.kind, f.text) for f in find(text)] == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "order ACM-482193 for $45.99 on 2026-11-28",
        "card 4111-1111-1111-1112 (fails Luhn)",
        "IBAN GB82 WEST 1234 5698 7654 33 (fails mod-97)",
        "SSN 666-45-6789 and 000-12-3456 are never issued",
        "version 1.2.3.4567 and 999.1.1.1",
        "meet at 10:30:15",
        "size 42, 3 pairs",
    ],
)
def test_look_alikes_are_not_personal_data(text: str) -> None:
    assert find(text) == []


def test_checksums() -> None:
    assert luhn("4242424242424242") and not luhn("4242424242424241")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid(
        "DE89 3704 0044 0532 0130 01"
    )


def test_known_profile_values_match_as_whole_words() -> None:
    known = [("NAME", "Maya Thompson"), ("NAME", "Maya")]
    found = find("maya thompson here; Mayan ruins; MAYA", known=known)
    assert [(f.kind, f.text) for f in found] == [("NAME", "maya thompson"), ("NAME", "MAYA")]


def test_placeholders_are_stable_per_conversation_and_restored_by_policy() -> None:
    one, again, other = Vault(b"k", "conv_1"), Vault(b"k", "conv_1"), Vault(b"k", "conv_2")
    text = "I'm Maya, maya@example.com, card 4242 4242 4242 4242"
    known = [("NAME", "Maya")]
    redacted = one.redact(text, known)
    assert "maya@example.com" not in redacted and "4242" not in redacted and "Maya" not in redacted
    assert again.redact(text, known) == redacted != other.redact(text, known)
    email = next(p for p in one.values if p.startswith("<EMAIL_"))
    card = next(p for p in one.values if p.startswith("<CARD_"))
    reply = (
        f"Thanks {next(p for p in one.values if p.startswith('<NAME_'))}! {email} {card} <SSN_0000>"
    )
    assert one.restore(reply) == "Thanks Maya! maya@example.com •••• 4242 "
