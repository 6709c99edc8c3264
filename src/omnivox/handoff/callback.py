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

from omnivox.handoff.when import requested_time
from omnivox.identity.phones import numbers_in, whole_number
from omnivox.identity.verification import VerificationError, normalize


def callback(
    left: tuple[str, str] | None, text: str, region: str, language: str | None = None
) -> dict[str, str | None] | None:
    """The packet's ``callback`` for an address ``left`` in ``text`` (None without one).

    ``language``: the message's reliably detected language, if any (:func:`requested_time`).
    """
    if left is None:
        return None
    kind, address = left
    try:
        address = normalize(kind, address, region)
    except VerificationError:
        address = address.strip()
    # "on X tomorrow": not "on tomorrow"
    when = requested_time(text.replace(left[1], " | "), language)
    return {"kind": kind, "address": address, "when": when}


# what comes right before an order or reference number: "#", "order", "pedido", "заказ №",
# "Ref. "; not a word that ends a sentence ("… about my order. +1 415 555 0100" is a phone)
_REFERENCE = re.compile(
    r"(?:#|\b(?:ref\.|(?:order|ref|reference|ticket|invoice|tracking|pedido|commande|bestellung"
    r"|auftrag|ordine|encomenda|bestelling|заказ\w*|zam[óo]wieni\w*|sipari[sş]\w*)"
    r"(?:\s+(?:number|no\.?|nr\.?|num[eé]ro|nummer|n[°º]|№|#))?))[\s:]*$",
    re.I,
)
_DATE = re.compile(r"\d{1,2}([./-])\d{1,2}\1(?:\d{4}|\d{2})|\d{4}([./-])\d{1,2}\2\d{1,2}")


def phone_in(text: str, region: str) -> tuple[int, str] | None:
    """(position, number as written) of the first phone number anywhere in ``text``, or None.

    A phone number is one that parses for ``region`` in full (with its area code, or with its
    country code, "+44 …" or "0044 …"); an order or reference number, a date, or a number that
    is not a phone for ``region`` is skipped.
    """
    for start, written in numbers_in(text, region):
        if _is_phone(written, region) and not _REFERENCE.search(text[:start]):
            return start, written
    return None


def _is_phone(written: str, region: str) -> bool:
    """Whether ``written`` dials in full from ``region`` and is not a date."""
    return not _DATE.fullmatch(written.strip()) and whole_number(written, region) is not None
