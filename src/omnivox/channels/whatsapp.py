"""WhatsApp Business (Cloud API): webhooks in, ``/{phone-number-id}/messages`` out.

Inbound: Meta POSTs ``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {...}}]}]}`` signed like Messenger (:mod:`omnivox.channels.meta`); one POST
can carry several changes, messages and statuses. A text message becomes a turn, and so do files
(by their caption) and tapped buttons (by their title), see :func:`content`: the customer
is the WhatsApp id (the phone number without "+"), the provider id is the ``wamid``; the reply is
sent from the business number that received it, so the recipient is ``<wa_id>|<phone number id>``.
``statuses`` (sent, delivered, read, failed) are returned for the event log.

The 24-hour customer-service window: a free-form message may only be sent within 24 hours of
the customer's last message; outside it only an approved template may be. ``send`` refuses a
free-form message outside the window with a clear, non-retryable error, and
:meth:`WhatsAppChannel.send_template` sends a configured template instead (so does ``send``
for a message whose ``channel_data`` names one, :func:`template_data`: an agent's template from
the console, and its retries from the outbox). Text is WhatsApp-flavoured: ``*bold*``, links as
``text: url`` (WhatsApp shows bare URLs as links).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from omnivox.channels.base import (
    Capabilities,
    ChannelError,
    chat_markup,
    files_only,
    split_text,
)
from omnivox.channels.meta import (
    MetaChannel,
    MetaEvents,
    MetaRequest,
    ident,
    obj,
    objects,
    transient,
)
from omnivox.channels.provider_api import call, refused
from omnivox.types import (
    CustomerRef,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    Reply,
    aware,
    utcnow,
)

MAX_CHARS = 4096
WINDOW = timedelta(hours=24)
MEDIA = ("image", "video", "document", "audio")  # files; all but audio may carry a caption


@dataclass(frozen=True, slots=True)
class Template:
    """An approved message template: name, language and how many body parameters it takes."""

    name: str
    language: str
    parameters: int = 0


class WindowClosedError(ValueError):
    """A free-form message outside the 24-hour customer-service window."""


class TemplateError(ValueError):
    """A template that is not configured, or parameters that do not fit it."""


MAX_PARAMETER = 1024  # characters of one body parameter (the Cloud API's limit for the body)
MAX_TEMPLATE_NAME = 512  # characters of a template's name (Meta's limit)
# a body of MAX_PARAMETER characters holds at most this many {{n}} placeholders
MAX_TEMPLATE_PARAMETERS = MAX_PARAMETER // len("{{1}}")


def check_template(templates: Mapping[str, Template], name: str, params: list[str]) -> Template:
    """The configured template ``name`` if ``params`` fit it, else :class:`TemplateError`.

    Each parameter must be non-empty, one line (the Cloud API refuses new lines, tabs and more
    than 4 spaces in a row: error 132018) and at most ``MAX_PARAMETER`` characters.
    """
    template = templates.get(name)
    if template is None or len(params) != template.parameters:
        known = ", ".join(f"{t.name} ({t.parameters})" for t in templates.values())
        raise TemplateError(
            f"no template {name!r} taking {len(params)} parameters "
            f"(templates, with their parameters: {known or 'none configured'})"
        )
    for n, param in enumerate(params, 1):
        if not param.strip():
            raise TemplateError(f"parameter {{{{{n}}}}} of {name!r} is empty")
        if any(c in param for c in "\n\r\t") or " " * 5 in param or len(param) > MAX_PARAMETER:
            raise TemplateError(
                f"parameter {{{{{n}}}}} of {name!r} must be one line of at most "
                f"{MAX_PARAMETER:,} characters, without tabs or more than 4 spaces in a row"
            )
    return template


def template_text(template: Template, params: list[str]) -> str:
    """A template message as the transcript shows it.

    ``Template order_update (en_US): {{1}} Maya · {{2}} ACM-1``.
    """
    filled = " · ".join(f"{{{{{n}}}}} {p}" for n, p in enumerate(params, 1))
    head = f"Template {template.name} ({template.language})"
    return f"{head}: {filled}" if filled else head


def template_data(template: Template, params: list[str]) -> dict[str, Any]:
    """The ``channel_data`` of a template message: stored with it, and what ``send`` sends."""
    return {
        "template": {"name": template.name, "language": template.language, "parameters": params}
    }


class WhatsAppChannel(MetaChannel):
    """Adapter for one workspace's WhatsApp Business account."""

    name = "whatsapp"
    capabilities = Capabilities(
        max_length=MAX_CHARS,
        markup="whatsapp",
        guidance="WhatsApp chat: short paragraphs; *bold* for key facts; no headings or tables.",
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
        templates: dict[str, Template] | None = None,
    ) -> None:
        super().__init__(app_secret, verify_token)
        self.templates = templates or {}
        self._client = httpx.AsyncClient(
            base_url=f"{api_base.rstrip('/')}/{version}",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=timeout_s,
        )

    def events(self, request: MetaRequest) -> MetaEvents:
        """Messages and statuses of every ``messages`` change; other fields are skipped.

        Raises ChannelError (400) when a part has the wrong shape (``meta.objects``).
        """
        out = MetaEvents()
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("object") != "whatsapp_business_account":
            return out
        for entry in objects(body.get("entry"), "entry"):
            for change in objects(entry.get("changes"), "entry[].changes"):
                if change.get("field") == "messages":
                    value = obj(change.get("value"), "changes[].value")
                    self._value(request.workspace_id, value, out)
        return out

    def _value(self, workspace_id: str, value: dict[str, Any], out: MetaEvents) -> None:
        number_id = ident(
            obj(value.get("metadata"), "value.metadata").get("phone_number_id"), "phone_number_id"
        )
        names = {
            ident(c.get("wa_id"), "contacts[].wa_id"): obj(
                c.get("profile"), "contacts[].profile"
            ).get("name")
            for c in objects(value.get("contacts"), "value.contacts")
        }
        for message in objects(value.get("messages"), "value.messages"):
            found = content(message)
            sender = ident(message.get("from"), "messages[].from")
            wamid = ident(message.get("id"), "messages[].id")
            if found is None or not sender or not wamid:
                continue
            text, meta = found
            name = names.get(sender)
            out.messages.append(
                InboundMessage(
                    workspace_id=workspace_id,
                    channel=self.name,
                    sender=CustomerRef(
                        sender, name if isinstance(name, str) else None, phone=f"+{sender}"
                    ),
                    text=text,
                    provider_message_id=wamid,
                    metadata={"whatsapp": meta} if meta else {},
                    reply_to=f"{sender}|{number_id}",
                )
            )
        for status in objects(value.get("statuses"), "value.statuses"):
            ident(status.get("id"), "statuses[].id")
            out.statuses.append({"channel": self.name, **status})

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """WhatsApp formatting with source lines, split at 4,096 characters."""
        lines = [chat_markup(reply.text.strip(), lambda text, url: f"{text}: {url}")]
        for citation in reply.citations:
            source = f"Source: {citation.title}"
            lines.append(f"{source} {citation.url}" if citation.url else source)
        body = "\n".join(line for line in lines if line)
        payload = {"citations": [c.as_dict() for c in reply.citations]}
        return [
            OutboundMessage(self.name, recipient, part, payload)
            for part in split_text(body, MAX_CHARS)
        ]

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """A free-form text, only inside the 24-hour window; a template (``channel_data``) anytime.

        429, 5xx, Meta's throttling and temporary error codes (``meta.transient``, usually under
        HTTP 400) and connection errors are retryable.
        """
        template = (message.payload.get("channel_data") or {}).get("template")
        if template:
            params = [str(p) for p in template.get("parameters") or []]
            return await self.send_template(message.recipient, str(template["name"]), params)
        try:
            ensure_window(message.payload.get("customer_wrote_at"))
        except WindowClosedError as exc:
            return DeliveryReceipt(self.name, "failed", error=str(exc))
        to, _, number_id = message.recipient.partition("|")
        body = {
            "messaging_product": "whatsapp",
            "to": to,
            "type": "text",
            "text": {"body": message.text},
        }
        return await self._post(number_id, body)

    async def send_template(self, recipient: str, name: str, params: list[str]) -> DeliveryReceipt:
        """An approved template (allowed outside the window).

        One that does not fit (:func:`check_template`) is refused, with nothing sent.
        """
        try:
            template = check_template(self.templates, name, params)
        except TemplateError as exc:
            return DeliveryReceipt(self.name, "failed", error=str(exc))
        to, _, number_id = recipient.partition("|")
        components = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
        ] if params else []  # fmt: skip
        body = {
            "messaging_product": "whatsapp",
            "to": to,
            "type": "template",
            "template": {
                "name": template.name,
                "language": {"code": template.language},
                "components": components,
            },
        }
        return await self._post(number_id, body)

    async def _post(self, number_id: str, body: dict[str, Any]) -> DeliveryReceipt:
        result = await call(self._client, self.name, f"/{number_id}/messages", json=body)
        if isinstance(result, DeliveryReceipt):
            return result
        status, data, wait = result.status, result.data, result.retry_after_s
        messages = data.get("messages") or []
        if status >= 400 or not messages:
            error = (data.get("error") or {}).get("message")
            return refused(self.name, status, error, transient(data), retry_after_s=wait)
        return DeliveryReceipt(self.name, "sent", str(messages[0].get("id") or "") or None)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()


