"""What an unmerge gives back of what two people wrote while their profiles were one.

While A was merged into B, both wrote into B's conversations: continuity resumes the profile's
most recent open conversation, which may be A's (moved to B) or B's own, whoever writes. Moving
A's conversations back whole would hand A what B wrote in them (an address, a card) and leave
A's words in B's. So an unmerge sorts every message written after the merge, in the
conversations the chain now holds (B, and C where B was merged on into C), by its writer:

- a customer's message is A's when its sender is an identifier the merge moved from A (or, on
  the REST API, A's business id); any other sender's stays;
- a reply goes with the message it answers, an agent's message with the one before it.

Each conversation keeps its owner's side (A's conversations go back to A, the others stay; one
opened after the merge belongs to its first writer), and the other side's messages leave it for
a new conversation of theirs. Tickets, handoffs, notes, ratings and events opened on it after
the merge go with the side of the message they followed (an event with the turn's message id
with that message). A conversation that lost or gained messages has its summary dropped when
it covered any of them (the next fold rebuilds it from what is left); a handoff opened after
the merge gets its packet's customer and summary written again from its side alone; the order
numbers learned while merged go with the messages that mentioned them, and an SMS STOP or
START sent while merged with the number that sent it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from omnivox.identity.consent import sms_keyword
from omnivox.identity.kinds import identity_of
from omnivox.ids import new_id
from omnivox.storage.db import AsyncSession
from omnivox.storage.models import (
    Consent,
    Conversation,
    Customer,
    Event,
    Handoff,
    Identity,
    Message,
    Note,
    Rating,
    Ticket,
)
from omnivox.storage.repositories import StoredMessage

SOURCE, KEPT = "source", "kept"
OPEN_HANDOFFS = ("waiting", "claimed")
ORDERS = "order_numbers"
KEEP_ORDERS = 5  # as SignalStore.learn keeps them


@dataclass(frozen=True, slots=True)
class MergeMark:
    """When the merge happened: the last message written before it.

    Merges recorded before the mark was kept have only their time.
    """

    at: datetime
    last_seq: int | None

    def after(self) -> Any:
        """The messages written after the merge (a WHERE clause)."""
        if self.last_seq is not None:
            return Message.seq > self.last_seq
        return Message.created_at > self.at


@dataclass
class Split:
    """One unmerge's sorting of what was written while merged; :meth:`run`, then :meth:`settle`."""

    workspace_id: str
    source: Customer
    holders: list[str]
    listed: set[str]  # the source's conversations the merge moved
    mark: MergeMark
    writer_ids: list[int]  # the identities the merge moved from the source
    moved: list[dict[str, Any]] = field(default_factory=list)  # for the event
    source_orders: list[tuple[int, str]] = field(default_factory=list)  # (seq, number) by A
    handoffs: list[str] = field(default_factory=list)  # opened while merged: packets to rewrite
    sides: dict[str, str] = field(default_factory=dict)  # message id -> who wrote it

    async def run(self, session: AsyncSession) -> None:
        """Sort the messages and what hangs on them; before the merge's rows move back."""
        writer = await self._writer(session)
        convs = list(
            (
                await session.execute(
                    select(Conversation).where(
                        Conversation.workspace_id == self.workspace_id,
                        Conversation.customer_id.in_(self.holders),
                    )
                )
            ).scalars()
        )
        ids = [c.id for c in convs]
        # every handoff opened while merged has the merged profile in its packet
        opened = await session.execute(
            select(Handoff.id).where(
                Handoff.conversation_id.in_(ids), Handoff.created_at > self.mark.at
            )
        )
        self.handoffs = [h for (h,) in opened.all()]
        rows = (
            await session.execute(
                select(Message)
                .where(Message.conversation_id.in_(ids), self.mark.after())
                .order_by(Message.seq)
            )
        ).scalars()
        written: dict[str, list[Message]] = defaultdict(list)
        for row in rows:
            written[row.conversation_id].append(row)
        if not written:  # nobody wrote while merged: the merge's own rows move back whole
            return
        older = {
            cid
            for (cid,) in await session.execute(
                select(Message.conversation_id)
                .where(Message.conversation_id.in_(list(written)), ~self.mark.after())
                .group_by(Message.conversation_id)
            )
        }
        for conv in convs:
            if conv.id in written:
                await self._conversation(session, conv, written[conv.id], conv.id in older, writer)
        await self._keywords(session, [row for rows in written.values() for row in rows])

    async def _keywords(self, session: AsyncSession, written: list[Message]) -> None:
        """An SMS STOP or START sent while merged decided for its sender's number alone."""
        said = sorted(
            (
                row
                for row in written
                if row.direction == "in" and sms_keyword(row.channel, row.text) is not None
            ),
            key=lambda row: row.seq,
        )
        if not said:
            return
        rows = await session.execute(
            select(Consent).where(
                Consent.customer_id.in_(self.holders),
                Consent.created_at > self.mark.at,
                Consent.source.startswith("sms keyword "),
            )
        )
        for row in rows.scalars():
            before = [
                m
                for m in said
                if m.created_at <= row.created_at
                and row.source == f"sms keyword {m.text.strip().upper()}"
            ]
            if before and self.sides.get(before[-1].id) == SOURCE:
                row.customer_id = self.source.id

    async def _writer(self, session: AsyncSession) -> Callable[[Message], str | None]:
        """Who wrote a customer message: SOURCE, KEPT, or None (no sender recorded)."""
        rows = await session.execute(
            select(Identity.channel, Identity.address).where(Identity.id.in_(self.writer_ids))
        )
        theirs = {(kind, address) for kind, address in rows.all()}
        ids = await session.execute(
            select(Customer.external_id).where(Customer.id.in_(self.holders))
        )
        kept_ids = {e for (e,) in ids.all() if e}
        own_id = self.source.external_id

        def writer(row: Message) -> str | None:
            sender = (row.meta or {}).get("sender") or {}
            address = sender.get("address")
            if not isinstance(address, str):
                return None
            kind, address = identity_of(row.channel, address)
            if kind == "api" and address == own_id:  # the business's id comes first
                return SOURCE
            if kind == "api" and address in kept_ids:
                return KEPT
            return SOURCE if (kind, address) in theirs else KEPT

        return writer

    async def _conversation(
        self,
        session: AsyncSession,
        conv: Conversation,
        written: Sequence[Message],
        older: bool,
        writer: Callable[[Message], str | None],
    ) -> None:
        holder = conv.customer_id
        base = SOURCE if conv.id in self.listed else KEPT
        sides: dict[str, str] = {}
        last: str | None = None if not older else base
        for row in written:
            side = writer(row) if row.direction == "in" else sides.get(row.in_reply_to or "")
            side = side or last or base
            sides[row.id] = self.sides[row.id] = last = side
        if written and not older:  # opened after the merge: its first writer's
            base = sides[written[0].id]
        owner = {SOURCE: self.source.id, KEPT: holder}
        if base == SOURCE:
            conv.customer_id = self.source.id
        self.source_orders += [
            (row.seq, n)
            for row in written
            if row.direction == "in" and sides[row.id] == SOURCE
            for n in _orders_in(row.meta)
        ]
        other = [row for row in written if sides[row.id] != base]
        new: Conversation | None = None
        if other:
            side = KEPT if base == SOURCE else SOURCE
            new = Conversation(
                id=new_id("conv"),
                workspace_id=conv.workspace_id,
                customer_id=owner[side],
                status="closed" if conv.status == "closed" else "bot",
                last_channel=other[-1].channel,
                created_at=other[0].created_at,
                updated_at=other[-1].created_at,
                summary="",
                summary_seq=0,
            )
            session.add(new)
            await session.flush()  # before the messages that name it
            for row in other:
                row.conversation_id = new.id
            await session.flush()
            latest = (
                await session.execute(
                    select(Message.created_at, Message.channel)
                    .where(Message.conversation_id == conv.id)
                    .order_by(Message.seq.desc())
                    .limit(1)
                )
            ).first()
            if latest is not None:  # continuity resumes it as of its own last message
                conv.updated_at, conv.last_channel = latest[0], latest[1]
            if conv.summary_seq >= other[0].seq:  # it summed up the other side's words too
                conv.summary, conv.summary_seq = "", 0
            self.moved.append(
                {"from": conv.id, "to": new.id, "customer": owner[side], "messages": len(other)}
            )
        await self._attached(session, conv, new, base, written, sides, owner)

    async def _attached(
        self,
        session: AsyncSession,
        conv: Conversation,
        new: Conversation | None,
        base: str,
        written: Sequence[Message],
        sides: dict[str, str],
        owner: dict[str, str],
    ) -> None:
        """Tickets, handoffs, notes, ratings and events opened on ``conv`` after the merge."""

        def side_at(at: datetime, message_id: Any = None) -> str:
            if isinstance(message_id, str) and message_id in sides:
                return sides[message_id]
            before = [row for row in written if row.created_at <= at]
            return sides[before[-1].id] if before else base

        moved_open = kept_open = False
        models: tuple[Any, ...] = (Ticket, Handoff, Note, Rating, Event)
        for model in models:
            rows = (
                await session.execute(
                    select(model).where(
                        model.conversation_id == conv.id, model.created_at > self.mark.at
                    )
                )
            ).scalars()
            for row in rows:
                hint = row.payload.get("message_id") if isinstance(row, Event) else None
                side = side_at(row.created_at, hint) if new is not None else base
                if side != base and new is not None:
                    row.conversation_id = new.id
                if isinstance(row, Ticket | Handoff):
                    row.customer_id = owner[side]
                if isinstance(row, Handoff) and row.status in OPEN_HANDOFFS:
                    moved_open |= side != base
                    kept_open |= side == base
        if new is not None and moved_open:
            new.status = "human"
            if conv.status == "human" and not kept_open:
                conv.status = "bot"

    async def settle(
        self, session: AsyncSession, describe: Callable[[Identity], dict[str, Any]]
    ) -> None:
        """After the rows moved back: order numbers learned while merged, handoff packets."""
        await session.flush()
        await self._orders(session)
        for handoff_id in self.handoffs:
            # locked: a packet's other fields may change meanwhile (HandoffStore.merge_packet)
            row = await session.get(
                Handoff, handoff_id, with_for_update=True, populate_existing=True
            )
            if row is not None:
                await _repacked(session, row, describe)

    async def _orders(self, session: AsyncSession) -> None:
        """Order numbers the source mentioned go back with it, and leave the kept profiles."""
        facts = dict(self.source.attributes.get("facts") or {})
        mentioned = [n for _, n in sorted(self.source_orders)]
        theirs = set(facts.get(ORDERS) or []) | set(mentioned)
        if not theirs:
            return
        metas = await session.execute(
            select(Message.meta)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.customer_id.in_(self.holders), Message.direction == "in")
        )
        said = {n for (meta,) in metas.all() for n in _orders_in(meta)}
        for holder_id in self.holders:
            holder = await session.get(Customer, holder_id)
            known = dict((holder.attributes.get("facts") or {}) if holder else {})
            if holder is None or not known.get(ORDERS):
                continue
            known[ORDERS] = [n for n in known[ORDERS] if n not in theirs or n in said]
            holder.attributes = {**holder.attributes, "facts": known}
        if mentioned:  # as SignalStore.learn would have, one message after the other
            new = list(dict.fromkeys(reversed(mentioned)))[::-1]
            old = [n for n in facts.get(ORDERS) or [] if n not in new]
            facts[ORDERS] = (old + new)[-KEEP_ORDERS:]
            self.source.attributes = {**self.source.attributes, "facts": facts}


