"""Recognizers find personal data (with checksums against false positives); the vault's
placeholders are stable within a conversation and restored only where policy allows."""

from __future__ import annotations

import pytest

from omnivox.privacy import recognizers
from omnivox.privacy.recognizers import KINDS, find, iban_valid, luhn
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
        # each of these reached the model until 2026-12-05
        ("mon portable +33 6 12 34 56 78 merci", "PHONE", "+33 6 12 34 56 78"),
        ("ring +44 (0)20 7946 0958 please", "PHONE", "+44 (0)20 7946 0958"),
        ("card 4242 4242 4242 4242 12/27", "CARD", "4242 4242 4242 4242"),
        ("card 4111-1111-1111-1111 123 is the cvv", "CARD", "4111-1111-1111-1111"),
        ("iban de89 3704 0044 0532 0130 00 thanks", "IBAN", "de89 3704 0044 0532 0130 00"),
        ("IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", "IBAN", "DE89 3704 0044 0532 0130 00"),
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
    name = next(p for p in one.values if p.startswith("<NAME_"))
    reply = f"Thanks {name}! {email} {card} <SSN_00000000>"
    assert one.restore(reply) == "Thanks Maya! maya@example.com •••• 4242 "


def test_a_text_seen_before_reuses_its_spans_and_the_cache_keeps_no_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = recognizers._SpanCache(recognizers.SPAN_CACHE_ENTRIES)
    monkeypatch.setattr(recognizers, "_SPANS", cache)
    calls: list[str] = []
    real = recognizers._find

    def counted(text: str, region: str, known: object) -> list[recognizers.Finding]:
        calls.append(text)
        return real(text, region, known)  # type: ignore[arg-type]

    monkeypatch.setattr(recognizers, "_find", counted)
    text = "I'm Maya: maya@example.com, (720) 555-0123, card 4242 4242 4242 4242"
    known = [("NAME", "Maya")]
    first = find(text, known=known)
    assert find(text, known=known) == first and len(calls) == 1
    assert [f.kind for f in first] == ["NAME", "EMAIL", "PHONE", "CARD"]
    # the region and the profile values are part of what was asked: each is its own entry
    assert [f.kind for f in find(text)] == ["EMAIL", "PHONE", "CARD"]
    assert find(text, region="GB", known=known)[0].kind == "NAME"
    assert len(calls) == 3
    stored = [part for spans in cache._spans.values() for span in spans for part in span]
    assert all(isinstance(p, int) or p in KINDS for p in stored)  # kinds and offsets only
    assert all(isinstance(k, bytes) and len(k) == 16 for k in cache._spans)


def test_the_span_cache_forgets_the_least_recent_text(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = recognizers._SpanCache(2)
    monkeypatch.setattr(recognizers, "_SPANS", cache)
    texts = ["mail a@example.com", "mail b@example.com", "mail c@example.com"]
    find(texts[0]), find(texts[1]), find(texts[0]), find(texts[2])  # texts[1] is least recent
    keys = [recognizers._SpanCache.key(t, "US", ()) for t in texts]
    assert list(cache._spans) == [keys[0], keys[2]]
    assert cache.get(keys[0]) == (("EMAIL", 5, 18),)
