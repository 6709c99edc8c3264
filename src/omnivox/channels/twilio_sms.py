"""Twilio SMS: signed form webhooks in, the Messages REST API out.

Inbound: Twilio POSTs a form to ``/webhooks/{workspace}/twilio/sms`` with ``X-Twilio-Signature``:
base64 HMAC-SHA1, keyed with the auth token, of the full public URL followed by every POST
parameter's name and value in name order. The URL is the workspace's ``channels.public_url``
plus the path when set (a proxy in front changes what the server sees), else the URL the
request arrived at; compared in constant time. The webhook is
answered at once with an empty TwiML ``<Response/>``; the answer goes out asynchronously through
``POST /2010-04-01/Accounts/{sid}/Messages.json`` (the outbox retries 429/5xx), so a slow model
never misses Twilio's 15-second timeout. The reply is sent from the number the customer wrote
to: the recipient is ``<customer number>|<our number>``. Text is plain (no Markdown), URLs are
whole, citations are "Source: title (url)" lines, and a reply longer than 1,600 characters (the
API's limit) is split into several messages; each message's segment count (GSM-7 or UCS-2) is
recorded with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, replace

import httpx

from omnivox.channels.base import Capabilities, ChannelError, plain_messages
from omnivox.channels.provider_api import call, refused
from omnivox.channels.sms import segments
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, OutboundMessage, Reply

MAX_CHARS = 1600
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@dataclass(frozen=True, slots=True)
class TwilioRequest:
    """A webhook call: workspace, the public URL it was sent to, headers and the form."""

    workspace_id: str
    url: str
    headers: dict[str, str]
    form: Mapping[str, str]


class TwilioSmsChannel:
    """Adapter for one workspace's Twilio account (SMS)."""

    name = "sms"
    capabilities = Capabilities(
        max_length=MAX_CHARS,
        markup="plain",
        guidance="SMS: two or three short plain sentences, no Markdown, no lists.",
        outbox=True,
    )

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        api_base: str,
        timeout_s: float,
        status_callback: str | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.status_callback = status_callback
        self.auth_token = auth_token.encode()
        self._client = httpx.AsyncClient(
            base_url=api_base.rstrip("/"), auth=(account_sid, auth_token), timeout=timeout_s
        )

    def signature(self, url: str, form: Mapping[str, str]) -> str:
        """Twilio's signature of a POST to ``url`` with ``form``."""
        data = url + "".join(f"{key}{form[key]}" for key in sorted(form))
        digest = hmac.new(self.auth_token, data.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    async def verify(self, request: TwilioRequest) -> None:
        """``X-Twilio-Signature`` over the public URL and the form, constant-time compare."""
        given = request.headers.get("x-twilio-signature", "")
        expected = self.signature(request.url, request.form)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ChannelError(403, "bad_signature", "missing or wrong X-Twilio-Signature")
        if request.form.get("AccountSid", self.account_sid) != self.account_sid:
            raise ChannelError(403, "wrong_account", "the message is for another Twilio account")

    async def parse(self, request: TwilioRequest) -> list[InboundMessage]:
        """An incoming SMS as one inbound message (status callbacks and the like as none)."""
        form = request.form
        sid, sender, ours = form.get("MessageSid"), form.get("From"), form.get("To")
        if not sid or not sender or not ours or "Body" not in form:
            return []
        return [
            InboundMessage(
                workspace_id=request.workspace_id,
                channel=self.name,
                sender=CustomerRef(sender, phone=sender),
                text=form["Body"],
                provider_message_id=sid,
                metadata={"twilio": {"to": ours, "segments": form.get("NumSegments")}},
                reply_to=f"{sender}|{ours}",
            )
        ]

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """Plain text with source lines, split at 1,600 characters; segments recorded."""
        return [
            replace(m, payload={**m.payload, "segments": segments(m.text)})
            for m in plain_messages(self.name, reply, recipient, MAX_CHARS)
        ]

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Create the message through the REST API (form-encoded, basic auth)."""
        to, _, ours = message.recipient.partition("|")
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        form = {"To": to, "From": ours, "Body": message.text}
        if self.status_callback:  # delivery reports come back to /twilio/status
            form["StatusCallback"] = self.status_callback
        result = await call(self._client, self.name, path, data=form)
        if isinstance(result, DeliveryReceipt):
            return result
        status, data, wait = result.status, result.data, result.retry_after_s
        if status >= 400:
            return refused(self.name, status, data.get("message"), retry_after_s=wait)
        return DeliveryReceipt(self.name, "queued", str(data.get("sid") or "") or None)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()