async def last_seq(session: AsyncSession) -> int:
    """The last message written so far (a merge keeps it: what came after, an unmerge sorts)."""
    return int((await session.execute(select(func.max(Message.seq)))).scalar() or 0)


def _orders_in(meta: Any) -> list[str]:
    nlu = (meta or {}).get("nlu") or {}
    return [
        str(e.get("value"))
        for e in nlu.get("entities") or []
        if isinstance(e, dict) and e.get("kind") == "order_number" and e.get("value")
    ]


async def _repacked(
    session: AsyncSession, row: Handoff, describe: Callable[[Identity], dict[str, Any]]
) -> None:
    """A packet made while merged, made again from its own side: customer and summary."""
    from omnivox.handoff.desk import summary  # the desk's own words; it imports storage

    customer = await session.get(Customer, row.customer_id)
    identities = (
        await session.execute(select(Identity).where(Identity.customer_id == row.customer_id))
    ).scalars()
    messages = (
        await session.execute(
            select(Message)
            .where(Message.conversation_id == row.conversation_id)
            .where(Message.created_at <= row.created_at)
            .order_by(Message.seq)
        )
    ).scalars()
    name = customer.display_name if customer else None
    packet = dict(row.packet)
    if "summary" in packet:
        reasons = [str(r) for r in packet.get("reasons") or []]
        packet["summary"] = summary(name, [StoredMessage.of(m) for m in messages], reasons)
    if "customer" in packet:
        packet["customer"] = {
            "id": row.customer_id,
            "name": name,
            "identities": [describe(i) for i in identities],
        }
    row.packet = packet
