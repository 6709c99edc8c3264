"""Repositories: the only code that writes SQL. Every query is scoped by workspace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, insert, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from omnivox.bus import EventRecord
from omnivox.identity.kinds import identity_of
from omnivox.ids import new_id
from omnivox.storage.db import AsyncSession, Database, advisory_key
from omnivox.storage.memory import (
    MemoryRules,
    Pending,
    Recall,
    known_values,
    recall_in,
    recent_analyses,
)
from omnivox.storage.models import (
    Conversation,
    Customer,
    Event,
    Identity,
    Message,
    Workspace,
    identity_indexes,
)
from omnivox.types import DeliveryReceipt, InboundMessage, utcnow


class DuplicateMessageError(Exception):
    """The channel already delivered a message with this provider id."""

    def __init__(self, message: StoredMessage) -> None:
        super().__init__(f"duplicate of {message.id}")
        self.original = message


class MessageIdTakenError(Exception):
    """The provider message id names another customer's message (a caller reused its id)."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message row as the rest of the code sees it."""

    id: str
    conversation_id: str
    direction: str
    channel: str
    text: str
    status: str
    in_reply_to: str | None
    metadata: dict[str, Any]
    created_at: datetime
    provider_message_id: str | None = None  # the channel's own id (web chat: visitor:client id)

    @classmethod
    def of(cls, row: Message) -> StoredMessage:
        """Build from an ORM row."""
        return cls(
            row.id,
            row.conversation_id,
            row.direction,
            row.channel,
            row.text,
            row.status,
            row.in_reply_to,
            dict(row.meta),
            row.created_at,
            row.provider_message_id,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API."""
        return {
            "id": self.id,
            "direction": self.direction,
            "channel": self.channel,
            "text": self.text,
            "status": self.status,
            "in_reply_to": self.in_reply_to,
            "citations": self.metadata.get("citations", []),
            "nlu": self.metadata.get("nlu"),
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation with its messages in order."""

    id: str
    workspace_id: str
    customer_id: str
    status: str
    last_channel: str
    created_at: datetime
    messages: list[StoredMessage]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API."""
        return {
            "id": self.id,
            "workspace": self.workspace_id,
            "customer_id": self.customer_id,
            "status": self.status,
            "last_channel": self.last_channel,
            "created_at": self.created_at.isoformat(),
            "messages": [m.as_dict() for m in self.messages],
        }


@dataclass(frozen=True, slots=True)
class MemoryRequest:
    """How much memory a turn reads with its message (:meth:`Store.attach_inbound`)."""

    window: int
    rules: MemoryRules
    analyses: int = 0  # earlier messages whose analyses to read (Recall.analyses)


@dataclass(frozen=True, slots=True)
class Attached:
    """The stored message, whether its conversation was opened for it, and its memory."""

    message: StoredMessage
    created: bool
    recall: Recall | None  # None: a new conversation, or no memory asked for
    customer_id: str
    customer_created: bool  # the message's sender became a customer with it


@dataclass(frozen=True, slots=True)
class MetadataUpdate:
    """A stored message's new metadata (all of it: the rest was written with the message)."""

    message_id: str
    metadata: dict[str, Any]

    @classmethod
    def with_nlu(cls, message: StoredMessage, nlu: dict[str, Any]) -> MetadataUpdate:
        """``message``'s metadata with its ``nlu`` entry (the turn's analysis) set to ``nlu``."""
        return cls(message.id, {**message.metadata, "nlu": nlu})

    async def run(self, session: AsyncSession) -> None:
        """Store it in ``session``'s transaction."""
        await session.execute(_SET_METADATA, {"m_id": self.message_id, "m_meta": self.metadata})


_SET_METADATA = (  # built once: see _OPEN_CONVERSATION
    update(Message)
    .where(Message.id == bindparam("m_id"))
    .values(meta=bindparam("m_meta", type_=Message.__table__.c["metadata"].type))
    .execution_options(synchronize_session=False)
)


@dataclass(frozen=True, slots=True)
class Newcomer:
    """A sender no identity names yet: becomes a customer with their first message.

    :meth:`Store.attach_inbound` writes the customer, the identity, the conversation and the
    message in one transaction; ``id`` is the customer's id from then on.
    """

    workspace_id: str
    kind: str  # the identifier's kind (omnivox.identity.kinds.identity_of)
    address: str
    name: str | None = None
    verified: bool = False  # the channel proves the address (source ``channel``)
    id: str = field(default_factory=lambda: new_id("cus"))

    async def add_to(self, session: AsyncSession) -> None:
        """Add the customer row (flushed: rows that name it may follow) and its identity.

        The unit of work orders INSERTs by relationship, and these tables have none: a row that
        refers to another must be flushed after it.
        """
        session.add(
            Customer(
                id=self.id, workspace_id=self.workspace_id, display_name=self.name, attributes={}
            )
        )
        await session.flush()
        session.add(self._identity())

    def _identity(self) -> Identity:
        return Identity(
            workspace_id=self.workspace_id,
            customer_id=self.id,
            channel=self.kind,
            address=self.address,
            verified=self.verified,
            source="channel" if self.verified else "claim",
            verified_at=utcnow() if self.verified else None,
        )


def _sender_notes(inbound: InboundMessage, previous: tuple[str, str] | None) -> dict[str, Any]:
    """Metadata about where the message came from, kept so replies can go back the same way."""
    notes: dict[str, Any] = {
        "sender": {"address": inbound.sender.address, "name": inbound.sender.name}
    }
    if previous is not None and previous[0] != inbound.channel:
        notes["resumed_from"] = previous[0]
    if previous is not None and previous[1] == "human":  # a person holds it
        notes["held"] = True
    if inbound.reply_to:
        notes["reply_to"] = inbound.reply_to
    return notes


# The turn's statements are built once, with bound parameters: building a SELECT with its
# WHERE clause costs SQLAlchemy ~0.3-0.5 ms on 2 cores, more than SQLite takes to run it.


def _open_conversation_query(since: bool) -> Select[Conversation]:
    query = select(Conversation).where(
        Conversation.workspace_id == bindparam("c_workspace"),
        Conversation.customer_id == bindparam("c_customer"),
        Conversation.status != "closed",
    )
    if since:
        query = query.where(Conversation.updated_at >= bindparam("c_since"))
    return query.order_by(Conversation.updated_at.desc()).limit(1)


_OPEN_CONVERSATION = {since: _open_conversation_query(since) for since in (False, True)}
_CUSTOMER_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


def _open_conversation(
    workspace_id: str, customer_id: str, since: datetime | None = None
) -> tuple[Select[Conversation], dict[str, Any]]:
    """The customer's most recent conversation that is not closed (active ``since``)."""
    params: dict[str, Any] = {"c_workspace": workspace_id, "c_customer": customer_id}
    if since is not None:
        params["c_since"] = since
    return _OPEN_CONVERSATION[since is not None], params


def _identity_owner_query(business_id: bool) -> Select[str]:
    query = select(Identity.customer_id, literal(1).label("rank")).where(
        Identity.workspace_id == bindparam("o_workspace"),
        Identity.matching(bindparam("o_kind"), bindparam("o_hashes", expanding=True)),
    )
    if business_id:
        by_business_id = select(Customer.id, literal(0).label("rank")).where(
            Customer.workspace_id == bindparam("o_workspace"),
            Customer.external_id == bindparam("o_address"),
        )
        query = query.union_all(by_business_id)  # type: ignore[assignment]
    return query.order_by(text("rank")).limit(1)  # type: ignore[return-value]


_IDENTITY_OWNER = {business_id: _identity_owner_query(business_id) for business_id in (False, True)}


def identity_owner_statement(
    workspace_id: str, channel: str, address: str, *, business_id: bool
) -> tuple[Select[str], dict[str, Any]]:
    """The customer owning ``(channel, address)``, as one query (and its parameters).

    With ``business_id``, a customer whose business id (``external_id``) is ``address`` comes
    first.
    """
    params = {
        "o_workspace": workspace_id,
        "o_kind": channel,
        "o_hashes": identity_indexes(channel, address),
        "o_address": address,
    }
    return _IDENTITY_OWNER[business_id], params


class Store:
    """Async repository over the Omnivox tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def ensure_workspace(self, workspace_id: str, name: str) -> None:
        """Create the workspace row, or update its name."""
        async with self.db.sessions.begin() as session:
            row = await session.get(Workspace, workspace_id)
            if row is None:
                session.add(Workspace(id=workspace_id, name=name))
            elif row.name != name:
                row.name = name

    async def upsert_customer(
        self,
        workspace_id: str,
        external_id: str,
        name: str | None,
        attributes: dict[str, Any],
        identities: list[tuple[str, str]],
        stale: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Create or update a customer known to the business, with verified identities.

        ``stale``: identities an earlier seed gave this customer in a form no sender matches (a
        phone as written, not E.164): removed from the customer when the seed wrote them.
        """
        async with self.db.sessions.begin() as session:
            row = (
                await session.execute(
                    select(Customer).where(
                        Customer.workspace_id == workspace_id, Customer.external_id == external_id
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                row = Customer(
                    id=new_id("cus"),
                    workspace_id=workspace_id,
                    external_id=external_id,
                    attributes={},
                )
                session.add(row)
            row.display_name = name
            row.attributes = {**row.attributes, **attributes}
            for channel, address in stale:
                await session.execute(
                    delete(Identity).where(
                        Identity.workspace_id == workspace_id,
                        Identity.customer_id == row.id,
                        Identity.source == "seed",
                        Identity.matches(channel, address),
                    )
                )
            for channel, address in identities:
                exists = (
                    await session.execute(
                        select(Identity.id).where(
                            Identity.workspace_id == workspace_id,
                            Identity.matches(channel, address),
                        )
                    )
                ).first()
                if exists is None:
                    session.add(
                        Identity(
                            workspace_id=workspace_id,
                            customer_id=row.id,
                            channel=channel,
                            address=address,
                            verified=True,
                            source="seed",
                            verified_at=utcnow(),
                        )
                    )
            return row.id

    async def resolve_customer(
        self,
        workspace_id: str,
        channel: str,
        address: str,
        name: str | None = None,
        *,
        business_id: bool = False,
        verified: bool = False,
    ) -> tuple[str, bool]:
        """Customer that owns ``(channel, address)``; created if new. Returns (id, created).

        ``channel`` is the identifier's kind (:func:`omnivox.identity.kinds.identity_of`).
        With ``business_id`` the address may also be the business's own id of a customer it
        told us about (``external_id``): set only for callers the business vouches for. A new
        identity is ``verified`` when the channel proves it (source ``channel``).
        """
        try:
            async with self.db.sessions.begin() as session:  # look up and create: one session
                query, params = identity_owner_statement(
                    workspace_id, channel, address, business_id=business_id
                )
                found = (await session.execute(query, params)).scalar()
                if found is not None:
                    return found, False
                newcomer = Newcomer(workspace_id, channel, address, name, verified)
                await newcomer.add_to(session)
            return newcomer.id, True
        except IntegrityError:  # created concurrently by another worker
            owner = await self.identity_owner(workspace_id, channel, address)
            if owner is None:
                raise
            return owner, False

    async def identity_owner(
        self, workspace_id: str, channel: str, address: str, *, business_id: bool = False
    ) -> str | None:
        """The customer that owns ``(channel, address)`` in the workspace, if any.

        With ``business_id``, a customer whose business id (``external_id``) is ``address``
        comes first; one query either way.
        """
        async with self.db.sessions() as session:
            query, params = identity_owner_statement(
                workspace_id, channel, address, business_id=business_id
            )
            return (await session.execute(query, params)).scalar()

    async def find_open_conversation(
        self, workspace_id: str, customer_id: str, since: datetime | None = None
    ) -> str | None:
        """The customer's most recent conversation that is not closed (active ``since``)."""
        async with self.db.sessions() as session:
            query, params = _open_conversation(workspace_id, customer_id, since)
            found = await session.execute(query.with_only_columns(Conversation.id), params)
            return found.scalar_one_or_none()

    async def attach_inbound(
        self,
        inbound: InboundMessage,
        customer: str | Newcomer,
        continuity: timedelta | None = None,
        memory: MemoryRequest | None = None,
    ) -> Attached:
        """Resume (or open) the conversation, read its memory, store the message: one transaction.

        ``customer`` is the sender's customer id, or a :class:`Newcomer` whose customer and
        identity are created in the same transaction (a new customer has no conversation to
        resume: one is opened without a look). If another process created that identity
        meanwhile, the message goes to the customer it created.

        The open conversation is resumed only if it was active within ``continuity``; a
        message arriving on another channel than the conversation's last one records that
        channel as ``metadata.resumed_from``. With ``memory``, a resumed conversation's memory
        before this message is read first (a conversation just opened has none), before any
        write, so the transaction holds SQLite's write lock only for its writes.

        The unique constraint on (workspace, channel, direction, provider_message_id) makes the
        dedupe part of the same transaction: a resent message raises DuplicateMessageError and
        leaves nothing behind, not even a conversation (or a new customer). An id that names
        another customer's message raises MessageIdTakenError instead: a caller's reused id
        must not hand one customer another's answer. Our replies' ids are never matched.
        """
        try:
            return await self._attach(inbound, customer, continuity, memory)
        except IntegrityError:
            if isinstance(customer, Newcomer):
                owner = await self.identity_owner(
                    customer.workspace_id, customer.kind, customer.address
                )
                if owner is not None:  # created by another process since identify looked
                    return await self.attach_inbound(inbound, owner, continuity, memory)
            found = await self._by_provider_id(inbound)
            if found is None:
                raise
            original, sender = found
            if isinstance(customer, Newcomer) or sender != customer:
                raise MessageIdTakenError(inbound.provider_message_id) from None
            raise DuplicateMessageError(original) from None

    async def _attach(
        self,
        inbound: InboundMessage,
        customer: str | Newcomer,
        continuity: timedelta | None,
        memory: MemoryRequest | None,
    ) -> Attached:
        row = Message(
            id=new_id("msg"),
            workspace_id=inbound.workspace_id,
            direction="in",
            channel=inbound.channel,
            text=inbound.text,
            provider_message_id=inbound.provider_message_id,
            status="received",
            meta=dict(inbound.metadata),
            created_at=inbound.received_at,
        )
        recall: Recall | None = None
        async with self.db.sessions.begin() as session:
            if isinstance(customer, Newcomer):
                await customer.add_to(session)
                customer_id = customer.id
                conv, created, how, previous = await self._new_conversation(
                    session, inbound, customer_id
                )
            else:
                customer_id = customer
                if self.db.backend == "postgresql":  # one attach per customer at a time, across
                    # processes: two found no open conversation and each opened one
                    key = {"k": advisory_key(f"omnivox:customer:{customer_id}")}
                    await session.execute(_CUSTOMER_LOCK, key)
                since = utcnow() - continuity if continuity is not None else None
                conv, created, how, previous = await self._open_conversation(
                    session, inbound, customer_id, since
                )
            if memory is not None and not created:
                recall = await self._recall_unflushed(session, conv, memory)
            row.conversation_id = conv.id
            row.meta = {**row.meta, "thread": how, **_sender_notes(inbound, previous)}
            session.add(row)
        newcomer = isinstance(customer, Newcomer)
        return Attached(StoredMessage.of(row), created, recall, customer_id, newcomer)

    @staticmethod
    async def _recall_unflushed(
        session: AsyncSession, conv: Conversation, memory: MemoryRequest
    ) -> Recall:
        """The conversation's memory, read without flushing the turn's pending writes."""
        with session.no_autoflush:
            customer = await session.get(Customer, conv.customer_id)
            assert customer is not None, "a conversation's customer is never deleted first"
            recall = await recall_in(session, conv, customer, None, memory.window, memory.rules)
            if not memory.analyses:
                return recall
            analyses = await recent_analyses(session, conv.id, memory.analyses)
            return replace(recall, analyses=analyses)

    async def _open_conversation(
        self,
        session: AsyncSession,
        inbound: InboundMessage,
        customer_id: str,
        since: datetime | None,
    ) -> tuple[Conversation, bool, str, tuple[str, str] | None]:
        """(conversation, created, how it was found, its previous (last channel, status)).

        How: references | address (threading hints) | open (resumed) | new.
        """
        threaded = await self._threaded(session, inbound, customer_id)
        conv: Conversation | None
        if threaded is not None:
            conv, how = threaded
            if conv.status == "closed":  # a reply to a closed thread reopens it
                conv.status = "bot"
        else:
            query, params = _open_conversation(inbound.workspace_id, customer_id, since)
            conv, how = (await session.execute(query, params)).scalar_one_or_none(), "open"
        if conv is not None:
            previous = (conv.last_channel, conv.status)
            conv.last_channel, conv.updated_at = inbound.channel, utcnow()
            return conv, False, how, previous
        return await self._new_conversation(session, inbound, customer_id)

    @staticmethod
    async def _new_conversation(
        session: AsyncSession, inbound: InboundMessage, customer_id: str
    ) -> tuple[Conversation, bool, str, tuple[str, str] | None]:
        """A conversation opened for this message (written with it)."""
        conv = Conversation(
            id=new_id("conv"),
            workspace_id=inbound.workspace_id,
            customer_id=customer_id,
            status="bot",
            last_channel=inbound.channel,
        )
        session.add(conv)
        await session.flush()  # before the message that refers to it
        return conv, True, "new", None

    async def _threaded(
        self, session: AsyncSession, inbound: InboundMessage, customer_id: str
    ) -> tuple[Conversation, str] | None:
        """The conversation the message's threading hints name, if it is the customer's own.

        Message ids it answers come first (on the same channel), then the conversation named by
        its address. A hint to someone else's conversation is ignored, never followed.
        """
        candidates: list[tuple[str, str]] = []
        if inbound.follows:
            rows = await session.execute(
                select(Message.provider_message_id, Message.conversation_id).where(
                    Message.workspace_id == inbound.workspace_id,
                    Message.channel == inbound.channel,
                    Message.provider_message_id.in_(inbound.follows),
                )
            )
            found = {ref: conv for ref, conv in rows.all() if ref is not None}
            candidates = [(found[r], "references") for r in inbound.follows if r in found]
        if inbound.conversation_hint:
            candidates.append((inbound.conversation_hint, "address"))
        for conversation_id, how in candidates:
            conv = await session.get(Conversation, conversation_id)
            if (
                conv is not None
                and conv.workspace_id == inbound.workspace_id
                and conv.customer_id == customer_id
            ):
                return conv, how
        return None

    async def earlier_in_thread(self, inbound: InboundMessage, limit: int) -> list[StoredMessage]:
        """The latest ``limit`` messages, newest first, on the inbound's channel of its thread.

        The thread is the conversation its threading hints name, as attach finds it: the
        sender's own, or none (a new sender, hints to no conversation of theirs: ``[]``). Only
        messages stored before it count, so a resent message sees what it saw the first time.
        """
        kind, address = identity_of(inbound.channel, inbound.sender.address)
        owner = await self.identity_owner(inbound.workspace_id, kind, address)
        if owner is None:
            return []
        async with self.db.sessions() as session:
            threaded = await self._threaded(session, inbound, owner)
            if threaded is None:
                return []
            conversation_id = threaded[0].id
            query = (
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .where(Message.channel == inbound.channel)
                .order_by(Message.seq.desc())
                .limit(limit)
            )
            seq = await self._stored_seq(session, conversation_id, inbound)
            if seq is not None:
                query = query.where(Message.seq < seq)
            return [StoredMessage.of(row) for row in (await session.execute(query)).scalars()]

    @staticmethod
    async def _stored_seq(
        session: AsyncSession, conversation_id: str, inbound: InboundMessage
    ) -> int | None:
        """Where the inbound message is in the conversation, when it is stored (a resend)."""
        if inbound.provider_message_id is None:
            return None
        found = await session.execute(
            select(Message.seq).where(
                Message.conversation_id == conversation_id,
                Message.channel == inbound.channel,
                Message.direction == "in",
                Message.provider_message_id == inbound.provider_message_id,
            )
        )
        return found.scalar()

    async def has_provider_id(self, inbound: InboundMessage) -> bool:
        """Whether a message with the inbound's provider id is stored (a retry of it)."""
        return inbound.provider_message_id is not None and (
            await self._by_provider_id(inbound) is not None
        )

    async def _by_provider_id(self, inbound: InboundMessage) -> tuple[StoredMessage, str] | None:
        """The inbound message stored with this provider id, and its conversation's customer."""
        async with self.db.sessions() as session:
            found = (
                await session.execute(
                    select(Message, Conversation.customer_id)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(
                        Message.workspace_id == inbound.workspace_id,
                        Message.channel == inbound.channel,
                        Message.direction == "in",
                        Message.provider_message_id == inbound.provider_message_id,
                    )
                )
            ).one_or_none()
            return (StoredMessage.of(found[0]), found[1]) if found else None

    async def store_outbound(
        self,
        workspace_id: str,
        conversation_id: str,
        channel: str,
        text: str,
        in_reply_to: str | None,
        metadata: dict[str, Any],
        status: str = "pending",
        inbound: MetadataUpdate | None = None,
    ) -> StoredMessage:
        """Write an outbound message before any send.

        ``pending``, or ``sending`` when this process claims it for a provider's outbox
        (:mod:`omnivox.storage.outbox`). ``inbound``: the metadata the turn learned about the
        message it answers (understanding), written in the same transaction.
        """
        row = Message(
            id=new_id("msg"),
            workspace_id=workspace_id,
            conversation_id=conversation_id,
            direction="out",
            channel=channel,
            text=text,
            in_reply_to=in_reply_to,
            status=status,
            meta=metadata,
            created_at=utcnow(),
        )
        row.claimed_at = row.created_at if status == "sending" else None
        async with self.db.sessions.begin() as session:
            session.add(row)
            if inbound is not None:
                await inbound.run(session)
        return StoredMessage.of(row)

    async def save_metadata(self, change: MetadataUpdate) -> None:
        """Store a message's metadata (one UPDATE: the whole metadata is known)."""
        async with self.db.sessions.begin() as session:
            await change.run(session)

    async def mark_delivery(self, message: StoredMessage, receipt: DeliveryReceipt) -> None:
        """Record what the channel said about an outbox row (one UPDATE, no read)."""
        delivery = {"provider_message_id": receipt.provider_message_id, "error": receipt.error}
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(status=receipt.status, meta={**message.metadata, "delivery": delivery})
            )

    async def known_values(self, customer_id: str) -> list[tuple[str, str]]:
        """The customer's own name, first name, emails and phones, for redaction."""
        async with self.db.sessions() as session:
            customer = await session.get(Customer, customer_id)
            return await known_values(session, customer) if customer is not None else []

    async def last_inbound(self, conversation_id: str) -> StoredMessage | None:
        """The conversation's latest customer message."""
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    select(Message)
                    .where(Message.conversation_id == conversation_id, Message.direction == "in")
                    .order_by(Message.seq.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            return StoredMessage.of(row) if row else None

    async def redact(self, message_id: str, text: str) -> None:
        """Replace a stored message's text (a one-time code must not linger in memory)."""
        async with self.db.sessions.begin() as session:
            await session.execute(update(Message).where(Message.id == message_id).values(text=text))

    async def unanswered(self, since: datetime) -> list[tuple[str, StoredMessage]]:
        """(workspace, message) of customer messages since ``since`` with no reply, oldest first.

        Only in conversations the bot answers (not those people hold, nor closed ones), not
        phone calls (the caller has hung up), and only a conversation's latest customer message:
        one the customer wrote after (answered meanwhile, or to be answered) supersedes it, and
        an answer to the earlier one would come after it, from an older memory.
        """
        reply, later = aliased(Message), aliased(Message)
        answered = select(reply.seq).where(
            reply.in_reply_to == Message.id, reply.direction == "out"
        )
        superseded = select(later.seq).where(
            later.conversation_id == Message.conversation_id,
            later.direction == "in",
            later.seq > Message.seq,
        )
        query = (
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Message.direction == "in",
                Message.created_at >= since,
                Message.channel != "voice",
                Conversation.status == "bot",
                ~answered.exists(),
                ~superseded.exists(),
            )
            .order_by(Message.seq)
        )
        async with self.db.sessions() as session:
            rows = (await session.execute(query)).scalars()
            return [(row.workspace_id, StoredMessage.of(row)) for row in rows]

    async def reply_to(self, message_id: str) -> StoredMessage | None:
        """The outbound answer to an inbound message, if one was written."""
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    select(Message)
                    .where(Message.in_reply_to == message_id, Message.direction == "out")
                    .order_by(Message.seq)
                    .limit(1)
                )
            ).scalar_one_or_none()
            return StoredMessage.of(row) if row else None

    async def recall(
        self,
        conversation_id: str,
        before_id: str | None,
        window: int,
        memory: MemoryRules,
        *,
        quiet: bool = False,
    ) -> Recall:
        """The memory before message ``before_id`` (see :func:`omnivox.storage.memory.recall_in`).

        ``before_id`` None: the memory after the last message, as the next turn will find it.
        ``quiet``: nobody waits for the answer (the prepare step): fold as soon as it is due.
        """
        async with self.db.sessions() as session:
            found = (
                await session.execute(
                    select(Conversation, Customer)
                    .join(Customer, Customer.id == Conversation.customer_id)
                    .where(Conversation.id == conversation_id)
                )
            ).first()
            if found is None:
                return Recall("", [], {})
            seq = (
                select(Message.seq).where(Message.id == before_id).scalar_subquery()
                if before_id is not None
                else None
            )
            return await recall_in(session, found[0], found[1], seq, window, memory, quiet=quiet)

    async def save_summary(self, conversation_id: str, pending: Pending, summary: str) -> bool:
        """Store a new summary unless another writer already moved it on (True if stored)."""
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.summary_seq == pending.from_seq,
                )
                .values(summary=summary, summary_seq=pending.to_seq)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def conversation_exists(self, conversation_id: str) -> bool:
        """Whether the conversation is stored (an erasure deletes it under a running turn)."""
        async with self.db.sessions() as session:
            found = await session.execute(
                select(Conversation.id).where(Conversation.id == conversation_id)
            )
            return found.first() is not None

    async def conversation(
        self, conversation_id: str, workspace_id: str | None = None
    ) -> ConversationView | None:
        """A conversation and all its messages in order, optionally scoped to a workspace."""
        async with self.db.sessions() as session:
            conv = await session.get(Conversation, conversation_id)
            if conv is None or (workspace_id is not None and conv.workspace_id != workspace_id):
                return None
            rows = await session.execute(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.seq)
            )
            messages = [StoredMessage.of(r) for r in rows.scalars()]
        return ConversationView(
            conv.id,
            conv.workspace_id,
            conv.customer_id,
            conv.status,
            conv.last_channel,
            conv.created_at,
            messages,
        )

    async def add_events(self, records: Sequence[EventRecord]) -> None:
        """Append events in one transaction: one multi-row INSERT (no ids read back)."""
        if not records:
            return
        rows = [
            {
                "type": r.type,
                "workspace_id": r.workspace_id,
                "conversation_id": r.conversation_id,
                "turn_id": r.turn_id,
                "payload": r.payload,
                "timings": r.timings,
                "created_at": r.created_at,
            }
            for r in records
        ]
        async with self.db.sessions.begin() as session:
            await session.execute(insert(Event), rows)

    async def events(
        self, *, conversation_id: str | None = None, type_: str | None = None
    ) -> list[Event]:
        """Events in insertion order, filtered."""
        async with self.db.sessions() as session:
            query = select(Event).order_by(Event.id)
            if conversation_id is not None:
                query = query.where(Event.conversation_id == conversation_id)
            if type_ is not None:
                query = query.where(Event.type == type_)
            return list((await session.execute(query)).scalars())
