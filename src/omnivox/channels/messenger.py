"""Facebook Messenger: Page webhooks in, the Send API out.

Inbound: Meta POSTs ``{"object": "page", "entry": [{"messaging": [...]}, ...]}`` with
``X-Hub-Signature-256`` over the raw body (:mod:`omnivox.channels.meta`); one POST can carry
several entries and several events each. A text ``message`` from a person (not our own echo)
becomes a turn: the customer is the page-scoped id (PSID), the provider id is the message's
``mid``. ``delivery`` and ``read`` events are returned as statuses for the event log. Outbound:
``POST {api_base}/{version}/me/messages?access_token=...`` with ``messaging_type: RESPONSE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from omnivox.channels.base import Capabilities, plain_messages
from omnivox.channels.meta import MetaEvents, check_signature
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, OutboundMessage, Reply

MAX_CHARS = 2000


@dataclass(frozen=True, slots=True)
class MetaRequest:
    """A webhook call: the workspace, lower-cased headers, raw body and parsed JSON."""

    workspace_id: str
    headers: dict[str, str]
    raw: bytes
    body: Any = None


class MessengerChannel:
    """Adapter for one workspace's Facebook Page."""

    name = "messenger"
    capabilities = Capabilities(
        max_length=MAX_CHARS,
        markup="plain",
        guidance="Messenger chat: short plain paragraphs, no Markdown.",
        outbox=True,
    )

    def __init__(
        self,
        app_secret: str,
        verify_token: str,
        access_token: str,
        api_base: str,
        version: str,
        timeout_s: float,
    ) -> None:
        self.app_secret = app_secret
        self.verify_token = verify_token
        self._token = access_token
        self._client = httpx.AsyncClient(
            base_url=f"{api_base.rstrip('/')}/{version}", timeout=timeout_s
        )

    async def verify(self, request: MetaRequest) -> None:
        """The app-secret signature over the raw body."""
        check_signature(request.headers, request.raw, self.app_secret)

    async def parse(self, request: MetaRequest) -> list[InboundMessage]:
        """The text messages of every entry and event."""
        return self.events(request).messages

    def events(self, request: MetaRequest) -> MetaEvents:
        """Messages and statuses of every entry; other event types are skipped."""
        out = MetaEvents()
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("object") != "page":
            return out
        for entry in body.get("entry") or []:
            for event in (entry or {}).get("messaging") or []:
                self._event(request.workspace_id, event, out)
        return out

    def _event(self, workspace_id: str, event: dict[str, Any], out: MetaEvents) -> None:
        psid = str((event.get("sender") or {}).get("id", ""))
        message = event.get("message")
        if isinstance(message, dict) and not message.get("is_echo"):
            text, mid = message.get("text"), message.get("mid")
            if isinstance(text, str) and mid and psid:
                out.messages.append(
                    InboundMessage(
                        workspace_id=workspace_id,
                        channel=self.name,
                        sender=CustomerRef(psid),
                        text=text,
                        provider_message_id=str(mid),
                    )
                )
        for kind in ("delivery", "read"):
            if isinstance(event.get(kind), dict):
                out.statuses.append({"status": kind, "psid": psid, **event[kind]})

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """Plain text with source lines, split at 2,000 characters."""
        return plain_messages(self.name, reply, recipient, MAX_CHARS)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Send API; 429, 5xx, throttling codes and connection errors are retryable."""
        body = {
            "recipient": {"id": message.recipient},
            "messaging_type": "RESPONSE",
            "message": {"text": message.text},
        }
        try:
            response = await self._client.post(
                "/me/messages", params={"access_token": self._token}, json=body
            )
        except httpx.TransportError as exc:
            return DeliveryReceipt(self.name, "failed", error=repr(exc), retryable=True)
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400 or "message_id" not in data:
            error = (data.get("error") or {}).get("message") or f"HTTP {response.status_code}"
            retryable = response.status_code == 429 or response.status_code >= 500
            return DeliveryReceipt(self.name, "failed", error=str(error), retryable=retryable)
        return DeliveryReceipt(self.name, "sent", str(data["message_id"]))

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()
