"""Where and when the customer asked to be reached back, for the handoff packet.

"Please call me back on +1 415 555 0100 after 5pm": the verify step found the number the customer
left with their request for a person (``TurnContext.callback``); the packet gets it as
``{"kind": "phone", "address": "+14155550100", "when": "after 5pm"}``: the number in E.164 where
it parses for the workspace's ``phone_region`` (as written otherwise), and the time they asked
for, as they wrote it, in any language a call-back request is read in
(:mod:`omnivox.handoff.when`), or None. An email left that way is
``{"kind": "email", "address": …}``. The packet is stored encrypted, like the message.

A number need not follow a claim ("my number is …"): in a request to be called back, a phone
number anywhere in the message is where to call ("Please call me back. +1 415 555 0100", "Can
someone phone me? 0044 20 7946 0958"; :func:`phone_in`). An order or reference number ("#12345",
"order 4155550100"), a date ("12.05.2026") or a number too short to dial from abroad ("555 0100")
is not one.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneMetadata, ValidationResult

from omnivox.handoff.when import requested_time
from omnivox.identity.verification import VerificationError, normalize


def callback(left: tuple[str, str] | None, text: str, region: str) -> dict[str, str | None] | None:
    """The packet's ``callback`` for an address ``left`` in ``text`` (None without one)."""
    if left is None:
        return None
    kind, address = left
    try:
        written = _dialable(address, region) if kind == "phone" else address
        address = normalize(kind, written, region)
    except VerificationError:
        address = address.strip()
    when = requested_time(text.replace(left[1], " | "))  # "on X tomorrow": not "on tomorrow"
    return {"kind": kind, "address": address, "when": when}


# what comes right before an order or reference number: "#", "order", "pedido", "заказ №"
_REFERENCE = re.compile(
    r"(?:#|\b(?:order|ref|reference|ticket|invoice|tracking|pedido|commande|bestellung|auftrag"
    r"|ordine|encomenda|bestelling|заказ\w*|zam[óo]wieni\w*|sipari[sş]\w*)"
    r"(?:\s+(?:number|no\.?|nr\.?|num[eé]ro|nummer|n[°º]|№|#))?)\s*[:.]?\s*$",
    re.I,
)
_DATE = re.compile(r"\d{1,2}([./-])\d{1,2}\1(?:\d{4}|\d{2})|\d{4}([./-])\d{1,2}\2\d{1,2}")
# "0044 …": 00 dials abroad in most of the world; read as "+" where the region dials out otherwise
_ZERO_ZERO = re.compile(r"(?<![\w+])00(?=\s?[1-9])")


def phone_in(text: str, region: str) -> tuple[int, str] | None:
    """(position, number as written) of the first phone number anywhere in ``text``, or None.

    A phone number is one that parses for ``region`` in full (with its area code, or with its
    country code, "+44 …" or "0044 …"); an order or reference number, a date, or a number that
    is not a phone for ``region`` is skipped.
    """
    dialable = _dialable(text, region)
    leniency = phonenumbers.Leniency.POSSIBLE
    for match in phonenumbers.PhoneNumberMatcher(dialable, region, leniency=leniency):
        start = match.start - (dialable[match.start] != text[match.start])  # "0044": from 00
        written = text[start : match.end]
        if _is_phone(written, region) and not _REFERENCE.search(text[:start]):
            return start, written
    return None


def _is_phone(written: str, region: str) -> bool:
    """Whether ``written`` dials in full from ``region`` and is not a date."""
    if _DATE.fullmatch(written.strip()):
        return False
    try:
        number = phonenumbers.parse(_dialable(written, region), region)
    except phonenumbers.NumberParseException:
        return False
    reason = phonenumbers.is_possible_number_with_reason(number)
    return bool(reason == ValidationResult.IS_POSSIBLE)


def _dialable(text: str, region: str) -> str:
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
