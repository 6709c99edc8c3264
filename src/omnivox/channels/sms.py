"""SMS text: GSM-7 or UCS-2, and segment counts."""

from __future__ import annotations

# GSM 03.38 basic character set, and the extension table (each costs two septets)
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    """True when every character fits the GSM-7 alphabet (else the message is UCS-2)."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def segments(text: str) -> int:
    """How many SMS segments ``text`` takes (160/153 septets GSM-7, 70/67 UTF-16 units UCS-2).

    A part of a long message never splits an escaped GSM-7 character (two septets) or a
    surrogate pair (an emoji): such a character that does not fit moves to the next part.
    """
    if not text:
        return 1
    if is_gsm7(text):
        costs = [2 if ch in GSM_EXTENDED else 1 for ch in text]
        single, multi = 160, 153
    else:
        costs = [len(ch.encode("utf-16-le")) // 2 for ch in text]
        single, multi = 70, 67
    if sum(costs) <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            count, used = count + 1, 0
        used += cost
    return count
