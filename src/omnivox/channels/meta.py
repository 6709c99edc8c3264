"""What Meta's platforms (Messenger, WhatsApp) share.

The webhook verify handshake and the ``X-Hub-Signature-256`` check over the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omnivox.channels.base import ChannelError
from omnivox.types import InboundMessage


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
