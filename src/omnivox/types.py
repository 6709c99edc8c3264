"""Frozen value types shared by channels, the pipeline and storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from omnivox.text import readable

Direction = Literal["in", "out"]
Route = Literal["answer", "act", "handoff", "clarify"]


def utcnow() -> datetime:
    """Timezone-aware current time in UTC."""
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """``moment`` with UTC attached when the database returned it naive (SQLite)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """Who sent a message, as the channel knows them (before identity resolution)."""

    address: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's message, parsed from a channel into one typed shape."""

    workspace_id: str
    channel: str
    sender: CustomerRef
    text: str
    provider_message_id: str | None = None
    received_at: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None  # where replies go when not to the sender (a Slack channel)
    # Threading hints (email): provider ids of the messages this one answers, most specific
    # first, and a conversation id named by the address it was sent to. Attach joins that
    # conversation only when it belongs to the same customer.
    follows: tuple[str, ...] = ()
    conversation_hint: str | None = None

    @property
    def conversation_key(self) -> str:
        """Key that serialises turns: one sender on one channel of one workspace."""
        return conversation_key(self.workspace_id, self.channel, self.sender.address)


def conversation_key(workspace_id: str, channel: str, address: str) -> str:
    """One sender on one channel of one workspace, as a key (turn locks, drafts)."""
    return f"{workspace_id}:{channel}:{address}"


@dataclass(frozen=True, slots=True)
class Citation:
    """A knowledge passage an answer relies on."""

    source_id: str
    title: str
    snippet: str
    url: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready form used by every channel."""
        return {
            "source_id": self.source_id,
            "title": self.title,
            "snippet": self.snippet,
            "url": self.url,
        }


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved knowledge chunk handed to the generator."""

    source_id: str
    title: str
    text: str
    score: float
    url: str | None = None

    def citation(self, snippet_chars: int = 200) -> Citation:
        """Citation for this passage with a bounded snippet (table rows read as sentences)."""
        snippet = " ".join(readable(self.text).split())[:snippet_chars].rstrip()
        return Citation(self.source_id, self.title, snippet, self.url)


@dataclass(frozen=True, slots=True)
class Reply:
    """The assistant's answer, channel-neutral."""

    text: str
    citations: tuple[Citation, ...] = ()
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A reply rendered for one channel, ready to deliver."""

    channel: str
    recipient: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """What a channel said when a message was handed to it."""

    channel: str
    status: Literal["sent", "queued", "failed"]
    provider_message_id: str | None = None
    error: str | None = None
    retryable: bool = False  # a failure worth another try later (timeouts, 429, 5xx)
    retry_after_s: float | None = None  # the provider asked us to wait this long (Retry-After)


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One earlier message of the conversation, as memory for the model."""

    direction: Direction
    text: str
    channel: str
