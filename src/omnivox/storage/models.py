"""SQLAlchemy 2 ORM models. Schema changes go through an Alembic migration as well."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from omnivox.privacy.crypto import RING
from omnivox.storage.encrypted import EncryptedJSON, EncryptedText
from omnivox.storage.moments import UtcDateTime
from omnivox.types import utcnow

# BIGINT on PostgreSQL, INTEGER (the rowid alias that autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every Omnivox table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: UtcDateTime(),
    }


class Workspace(Base):
    """A tenant: one business and its assistant."""

    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    """One person, whatever channels they use."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(EncryptedText)
    attributes: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    merged_into: Mapped[str | None] = mapped_column(String(40))


class Identity(Base):
    """An address on a channel (visitor id, email, phone...) that belongs to a customer.

    ``address`` is encrypted; ``address_hash`` is its blind index (set on every write), so
    find a row with :meth:`matches`, never by comparing ``address``.
    """

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "channel", "address_hash", name="uq_identities_address_hash"
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(40))  # the identifier's kind (phone, email...)
    address: Mapped[str] = mapped_column(EncryptedText)
    address_hash: Mapped[str | None] = mapped_column(String(64))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default="channel")
    verified_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @classmethod
    def matches(cls, channel: str, address: str) -> ColumnElement[bool]:
        """The rows holding ``address`` on ``channel`` (by blind index, under any key)."""
        return cls.matching(channel, identity_indexes(channel, address))

    @classmethod
    def matching(cls, channel: Any, indexes: Any) -> ColumnElement[bool]:
        """The rows on ``channel`` whose blind index is one of ``indexes``.

        Both may be values or bind parameters (``indexes`` then an expanding one).
        """
        return and_(cls.channel == channel, cls.address_hash.in_(indexes))


def address_key(channel: str, address: str) -> str:
    """What an identity's blind index is computed over."""
    return f"{channel}:{address}"


def identity_indexes(channel: str, address: str) -> list[str]:
    """Every blind index an identity ``(channel, address)`` may be stored under."""
    return RING.indexes(address_key(channel, address))


@event.listens_for(Identity, "before_insert")
@event.listens_for(Identity, "before_update")
def _index_address(_mapper: Any, _connection: Any, target: Identity) -> None:
    target.address_hash = RING.index(address_key(target.channel, target.address))


class Conversation(Base):
    """A thread between a customer and the business, across channels."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_customer_status", "customer_id", "status"),
        Index("ix_conversations_customer_updated", "customer_id", "updated_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16), default="bot")  # bot | human | closed
    last_channel: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    summary: Mapped[str] = mapped_column(EncryptedText, default="")  # rolling summary
    summary_seq: Mapped[int] = mapped_column(BigId, default=0)  # last message seq it covers


class Message(Base):
    """One message in or out. Outbound rows double as the outbox (``status``)."""

    __tablename__ = "messages"
    __table_args__ = (
        # per direction: a provider's inbound retries are deduplicated, never against our
        # replies' ids (migration 0017)
        UniqueConstraint(
            "workspace_id",
            "channel",
            "direction",
            "provider_message_id",
            name="uq_messages_provider_id",
        ),
        Index("ix_messages_conversation_seq", "conversation_id", "seq"),
        Index("ix_messages_outbox", "status", "next_attempt_at"),
    )
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    channel: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(EncryptedText)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    in_reply_to: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="received")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", EncryptedJSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the outbox (storage/outbox.py): when a ``retry`` row is due, when a ``sending`` one was
    # claimed
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column()


class Event(Base):
    """Append-only record of what happened: turns, step timings, decisions."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_workspace_type_time", "workspace_id", "type", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str | None] = mapped_column(String(64), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(40), index=True)
    turn_id: Mapped[str | None] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbFile(Base):
    """One ingested file; its content hash makes re-ingestion incremental."""

    __tablename__ = "kb_files"
    __table_args__ = (UniqueConstraint("workspace_id", "path"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    path: Mapped[str] = mapped_column(String(1000))
    source_id: Mapped[str] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))
    documents: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbChunk(Base):
    """A searchable passage with its embedding (float32 bytes), rebuilt into the index."""

    __tablename__ = "kb_chunks"
    __table_args__ = (Index("ix_kb_chunks_workspace_file", "workspace_id", "file_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    file_id: Mapped[int] = mapped_column(ForeignKey("kb_files.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(500))
    ordinal: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    heading_path: Mapped[list[str]] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(1000))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", EncryptedJSON, default=dict)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    faq: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class KbState(Base):
    """The knowledge-base version of a workspace; it changes on every change."""

    __tablename__ = "kb_state"
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    version: Mapped[str] = mapped_column(String(40))
    chunks: Mapped[int] = mapped_column(Integer)
    # the encoder that made the chunks' vectors (Embedder.name); null: the bundled MiniLM
    embedder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """A support ticket (opened by the ``create_ticket`` action)."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_workspace_customer", "workspace_id", "customer_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"))
    subject: Mapped[str] = mapped_column(EncryptedText)
    body: Mapped[str] = mapped_column(EncryptedText)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Verification(Base):
    """A one-time code (or signed link) proving that a customer holds an identifier."""

    __tablename__ = "verifications"
    __table_args__ = (Index("ix_verifications_customer", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(EncryptedText)  # the claimed email or phone
    code_hash: Mapped[str] = mapped_column(String(64))
    # pending | verified | locked | replaced (by a newer code) | conflict (proven, not linked)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(Base):
    """One consent decision (append-only): the latest per purpose and channel counts."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_customer", "customer_id", "purpose", "channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    purpose: Mapped[str] = mapped_column(String(40))  # support | marketing
    channel: Mapped[str] = mapped_column(String(40))  # a channel name, or "*" for all
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Agent(Base):
    """A person who answers customers in the console (``agent`` or ``admin``)."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="agent")
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_out_at: Mapped[datetime | None] = mapped_column(default=None)  # ends older sessions
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)  # no login until enabled


class Handoff(Base):
    """A conversation handed to people: waiting, claimed, resolved or returned to the bot."""

    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_workspace_status", "workspace_id", "status"),
        Index("ix_handoffs_conversation", "conversation_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    packet: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class Note(Base):
    """An internal note on a conversation: agents see it, customers never do."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_conversation", "conversation_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rating(Base):
    """A customer's CSAT score (1-5) after a human resolved their conversation."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(40))
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One audit-log entry; ``hash`` covers its fields and the previous entry's hash."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))  # ISO time, part of the hashed text
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ApiKey(Base):
    """A REST API key: one workspace, one role; the secret is kept only as a SHA-256 hash."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_workspace", "workspace_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
