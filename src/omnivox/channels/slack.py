"""Slack: Events API webhooks in, ``chat.postMessage`` out, answers in mrkdwn.

Inbound requests carry ``X-Slack-Signature: v0=<hex>``, the HMAC-SHA256 of
``v0:<X-Slack-Request-Timestamp>:<raw body>`` with the app's signing secret; the timestamp must
be within 300 seconds of now (replays), the comparison is constant time. A ``url_verification``
request is answered with its challenge. A ``message`` event from a person becomes a turn (one
with files, ``file_share``, too: without words it says so, ``base.files_only``); bot messages
(ours included), edits and other subtypes are ignored, so the bot never answers itself. A
message in a thread (``thread_ts``) is answered in that thread, a top-level one in its channel:
the reply goes to ``<channel>`` or ``<channel>|<thread_ts>``. Direct messages are all answered;
in a channel only those that mention the bot (``<@U…>`` of the event's bot ``authorizations``,
or the configured ``bot_user_id``), with the mention taken out, unless ``channels: all``.
Slack retries a delivery it thinks failed (``X-Slack-Retry-Num``): the provider message id is
``<channel>:<ts>``, the same on every retry, so a retry of a stored message is answered once,
and a retry of one that never got stored is processed, not dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx

from omnivox.channels.base import (
    Capabilities,
    ChannelError,
    chat_markup,
    files_only,
    split_text,
)
from omnivox.channels.provider_api import call, refused
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, OutboundMessage, Reply

MAX_CHARS = 3000  # a section of text Slack shows unfolded; longer answers are split
WINDOW_S = 300
_ANGLED = re.compile(r"<([^<>]*)>")


@dataclass(frozen=True, slots=True)
class SlackRequest:
    """A webhook call: the workspace, lower-cased headers and the raw body."""

    workspace_id: str
    headers: dict[str, str]
    raw: bytes
    body: Any = None


class SlackChannel:
    """Adapter for one workspace's Slack app."""

    name = "slack"
    capabilities = Capabilities(
        max_length=MAX_CHARS,
        markup="mrkdwn",
        guidance="Slack message: short paragraphs; *bold* for key facts; no headings or tables.",
        outbox=True,
    )

    def __init__(
        self,
        signing_secret: str,
        bot_token: str,
        api_base: str,
        timeout_s: float = 10.0,
        clock: Any = time.time,
        *,
        bot_user_id: str = "",
        every_channel_message: bool = False,
    ) -> None:
        self.signing_secret = signing_secret.encode()
        self.clock = clock
        self.bot_user_id = bot_user_id
        self.every_channel_message = every_channel_message
        self._client = httpx.AsyncClient(
            base_url=api_base.rstrip("/"),
            headers={"Authorization": f"Bearer {bot_token}"},
            timeout=timeout_s,
        )

    async def verify(self, request: SlackRequest) -> None:
        """v0 signature over the raw body, timestamp within 300 s, constant-time compare."""
        stamp = request.headers.get("x-slack-request-timestamp", "")
        given = request.headers.get("x-slack-signature", "")
        try:
            fresh = abs(self.clock() - int(stamp)) <= WINDOW_S
        except ValueError:
            fresh = False
        if not fresh:
            raise ChannelError(401, "stale_request", "missing or stale X-Slack-Request-Timestamp")
        base = b"v0:" + stamp.encode() + b":" + request.raw
        expected = "v0=" + hmac.new(self.signing_secret, base, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ChannelError(401, "bad_signature", "missing or wrong X-Slack-Signature")

    async def parse(self, request: SlackRequest) -> list[InboundMessage]:
        """A person's message as one inbound message; anything else as none."""
        body = request.body if isinstance(request.body, dict) else {}
        event = body.get("event") if body.get("type") == "event_callback" else None
        if not isinstance(event, dict) or event.get("type") != "message":
            return []
        if event.get("subtype") not in (None, "file_share") or event.get("bot_id"):
            return []  # bot messages (ours included), edits, joins: never a turn
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not (_text(user) and _text(channel) and _text(ts)):
            raise ChannelError(
                400, "malformed_event", "a message needs string user, channel and ts"
            )
        thread = event.get("thread_ts")
        listed, raw = event.get("files"), event.get("text")
        if not self.every_channel_message and not _direct(event):
            mentions = [f"<@{bot}>" for bot in self._bots(body)]
            if not isinstance(raw, str) or not any(m in raw for m in mentions):
                return []  # people talking in a channel among themselves
            for mention in mentions:
                raw = re.sub(rf"[ \t]*{re.escape(mention)}[ \t]*", " ", raw).strip()
        files = [
            {"id": f.get("id"), "name": f.get("name"), "type": f.get("mimetype")}
            for f in (listed if isinstance(listed, list) else [])
            if isinstance(f, dict)
        ]
        text = from_slack(raw) if isinstance(raw, str) else ""
        text = text if text.strip() else files_only([str(f["name"] or "file") for f in files])
        if not text:
            return []
        meta = {"event_id": body.get("event_id"), "team": body.get("team_id")}
        return [
            InboundMessage(
                workspace_id=request.workspace_id,
                channel=self.name,
                sender=CustomerRef(user),
                text=text,
                provider_message_id=f"{channel}:{ts}",
                metadata={"slack": {**meta, "attachments": files} if files else meta},
                reply_to=f"{channel}|{thread}" if _text(thread) else channel,
            )
        ]

    def _bots(self, body: dict[str, Any]) -> list[str]:
        """The bot's member ids: the event's bot ``authorizations``, and the configured one."""
        granted = body.get("authorizations")
        found = [
            a["user_id"]
            for a in (granted if isinstance(granted, list) else [])
            if isinstance(a, dict) and a.get("is_bot") and _text(a.get("user_id"))
        ]
        return [*found, self.bot_user_id] if self.bot_user_id else found

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """Slack mrkdwn with source links, split at 3,000 characters."""
        lines = [to_mrkdwn(reply.text.strip())]
        for citation in reply.citations:
            title = escape(citation.title)
            lines.append(
                f"Source: <{citation.url}|{title}>" if citation.url else f"Source: {title}"
            )
        text = "\n".join(line for line in lines if line)
        payload = {"citations": [c.as_dict() for c in reply.citations]}
        return [
            OutboundMessage(self.name, recipient, part, payload)
            for part in split_text(text, MAX_CHARS)
        ]

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """``chat.postMessage`` to ``<channel>`` or ``<channel>|<thread_ts>`` (in the thread).

        ``ratelimited``, 429, 5xx and connection errors are retryable.
        """
        channel, _, thread = message.recipient.partition("|")
        body = {"channel": channel, "text": message.text}
        if thread:
            body["thread_ts"] = thread
        result = await call(self._client, self.name, "/chat.postMessage", json=body)
        if isinstance(result, DeliveryReceipt):
            return result
        status, data, wait = result.status, result.data, result.retry_after_s
        if status >= 400 or not data.get("ok"):
            error = data.get("error")
            return refused(
                self.name, status, error, retryable=error == "ratelimited", retry_after_s=wait
            )
        # a ts is unique only within its channel: the channel is part of the id, as inbound
        ts = data.get("ts")
        return DeliveryReceipt(self.name, "sent", f"{channel}:{ts}" if ts else None)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()


def _direct(event: dict[str, Any]) -> bool:
    """A direct message to the bot (``channel_type`` im; a ``D…`` channel id without one)."""
    kind = event.get("channel_type")
    if isinstance(kind, str):
        return kind == "im"
    return str(event.get("channel", "")).startswith("D")


def escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs require."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """The three characters Slack escapes, back as typed (``&amp;`` last)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def from_slack(text: str) -> str:
    """A person's Slack message as they read it: entities decoded, mentions and links spelled out.

    ``<@U123>`` -> ``@U123`` (``<@U123|maya>`` -> ``@maya``), ``<#C123|general>`` -> ``#general``,
    ``<!here>`` -> ``@here``, ``<https://x|text>`` -> ``text (https://x)`` (a link Slack made of
    a typed address, ``<http://acme.example|acme.example>``, -> ``acme.example``).
    """
    pieces: list[str] = []
    last = 0
    for match in _ANGLED.finditer(text):
        pieces += [unescape(text[last : match.start()]), _spelled(match.group(1))]
        last = match.end()
    return "".join([*pieces, unescape(text[last:])])


def _spelled(inner: str) -> str:
    """One ``<…>`` of a Slack message as text."""
    target, _, label = inner.partition("|")
    target, label = unescape(target), unescape(label)
    if target[:1] in ("@", "#"):
        return f"{target[0]}{label.lstrip('@#')}" if label else target
    if target.startswith("!"):  # <!here>, <!subteam^S1|@team>, <!date^…|fallback>
        return label or f"@{target[1:]}"
    if not label or label == target.split(":", 1)[-1].removeprefix("//"):
        return label or target
    return f"{label} ({target})"


def to_mrkdwn(markdown: str) -> str:
    """Markdown as the model writes it -> Slack mrkdwn (``base.chat_markup``, links ``<url|text>``).

    ``&``, ``<`` and ``>`` are escaped first, so nothing the model writes becomes a mention.
    """
    return chat_markup(escape(markdown), lambda text, url: f"<{url}|{text}>")


def _text(value: object) -> TypeGuard[str]:
    """A non-empty string (Slack's ids and timestamps are)."""
    return isinstance(value, str) and bool(value)
