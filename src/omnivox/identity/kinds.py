"""Which identifier a channel's sender address is.

SMS, voice and WhatsApp senders are all phone numbers (E.164, WhatsApp's ``wa_id`` gains its
``+``), so one number is one identity whichever of them it writes from; email addresses compare
in lower case. Every other channel's sender id is its own kind (``webchat`` visitor ids,
``telegram`` chat ids, ``slack`` users, ``messenger`` PSIDs, ``api`` customer ids).

A sender address the channel itself vouches for (the provider signed the webhook, the carrier
delivered the SMS, the browser holds the visitor id) is proven for its own kind. The REST API's
``customer.id`` is not: any caller can type one.
"""

from __future__ import annotations

_PHONE_CHANNELS = frozenset({"sms", "voice", "whatsapp"})
NAMES = {
    "webchat": "web chat",
    "api": "chat",
    "sms": "text messages",
    "voice": "phone call",
    "whatsapp": "WhatsApp",
    "messenger": "Messenger",
    "telegram": "Telegram",
    "slack": "Slack",
    "email": "email",
}


def identity_of(channel: str, address: str) -> tuple[str, str]:
    """(kind, normalized address) of a channel's sender."""
    if channel in _PHONE_CHANNELS:
        digits = address.strip()
        return "phone", digits if digits.startswith("+") else f"+{digits}"
    if channel == "email":
        return "email", address.strip().lower()
    return channel, address


def proven_by_channel(kind: str) -> bool:
    """Whether an identifier of this kind is proven by the channel it arrives on."""
    return kind != "api"


def display_name(channel: str) -> str:
    """A channel as people say it ("web chat", "text messages")."""
    return NAMES.get(channel, channel)


def continuity_lead(previous: str) -> str:
    """The sentence a reply starts with when the conversation moved here from ``previous``."""
    return f"Following up on our {display_name(previous)} conversation."
