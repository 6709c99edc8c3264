"""Find personal data in text: emails, phones, payment cards, IBANs, US SSNs, IP addresses.

Pattern recognizers with checks that cut false positives: cards must pass Luhn, IBANs mod-97,
SSNs the SSA's invalid ranges, IP addresses Python's parser, phones libphonenumber's
"possible number" test. Each finding is a span with its kind; overlapping findings keep the
longest (a card number is not also a phone number).

A conversation's recent messages are redacted again on every turn (the model sees its history
through placeholders), and libphonenumber's matcher is slow (~0.1 ms for a short message, ~0.4
ms for a 40-word reply): :func:`find` remembers the spans it found for the last
``SPAN_CACHE_ENTRIES`` texts, keyed by a digest of the text, region and profile values, so a
history message costs a digest instead. The cache holds spans and digests only, never a text or
a value.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers

KINDS = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP", "NAME")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", re.IGNORECASE)
_IBAN_HEAD = re.compile(r"[A-Z]{2}(?:\d{2} ?)?$", re.IGNORECASE)
_SSN = re.compile(r"(?<!\d)(\d{3})-(\d{2})-(\d{4})(?!\d)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![\w:])")
SPAN_CACHE_ENTRIES = 4096  # texts whose findings are remembered (spans only; ~1 MB at most)


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data: its kind and span in the text."""

    kind: str
    start: int
    end: int
    text: str


def luhn(digits: str) -> bool:
    """The Luhn checksum every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616 mod-97 check (any case)."""
    compact = text.replace(" ", "").upper()
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    return (
        area not in ("000", "666")
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )


Span = tuple[str, int, int]  # a finding without its text: kind, start, end


class _SpanCache:
    """The last texts' findings as spans, by a digest of what :func:`find` was asked."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._spans: OrderedDict[bytes, tuple[Span, ...]] = OrderedDict()
        self._lock = threading.Lock()  # redaction also runs in worker threads

    @staticmethod
    def key(text: str, region: str, known: Sequence[tuple[str, str]]) -> bytes:
        """A digest of everything the findings depend on (lengths keep the fields apart)."""
        digest = hashlib.blake2b(digest_size=16)
        for part in (region, text, *(field for pair in known for field in pair)):
            encoded = part.encode("utf-8", "surrogatepass")
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)
        return digest.digest()

    def get(self, key: bytes) -> tuple[Span, ...] | None:
        """The spans remembered under ``key`` (now the most recent), or None."""
        with self._lock:
            spans = self._spans.get(key)
            if spans is not None:
                self._spans.move_to_end(key)
            return spans

    def put(self, key: bytes, spans: tuple[Span, ...]) -> None:
        """Remember ``spans``, forgetting the least recent beyond ``entries``."""
        with self._lock:
            self._spans[key] = spans
            while len(self._spans) > self.entries:
                self._spans.popitem(last=False)


_SPANS = _SpanCache(SPAN_CACHE_ENTRIES)


def find(text: str, region: str = "US", known: Sequence[tuple[str, str]] = ()) -> list[Finding]:
    """Every finding in ``text`` (known profile values included), without overlaps."""
    key = _SpanCache.key(text, region, known)
    spans = _SPANS.get(key)
    if spans is None:
        found = _find(text, region, known)
        _SPANS.put(key, tuple((f.kind, f.start, f.end) for f in found))
        return found
    return [Finding(kind, start, end, text[start:end]) for kind, start, end in spans]


def _find(text: str, region: str, known: Sequence[tuple[str, str]]) -> list[Finding]:
    """:func:`find` without the cache."""
    found: list[Finding] = []
    found += [Finding("EMAIL", m.start(), m.end(), m.group(0)) for m in _EMAIL.finditer(text)]
    for m in _CARD.finditer(text):
        if _IBAN_HEAD.search(text[: m.start()]):  # digits of an (invalid) IBAN, not a card
            continue
        card = _card_in(m.group(0))
        if card is not None:
            found.append(Finding("CARD", m.start(), m.start() + len(card), card))
    for m in _IBAN.finditer(text):
        iban = _iban_in(m.group(0))
        if iban is not None:
            found.append(Finding("IBAN", m.start(), m.start() + len(iban), iban))
    found += [
        Finding("SSN", m.start(), m.end(), m.group(0))
        for m in _SSN.finditer(text)
        if _ssn_valid(*m.groups())
    ]
    found += [Finding("IP", m.start(), m.end(), m.group(0)) for m in _ips(text)]
    lenient = phonenumbers.Leniency.POSSIBLE
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=lenient):
        if _phone_shaped(match.raw_string):
            found.append(Finding("PHONE", match.start, match.end, match.raw_string))
    for kind, value in known:
        found += _known(text, kind, value)
    return _without_overlaps(found)


def _card_in(run: str) -> str | None:
    """The card number a run of digit groups starts with, or None.

    A run may go on into an expiry or a CVV ("4242 4242 4242 4242 123"): the longest start
    that passes Luhn wins.
    """
    ends = [g.end() for g in re.finditer(r"\d+", run)]
    for end in reversed(ends):
        digits = re.sub(r"\D", "", run[:end])
        if 13 <= len(digits) <= 19 and luhn(digits):
            return run[:end]
    return None


def _iban_in(run: str) -> str | None:
    """The valid IBAN a match starts with: it may run on into the next word ("... 00 BIC")."""
    while True:
        if len(run.replace(" ", "")) >= 15 and iban_valid(run):
            return run
        if " " not in run:
            return None
        run = run.rsplit(" ", 1)[0]


def _phone_shaped(raw: str) -> bool:
    """Written like a phone number: no one-digit groups after the country code (not 1.2.3.4567).

    "Possible" numbers (not "valid": numbering plans change, and 555-01xx is fictional but
    real-looking) are otherwise too lenient. A number written with its "+" is international on
    purpose: one-digit groups are how some countries write it (+33 6 12 34 56 78), and a UK
    number often shows its trunk zero as "(0)".
    """
    if raw.lstrip().startswith("+"):
        return True
    groups = re.findall(r"\d+", raw)
    return not any(len(g) == 1 for g in groups[1:])


def _ips(text: str) -> list[re.Match[str]]:
    out = []
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(text):
            try:
                ipaddress.ip_address(m.group(0))
            except ValueError:
                continue
            out.append(m)
    return out


def _known(text: str, kind: str, value: str) -> list[Finding]:
    """Occurrences of a profile value (a name matches as whole words, any case)."""
    if len(value) < 2:
        return []
    pattern = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)
    return [Finding(kind, m.start(), m.end(), m.group(0)) for m in pattern.finditer(text)]


def _without_overlaps(found: list[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (f.start, -(f.end - f.start))):
        if kept and f.start < kept[-1].end:
            continue
        kept.append(f)
    return kept
