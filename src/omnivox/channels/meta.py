"""What Meta's platforms (Messenger, WhatsApp) share.

The webhook verify handshake, the ``X-Hub-Signature-256`` check over the raw body, and which of
the Graph API's send errors are worth another try.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omnivox.channels.base import ChannelError
from omnivox.types import InboundMessage

# Meta answers throttling and temporary trouble with an error code, often under HTTP 400: Graph
# API 1 (unknown, possibly downtime), 2 (service), 4 (app calls), 17 (user calls), 32 (Page
# calls), 341 (app limit), 613 (rate limit); Messenger 1200 (temporary send failure); WhatsApp
# 80007 (account rate limit), 130429 (throughput), 131016 (service unavailable), 131056 (pair
# rate limit: too many to one customer), 133004 (server temporarily unavailable)
TRANSIENT_CODES = frozenset(
    {1, 2, 4, 17, 32, 341, 613, 1200, 80007, 130429, 131016, 131056, 133004}
)


def transient(data: Mapping[str, Any]) -> bool:
    """Whether a Graph API error answer says to try again later (its code, or ``is_transient``)."""
    error = data.get("error")
    if not isinstance(error, dict):
        return False
    code = error.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    known = isinstance(code, int) and not isinstance(code, bool) and code in TRANSIENT_CODES
    return known or error.get("is_transient") is True


@dataclass
class MetaEvents:
    """What one webhook POST carried: messages to answer and delivery/read statuses."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)


def handshake(params: Mapping[str, str], verify_token: str) -> str:
    """The ``hub.challenge`` to echo when the subscription request carries our verify token."""
    given = params.get("hub.verify_token", "")
    if params.get("hub.mode") != "subscribe" or not hmac.compare_digest(
        given.encode(), verify_token.encode()
    ):
        raise ChannelError(403, "bad_verify_token", "wrong hub.mode or hub.verify_token")
    return params.get("hub.challenge", "")


def check_signature(headers: Mapping[str, str], raw: bytes, app_secret: str) -> None:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>``."""
    given = headers.get("x-hub-signature-256", "")
    digest = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), f"sha256={digest}".encode()):
        raise ChannelError(403, "bad_signature", "missing or wrong X-Hub-Signature-256")


def objects(value: Any, where: str) -> list[dict[str, Any]]:
    """``value`` as a list of JSON objects (absent: none); anything else is malformed.

    A POST is checked whole before anything is stored, so a malformed part refuses it all
    (400) and changes nothing; Meta redelivers it, and it is refused again.
    """
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ChannelError(400, "malformed_event", f"{where} must be a list of objects")
    return value


def obj(value: Any, where: str) -> dict[str, Any]:
    """``value`` as a JSON object (absent: empty); anything else is malformed."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ChannelError(400, "malformed_event", f"{where} must be an object")
    return value


def ident(value: Any, where: str) -> str:
    """An id Meta sends as a string (or a number); absent: ``""``; anything else is malformed."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ChannelError(400, "malformed_event", f"{where} must be a string")
    return str(value)


def idents(value: Any, where: str) -> list[str]:
    """A list of ids (absent: none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ChannelError(400, "malformed_event", f"{where} must be a list of strings")
    return [ident(v, where) for v in value]


@dataclass(frozen=True, slots=True)
class MetaRequest:
    """A webhook call: the workspace, lower-cased headers, raw body and parsed JSON."""

    workspace_id: str
    headers: dict[str, str]
    raw: bytes
    body: Any = None


class MetaChannel:
    """What a Meta channel adapter shares: signature check, and messages from its events."""

    def __init__(self, app_secret: str, verify_token: str) -> None:
        self.app_secret = app_secret
        self.verify_token = verify_token

    async def verify(self, request: MetaRequest) -> None:
        """The app-secret signature over the raw body."""
        check_signature(request.headers, request.raw, self.app_secret)

    async def parse(self, request: MetaRequest) -> list[InboundMessage]:
        """The text messages of every entry."""
        return self.events(request).messages

    def events(self, request: MetaRequest) -> MetaEvents:
        """Messages and statuses of one webhook POST (each platform has its own shape)."""
        raise NotImplementedError
