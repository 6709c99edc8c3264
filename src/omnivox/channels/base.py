"""The channel contract every adapter implements (DESIGN.md: ChannelAdapter)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from omnivox.types import DeliveryReceipt, InboundMessage, OutboundMessage, Reply

Markup = Literal["plain", "markdown", "mrkdwn", "whatsapp", "html", "ssml"]
RequestT_contra = TypeVar("RequestT_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can carry; renderers and prompts adapt to it."""

    max_length: int
    markup: Markup
    buttons: bool = False
    attachments: bool = False
    streaming: bool = False
    guidance: str = ""
    # sends go to a provider's API through the outbox: claimed, retried on transient errors
    outbox: bool = False
    # the reply travels in the HTTP response the route writes (REST): sending cannot fail
    # once the message is stored, so it is stored as sent (one write instead of two)
    in_response: bool = False


# what an identifier (a message id, a customer id) may not hold: control characters (PostgreSQL
# refuses NUL in text) and lone surrogates (not UTF-8)
_NOT_IN_ID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def unfit_id(value: str) -> bool:
    """Whether an identifier holds a control character or a lone surrogate."""
    return _NOT_IN_ID.search(value) is not None


class ChannelError(Exception):
    """A request a channel refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@runtime_checkable
class ChannelAdapter(Protocol[RequestT_contra]):
    """Verify, parse, render and send for one channel."""

    name: str
    capabilities: Capabilities

    async def verify(self, request: RequestT_contra) -> None:
        """Raise ChannelError (401/403) when the request is not authentic."""
        ...

    async def parse(self, request: RequestT_contra) -> list[InboundMessage]:
        """Turn a verified request into typed inbound messages."""
        ...

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """Pure: the reply as this channel's messages."""
        ...

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Hand one rendered message to the channel."""
        ...


@runtime_checkable
class ThreadedRenderer(Protocol):
    """A channel whose replies answer one inbound message (email: subject, threading headers)."""

    def render_in_thread(
        self, reply: Reply, recipient: str, inbound: InboundMessage
    ) -> list[OutboundMessage]:
        """Like ``render``, knowing the message being answered."""
        ...


def plain_render(
    channel: str, capabilities: Capabilities, reply: Reply, recipient: str
) -> list[OutboundMessage]:
    """Render for channels that show text plus a structured citation list.

    Markdown is kept for ``markdown`` channels and removed for ``plain`` ones.
    """
    text = reply.text if capabilities.markup == "markdown" else plain_text(reply.text)
    text = text[: capabilities.max_length]
    payload: dict[str, Any] = {"citations": [c.as_dict() for c in reply.citations]}
    return [OutboundMessage(channel, recipient, text, payload)]


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a line or word break where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*pieces, text] if text else pieces


_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s*", re.MULTILINE)
_BULLET = re.compile(r"^\s*[-*]\s+", re.MULTILINE)


def plain_text(markdown: str) -> str:
    """Markdown as the model writes it -> text for a phone: no markup, URLs whole."""
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", markdown)
    text = _BOLD.sub(lambda m: m.group(1) or m.group(2), text)
    text = _HEADING.sub("", text)
    return _BULLET.sub("- ", text).strip()


_CODE = re.compile(r"(```.*?```|`[^`\n]+`)", re.DOTALL)
_HEADING_LINE = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_BOLD_ITALIC = re.compile(r"\*\*\*(?!\s)(.+?)(?<!\s)\*\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?![\s*])(.+?)(?<![\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(.+?)~~")
_STAR_ITEM = re.compile(r"^([ \t]*)[*+][ \t]+", re.MULTILINE)
_STRONG = "\x00"  # bold while italics are rewritten (both end up as asterisks)


def chat_markup(markdown: str, link: Callable[[str, str], str]) -> str:
    """Markdown as the model writes it -> the markup Slack and WhatsApp share.

    A heading becomes a bold line, ``**x**``/``__x__`` -> ``*x*``, ``*x*`` (italics) -> ``_x_``,
    ``~~x~~`` -> ``~x~``, ``* item`` -> ``- item``; ``[text](url)`` becomes ``link(text, url)``.
    Code spans and blocks are left as they are.
    """
    parts = _CODE.split(markdown)  # odd pieces are code
    parts[::2] = [_chat_piece(piece, link) for piece in parts[::2]]
    return "".join(parts)


def _chat_piece(text: str, link: Callable[[str, str], str]) -> str:
    text = _STAR_ITEM.sub(r"\1- ", text)
    text = _HEADING_LINE.sub(lambda m: f"{_STRONG}{_unbold(m.group(1))}{_STRONG}", text)
    text = _BOLD_ITALIC.sub(rf"{_STRONG}_\1_{_STRONG}", text)
    text = _BOLD.sub(lambda m: f"{_STRONG}{m.group(1) or m.group(2)}{_STRONG}", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text).replace(_STRONG, "*")
    return _LINK.sub(lambda m: link(m.group(1), m.group(2)), text)


def _unbold(text: str) -> str:
    return _BOLD.sub(lambda m: m.group(1) or m.group(2), text)


def with_sources(reply: Reply) -> str:
    """Plain text of a reply followed by one "Source: title (url)" line per citation."""
    lines = [plain_text(reply.text)]
    for citation in reply.citations:
        source = f"Source: {citation.title}"
        lines.append(f"{source} ({citation.url})" if citation.url else source)
    return "\n".join(line for line in lines if line)


def plain_messages(
    channel: str, reply: Reply, recipient: str, max_chars: int
) -> list[OutboundMessage]:
    """A reply as plain-text messages with source lines, split at ``max_chars``."""
    payload: dict[str, Any] = {"citations": [c.as_dict() for c in reply.citations]}
    return [
        OutboundMessage(channel, recipient, part, payload)
        for part in split_text(with_sources(reply), max_chars)
    ]


def files_only(names: Sequence[str]) -> str:
    """The text of a message that carries files and no words ("" without files either).

    Every channel says it alike, so the customer hears back and an agent knows to look.
    """
    if not names:
        return ""
    shown = ", ".join(names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"(The customer sent attachments without any text: {shown}{more}.)"


def bounded(message: InboundMessage, limit: int) -> InboundMessage:
    """A provider's message cut to ``limit`` characters (marked ``truncated``).

    A webhook or a mail cannot be refused like an API call, but the model never gets a huge
    prompt (``server.max_text_chars``).
    """
    if len(message.text) <= limit:
        return message
    return replace(
        message, text=message.text[:limit], metadata={**message.metadata, "truncated": True}
    )
