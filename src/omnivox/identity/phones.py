"""Phone numbers as customers write them: only whole numbers, "00" read as "+".

A phone number is one that dials in full: with its country code ("+44 20 7946 0958", "0044 20
7946 0958"), or in the workspace's ``phone_region`` with its area code and the full length
("415 555 0100" in the US). "555-0100" (a US number without its area code) is no number: read
as the US it would become ``+15550100``, which no one can dial, and a code or a ``tel:`` link
sent there goes nowhere.

Whole means phonenumbers' IS_POSSIBLE (the right length for the country, not merely for a
local call), not ``is_valid_number``: validity checks the number against the ranges the
installed phonenumbers release knows to be assigned, and numbering plans change faster than a
deployment upgrades (a new area code or overlay would refuse real customers until then); a
number that is whole but unassigned fails where it is dialled, as any wrong number does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers
from phonenumbers import PhoneMetadata, ValidationResult

# "0044 …": 00 dials abroad in most of the world; read as "+" where the region dials out otherwise
_ZERO_ZERO = re.compile(r"(?<![\w+])00(?=\s?[1-9])")


def whole_number(written: str, region: str) -> phonenumbers.PhoneNumber | None:
    """The phone number ``written`` is, read for ``region``, when it dials in full; else None."""
    try:
        number = phonenumbers.parse(dialable(written, region), region)
    except phonenumbers.NumberParseException:
        return None
    reason = phonenumbers.is_possible_number_with_reason(number)
    return number if reason == ValidationResult.IS_POSSIBLE else None


def dialable(text: str, region: str) -> str:
    """``text`` with a 00 that does not dial abroad from ``region`` made "+".

    "0044 …" in the US, which dials out with 011 (not Australia's "0011 44 …"). Same length as
    ``text``, so positions found in it are positions in ``text``.
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    abroad = metadata.international_prefix if metadata else None  # a pattern: US 011

    def plus(zeros: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", text[zeros.start() : zeros.start() + 12])
        return zeros.group(0) if abroad and re.match(abroad, digits) else " +"

    return _ZERO_ZERO.sub(plus, text)


def numbers_in(text: str, region: str) -> Iterator[tuple[int, str]]:
    """(position, number as written) of each phone number phonenumbers finds in ``text``.

    Found with "00" read as "+" (:func:`dialable`), so "0044 20 7946 0958" is found in the US,
    from its 00; whether each is whole is for the caller to ask (:func:`whole_number`).
    """
    plus = dialable(text, region)
    leniency = phonenumbers.Leniency.POSSIBLE
    for match in phonenumbers.PhoneNumberMatcher(plus, region, leniency=leniency):
        start = match.start - (plus[match.start] != text[match.start])  # "0044": from 00
        yield start, text[start : match.end]
