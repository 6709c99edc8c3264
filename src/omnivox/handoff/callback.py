"""Where and when the customer asked to be reached back, for the handoff packet.

"Please call me back on +1 415 555 0100 after 5pm": the verify step found the number the customer
left with their request for a person (``TurnContext.callback``); the packet gets it as
``{"kind": "phone", "address": "+14155550100", "when": "after 5pm"}``: the number in E.164 where
it parses for the workspace's ``phone_region`` (as written otherwise), and the time they asked
for, as they wrote it, in any language a call-back request is read in
(:mod:`omnivox.handoff.when`), or None. An email left that way is
``{"kind": "email", "address": …}``. The packet is stored encrypted, like the message.
"""

from __future__ import annotations

from omnivox.handoff.when import requested_time
from omnivox.identity.verification import VerificationError, normalize


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
