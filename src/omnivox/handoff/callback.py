"""Where and when the customer asked to be reached back, for the handoff packet.

"Please call me back on +1 415 555 0100 after 5pm": the verify step found the number the customer
left with their request for a person (``TurnContext.callback``); the packet gets it as
``{"kind": "phone", "address": "+14155550100", "when": "after 5pm"}``: the number in E.164 where
it parses for the workspace's ``phone_region`` (as written otherwise), and the time they asked
for, as they wrote it (no time zone is guessed), or None. An email left that way is
``{"kind": "email", "address": …}``. The packet is stored encrypted, like the message.
"""

from __future__ import annotations

import re

from omnivox.identity.verification import VerificationError, normalize

_CLOCK = r"\d{1,2}(?:[:.]\d{2})?\s*(?:[ap]\.?m\b\.?|o'?clock\b)"  # 5pm, 5:30 pm, 9 a.m., 5 o'clock
_HOUR = rf"(?:{_CLOCK}|\d{{1,2}}(?:[:.]\d{{2}})?\b)"
_DAY = r"(?:today|tomorrow|tonight|(?:on\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day)"
_PART = r"(?:morning|afternoon|evening|night|lunch(?:time)?|noon|midday)"
# the phrases that say when: "after 5pm", "between 2 and 4pm", "tomorrow morning", "at 10:30",
# "this afternoon", "asap"; a bare hour needs a word that makes it one ("after 5", not "at 5")
_WHEN = re.compile(
    rf"\b(?:between\s+{_HOUR}\s*(?:and|-|–|to)\s*{_HOUR}"
    rf"|from\s+{_HOUR}\s*(?:-|–|to|until|till)\s*{_HOUR}|{_HOUR}\s*(?:-|–|to)\s*{_CLOCK}"
    rf"|(?:after|before|around|from|until|till|not\s+before)\s+{_HOUR}"
    rf"|(?:at|by|about)\s+(?:{_CLOCK}|\d{{1,2}}:\d{{2}}\b)|{_CLOCK}"
    rf"|{_DAY}(?:\s+{_PART})?|(?:this|in\s+the|at|around|after|before)\s+{_PART}"
    r"|asap|as\s+soon\s+as\s+possible|any\s*time|right\s+away)",
    re.I,
)


def callback(left: tuple[str, str] | None, text: str, region: str) -> dict[str, str | None] | None:
    """The packet's ``callback`` for an address ``left`` in ``text`` (None without one)."""
    if left is None:
        return None
    kind, address = left
    try:
        address = normalize(kind, address, region)
    except VerificationError:
        address = address.strip()
    when = requested_time(text.replace(left[1], " | "))  # "on X tomorrow": not "on tomorrow"
    return {"kind": kind, "address": address, "when": when}


def requested_time(text: str) -> str | None:
    """When the customer asked to be reached ("tomorrow after 5pm"), as written, or None."""
    found = [" ".join(m.group(0).split()) for m in _WHEN.finditer(text)]
    return " ".join(found) or None
