"""Entities found in a customer message: email, phone (E.164), order numbers, dates, amounts.

Each entity keeps the text it came from, its span and a normalised ``value`` (an E.164 number,
an ISO date, ``"12.50 USD"``). Dates are resolved against the message's own timestamp, so
"yesterday" means the day before the customer wrote, not the day the message is read.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import phonenumbers

EntityKind = Literal["email", "phone", "order_number", "date", "amount"]

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>\d{4}))?"
DATE_PATTERNS = (
    re.compile(r"\b(?P<year>\d{4})-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b"),
    re.compile(r"\b(?P<month>[01]?\d)/(?P<day>[0-3]?\d)(?:/(?P<year>\d{4}|\d{2}))?\b"),
    re.compile(rf"\b(?P<mname>{_MONTH_RE})\.?\s+{_DAY}\b{_YEAR}", re.IGNORECASE),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?(?P<mname>{_MONTH_RE})\b\.?{_YEAR}", re.IGNORECASE),
)
RELATIVE_DAYS = {"today": 0, "tonight": 0, "yesterday": -1, "tomorrow": 1}
RELATIVE = re.compile(r"\b(today|tonight|yesterday|tomorrow)\b", re.IGNORECASE)
_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_CURRENCY_WORDS = {
    "usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "eur": "EUR",
    "euro": "EUR", "euros": "EUR", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
    "cad": "CAD", "aud": "AUD", "jpy": "JPY", "yen": "JPY", "inr": "INR", "rupees": "INR",
}  # fmt: skip
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_WORDS_RE = "|".join(sorted(_CURRENCY_WORDS, key=len, reverse=True))
AMOUNT_PATTERNS = (
    re.compile(rf"(?P<sym>[$€£¥₹])\s?(?P<num>{_NUMBER})"),
    re.compile(rf"\b(?P<num>{_NUMBER})\s?(?P<word>{_WORDS_RE})\b", re.IGNORECASE),
    re.compile(rf"\b(?P<word>USD|EUR|GBP|CAD|AUD)\s?(?P<num>{_NUMBER})\b"),
)


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity: its kind, the text as written, the normalised value and the span."""

    kind: EntityKind
    text: str
    value: str
    start: int
    end: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored on the message."""
        return asdict(self)


class EntityExtractor:
    """Finds entities with patterns and ``phonenumbers``; one instance per workspace."""

    def __init__(self, order_pattern: str | None = None, default_region: str = "US") -> None:
        # whole tokens only: "ACM-4825771" and "XACM-482193" are no ACM-\d{6} order numbers
        # (unanchored, they looked up ACM-482577 and ACM-482193)
        self.order_re = (
            re.compile(rf"(?<![\w-])(?:{order_pattern})(?![\w-])", re.IGNORECASE)
            if order_pattern
            else None
        )
        self.default_region = default_region

    def extract(self, text: str, now: datetime | None = None) -> list[Entity]:
        """All entities in ``text``, in order of appearance, without overlaps."""
        today = (now or datetime.now()).date()
        found = [
            *self._emails(text),
            *self._orders(text),
            *self._phones(text),
            *self._dates(text, today),
            *self._amounts(text),
        ]
        return _without_overlaps(found)

    def _emails(self, text: str) -> list[Entity]:
        return [
            Entity("email", m.group(0), m.group(0).lower(), m.start(), m.end())
            for m in EMAIL.finditer(text)
        ]

    def _orders(self, text: str) -> list[Entity]:
        if self.order_re is None:
            return []
        return [
            Entity("order_number", m.group(0), m.group(0).upper(), m.start(), m.end())
            for m in self.order_re.finditer(text)
        ]

    def _phones(self, text: str) -> list[Entity]:
        out = []
        for match in phonenumbers.PhoneNumberMatcher(text, self.default_region):
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            out.append(Entity("phone", match.raw_string, e164, match.start, match.end))
        return out

    def _dates(self, text: str, today: date) -> list[Entity]:
        out = []
        for pattern in DATE_PATTERNS:
            for m in pattern.finditer(text):
                value = _absolute_date(m, today)
                if value is not None:
                    out.append(Entity("date", m.group(0), value.isoformat(), m.start(), m.end()))
        for m in RELATIVE.finditer(text):
            value = today + timedelta(days=RELATIVE_DAYS[m.group(1).lower()])
            out.append(Entity("date", m.group(0), value.isoformat(), m.start(), m.end()))
        return out

    def _amounts(self, text: str) -> list[Entity]:
        out = []
        for pattern in AMOUNT_PATTERNS:
            for m in pattern.finditer(text):
                groups = m.groupdict()
                symbol, word = groups.get("sym"), groups.get("word")
                currency = (
                    _CURRENCY_SYMBOLS[symbol] if symbol else _CURRENCY_WORDS[str(word).lower()]
                )
                number = m.group("num").replace(",", "")
                value = f"{float(number):.2f} {currency}"
                out.append(Entity("amount", m.group(0), value, m.start(), m.end()))
        return out


def _absolute_date(match: re.Match[str], today: date) -> date | None:
    groups = match.groupdict()
    month = _MONTHS[groups["mname"].lower()] if groups.get("mname") else int(groups["month"])
    year_text = groups.get("year")
    if year_text is None:
        year = today.year
    else:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    try:
        return date(year, month, int(groups["day"]))
    except ValueError:
        return None


def _without_overlaps(entities: list[Entity]) -> list[Entity]:
    """Where spans overlap keep the one that starts first, then the longest."""
    kept: list[Entity] = []
    for entity in sorted(entities, key=lambda e: (e.start, -(e.end - e.start))):
        if not any(entity.start < k.end and k.start < entity.end for k in kept):
            kept.append(entity)
    return kept