def content(message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A message's text and what it came with; None for a type that is not answered.

    Text is its body; an image, video or document its caption (without one, and for audio:
    ``base.files_only``); a template's quick-reply button (``button``) or an interactive
    ``button_reply``/``list_reply`` the title the customer tapped. Stickers, reactions,
    locations and contacts are not answered. A part of the wrong shape raises ChannelError.
    """
    kind = message.get("type")
    body = _string(obj(message.get("text"), "messages[].text").get("body"), "text.body")
    if kind == "text":
        return (body, {}) if body is not None else None
    if kind in MEDIA:
        media = obj(message.get(kind), f"messages[].{kind}")
        caption = _string(media.get("caption"), f"{kind}.caption") or ""
        filename = _string(media.get("filename"), f"{kind}.filename")
        found = {"type": kind, "id": ident(media.get("id"), f"{kind}.id"), "name": filename}
        return caption.strip() or files_only([filename or kind]), {"attachments": [found]}
    if kind == "button":  # a template's quick reply
        button = obj(message.get("button"), "messages[].button")
        title = _string(button.get("text"), "button.text")
        payload = _string(button.get("payload"), "button.payload")
        return (title, {"button": {"payload": payload}}) if title else None
    if kind == "interactive":
        interactive = obj(message.get("interactive"), "messages[].interactive")
        tapped = interactive.get("button_reply") or interactive.get("list_reply")
        reply = obj(tapped, "interactive.button_reply")
        title = _string(reply.get("title"), "interactive.*.title")
        choice = {"id": ident(reply.get("id"), "interactive.*.id")}
        return (title, {"button": choice}) if title else None
    return None


def _string(value: Any, where: str) -> str | None:
    """An optional string of a message; anything else is malformed."""
    if value is not None and not isinstance(value, str):
        raise ChannelError(400, "malformed_event", f"messages[].{where} must be a string")
    return value


def outside_window(wrote: datetime, now: datetime | None = None) -> bool:
    """Whether a customer who last wrote at ``wrote`` can no longer get a free-form message."""
    return (now or utcnow()) - aware(wrote) > WINDOW


def ensure_window(customer_wrote_at: str | None, now: datetime | None = None) -> None:
    """Raise :class:`WindowClosedError` unless the customer wrote within the last 24 hours."""
    if not customer_wrote_at:
        raise WindowClosedError(
            "no message from the customer on record: outside WhatsApp's 24-hour window only an "
            "approved template may be sent"
        )
    wrote = datetime.fromisoformat(customer_wrote_at)
    if outside_window(wrote, now):
        closed = (wrote + WINDOW).isoformat(timespec="minutes")
        raise WindowClosedError(
            f"WhatsApp's 24-hour customer-service window closed at {closed}: only an approved "
            "template may be sent now (channels.whatsapp.templates)"
        )
