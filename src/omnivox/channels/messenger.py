"""Facebook Messenger: Page webhooks in, the Send API out.

Inbound: Meta POSTs ``{"object": "page", "entry": [{"messaging": [...]}, ...]}`` with
``X-Hub-Signature-256`` over the raw body (:mod:`omnivox.channels.meta`); one POST can carry
several entries and several events each. A ``message`` from a person (not our own echo) becomes
a turn: its text, or files alone said so (:func:`content`); a ``postback`` (a tapped button such
as "Get Started") becomes one with the button's title. The customer is the page-scoped id
(PSID), the provider id is the message's ``mid``. ``delivery`` and ``read`` events are returned
as statuses for the event log. Outbound:
``POST {api_base}/{version}/me/messages?access_token=...`` with ``messaging_type: RESPONSE``.
"""

from __future__ import annotations

from typing import Any

import httpx

from omnivox.channels.base import Capabilities, ChannelError, files_only, plain_messages
from omnivox.channels.meta import (
    MetaChannel,
    MetaEvents,
    MetaRequest,
    ident,
    idents,
    obj,
    objects,
    transient,
)
from omnivox.channels.provider_api import call, refused
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, OutboundMessage, Reply

MAX_CHARS = 2000


class MessengerChannel(MetaChannel):
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
        super().__init__(app_secret, verify_token)
        self._token = access_token
        self._client = httpx.AsyncClient(
            base_url=f"{api_base.rstrip('/')}/{version}", timeout=timeout_s
        )

    def events(self, request: MetaRequest) -> MetaEvents:
        """Messages and statuses of every entry; other event types are skipped.

        Raises ChannelError (400) when a part has the wrong shape (``meta.objects``).
        """
        out = MetaEvents()
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("object") != "page":
            return out
        for entry in objects(body.get("entry"), "entry"):
            for event in objects(entry.get("messaging"), "entry[].messaging"):
                self._event(request.workspace_id, event, out)
        return out

    def _event(self, workspace_id: str, event: dict[str, Any], out: MetaEvents) -> None:
        psid = ident(obj(event.get("sender"), "messaging[].sender").get("id"), "sender.id")
        message = obj(event.get("message"), "messaging[].message")
        mid = ident(message.get("mid"), "message.mid")
        text, meta = content(message)
        if event.get("postback") is not None:  # a button the customer tapped: its title
            postback = obj(event["postback"], "messaging[].postback")
            title, at = postback.get("title"), ident(event.get("timestamp"), "timestamp")
            # older API versions send no mid: the customer and the time name the tap
            mid = ident(postback.get("mid"), "postback.mid") or (at and f"postback:{psid}:{at}")
            text = title if isinstance(title, str) else ""
            meta = {"postback": postback.get("payload")}
        if text and not message.get("is_echo") and mid and psid:
            out.messages.append(
                InboundMessage(
                    workspace_id=workspace_id,
                    channel=self.name,
                    sender=CustomerRef(psid),
                    text=text,
                    provider_message_id=mid,
                    metadata={"messenger": meta} if meta else {},
                )
            )
        delivery = event.get("delivery")
        if delivery is not None:
            mids = idents(obj(delivery, "messaging[].delivery").get("mids"), "delivery.mids")
            out.statuses.append({"status": "delivery", "psid": psid, **delivery, "mids": mids})
        if event.get("read") is not None:
            out.statuses.append({"status": "read", "psid": psid, **obj(event["read"], "read")})

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """Plain text with source lines, split at 2,000 characters."""
        return plain_messages(self.name, reply, recipient, MAX_CHARS)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """The Send API.

        429, 5xx, connection errors and Meta's throttling and temporary error codes
        (``meta.transient``: code 613 and others, usually under HTTP 400) are retryable.
        """
        body = {
            "recipient": {"id": message.recipient},
            "messaging_type": "RESPONSE",
            "message": {"text": message.text},
        }
        params = {"access_token": self._token}
        result = await call(self._client, self.name, "/me/messages", params=params, json=body)
        if isinstance(result, DeliveryReceipt):
            return result
        status, data, wait = result.status, result.data, result.retry_after_s
        if status >= 400 or "message_id" not in data:
            error = (data.get("error") or {}).get("message")
            return refused(self.name, status, error, transient(data), retry_after_s=wait)
        return DeliveryReceipt(self.name, "sent", str(data["message_id"]))

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()


def content(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A message's text ("" for none) and what it came with.

    Files without text are said so (``base.files_only``); stickers, a "like" included, are
    not answered. A ``text`` that is not a string raises ChannelError (400).
    """
    text = message.get("text")
    if text is not None and not isinstance(text, str):
        raise ChannelError(400, "malformed_event", "message.text must be a string")
    if text:
        return text, {}
    files: list[dict[str, Any]] = []
    for attachment in objects(message.get("attachments"), "message.attachments"):
        payload = obj(attachment.get("payload"), "attachments[].payload")
        kind = attachment.get("type")
        if not payload.get("sticker_id"):
            files.append(
                {"type": kind if isinstance(kind, str) else "file", "url": payload.get("url")}
            )
    return files_only([f["type"] for f in files]), {"attachments": files} if files else {}
