"""A conversation's memory as the next turn finds it: summary, verbatim history, profile facts.

Read inside a session the caller opened, so a turn can read its memory in the same transaction
that stores its message (:meth:`omnivox.storage.repositories.Store.attach_inbound`), or on
its own (:meth:`omnivox.storage.repositories.Store.recall`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select

from omnivox.storage.db import AsyncSession
from omnivox.storage.models import Conversation, Customer, Handoff, Identity, Message
from omnivox.types import HistoryItem

# profile attributes the model may know (no contact details, no address)
FACT_KEYS = ("locale", "loyalty_tier")


@dataclass(frozen=True, slots=True)
class MemoryRules:
    """When the oldest messages fold into the summary (so how far the verbatim history grows).

    A fold is due once ``fold_messages`` messages wait beyond the window. A fold rewrites the
    prompt right after the system prompt, so the model re-reads the whole conversation (seconds
    on 2 cores). The prepare step folds in a quiet moment, when nobody waits; a turn folds for
    itself only once ``wait_messages`` more have come (a conversation that never pauses), and
    until then its history keeps growing, so its prompt still begins with the previous one's.
    """

    fold_messages: int = 20
    wait_messages: int = 0

    def cap(self, window: int, *, quiet: bool) -> int:
        """Unsummarized messages at which a fold happens (``quiet``: in the prepare step)."""
        return window + self.fold_messages + (0 if quiet else self.wait_messages)


@dataclass(frozen=True, slots=True)
class Pending:
    """Messages due to be folded into the summary (``summary_seq`` moves from -> to)."""

    from_seq: int
    to_seq: int
    items: list[HistoryItem]


@dataclass(frozen=True, slots=True)
class Recall:
    """What a turn remembers of its conversation."""

    summary: str
    history: list[HistoryItem]
    facts: dict[str, str]
    pending: Pending | None = None
    known: list[tuple[str, str]] = field(default_factory=list)  # own values, for redaction
    analyses: list[dict[str, Any]] = field(default_factory=list)  # earlier messages' metadata.nlu


def profile_facts(customer: Customer) -> dict[str, str]:
    """A few harmless facts: first name, locale, loyalty tier, order numbers they mentioned."""
    facts = {k: str(customer.attributes[k]) for k in FACT_KEYS if customer.attributes.get(k)}
    if customer.display_name:
        facts["first_name"] = customer.display_name.split()[0]
    learned = (customer.attributes.get("facts") or {}).get("order_numbers")
    if learned:
        facts["order_numbers_mentioned"] = ", ".join(map(str, learned))
    return facts


async def recall_in(
    session: AsyncSession,
    conv: Conversation,
    customer: Customer,
    before: Any | None,
    window: int,
    rules: MemoryRules,
    *,
    quiet: bool = False,
) -> Recall:
    """The memory of ``conv`` before message seq ``before`` (a value or a subquery; None: all).

    The verbatim history is every message since the summary (at least the last ``window`` of
    them). It only grows between folds, so a turn's prompt begins with the previous turn's and
    a KV cache or a provider's prompt cache reuses it; a window sliding every turn would change
    the prompt right after the summary each time. Once ``rules.cap(window, quiet=quiet)``
    messages are unsummarized, all but the newest ``window`` come back as ``pending`` (for a
    summarizer and ``Store.save_summary``) and leave the history. ``quiet``: the caller works
    while nobody waits (the prepare step), so a fold is done as soon as it is due.
    ``window`` 0 means no verbatim history.
    """
    pending: Pending | None = None
    cap = rules.cap(window, quiet=quiet)
    if before is None:  # a turn's own recall: the statement is built once
        params = {"r_conversation": conv.id, "r_after": conv.summary_seq, "r_cap": cap}
        recent = list((await session.execute(_NEWEST, params)).all())
    else:
        newest = _before(conv, before).order_by(Message.seq.desc()).limit(cap)
        recent = list((await session.execute(newest)).all())
    if len(recent) == cap:  # time to fold (more may be waiting when a fold lagged)
        recent = recent[:window]
        older = _before(conv, before).order_by(Message.seq)
        if recent:
            older = older.where(Message.seq < recent[-1].seq)
        items = list((await session.execute(older)).all())
        pending = Pending(conv.summary_seq, items[-1].seq, [_item(r) for r in items])
    history = [_item(r) for r in reversed(recent)] if window else []
    known = await known_values(session, customer)
    return Recall(conv.summary, history, profile_facts(customer), pending, known)


def _unsummarized(conversation: Any, after: Any) -> Select[int, str, str, str]:
    """Messages of ``conversation`` with seq above ``after`` (values or bind parameters).

    Only what memory needs (seq, direction, text, channel): the metadata stays encrypted.
    """
    return select(Message.seq, Message.direction, Message.text, Message.channel).where(
        Message.conversation_id == conversation, Message.seq > after
    )


def _before(conv: Conversation, before: Any | None) -> Select[int, str, str, str]:
    """The conversation's messages after its summary and before ``before`` (a seq; None: all)."""
    query = _unsummarized(conv.id, conv.summary_seq)
    return query if before is None else query.where(Message.seq < before)


# a turn's statements, built once (building costs more than SQLite takes to run them)
_NEWEST = (
    _unsummarized(bindparam("r_conversation"), bindparam("r_after"))
    .order_by(Message.seq.desc())
    .limit(bindparam("r_cap"))
)
_LAST_HANDOFF = (
    select(func.max(Handoff.created_at))
    .where(Handoff.conversation_id == bindparam("a_conversation"))
    .scalar_subquery()
)
_ANALYSES = (  # the customer's messages' metadata since the last handoff, newest first
    select(Message.meta)
    .where(
        Message.conversation_id == bindparam("a_conversation"),
        Message.direction == "in",
        or_(_LAST_HANDOFF.is_(None), Message.created_at > _LAST_HANDOFF),
    )
    .order_by(Message.seq.desc())
    .limit(bindparam("a_limit"))
)
_KNOWN = select(Identity.channel, Identity.address).where(
    Identity.customer_id == bindparam("k_customer"), Identity.channel.in_(("email", "phone"))
)


async def known_values(session: AsyncSession, customer: Customer) -> list[tuple[str, str]]:
    """The customer's own name, first name, emails and phones, for redaction."""
    rows = await session.execute(_KNOWN, {"k_customer": customer.id})
    known = [(kind.upper(), address) for kind, address in rows.all()]
    return known + name_values(customer.display_name)


def name_values(name: str | None) -> list[tuple[str, str]]:
    """A display name and its first name (when longer than two letters) as known values."""
    if not name or not name.split():
        return []
    first = name.split()[0]
    return [("NAME", name)] + ([("NAME", first)] if len(first) > 2 else [])


async def recent_analyses(
    session: AsyncSession, conversation_id: str, limit: int
) -> list[dict[str, Any]]:
    """``metadata.nlu`` of the customer's last ``limit`` stored messages, oldest first.

    Called before the turn's own message is written, so these are the earlier ones; messages
    stored before understanding existed are skipped, and so is everything up to the
    conversation's last handoff: after a person returns or resolves it, streaks (sentiment, low
    confidence) start again (until 2026-12-05 the messages that fetched the person, with the
    unanalysed ones during the handoff skipped, made the next mild one a "3 negative messages
    in a row"). Sentiment and confidence trends and a
    pending action's follow-up read them (the understand and route steps).
    """
    params = {"a_conversation": conversation_id, "a_limit": limit}
    metas = [m.get("nlu") for m in (await session.execute(_ANALYSES, params)).scalars()]
    return [m for m in reversed(metas) if isinstance(m, dict)]


def _item(row: Any) -> HistoryItem:  # a row of _unsummarized's columns
    return HistoryItem("in" if row.direction == "in" else "out", row.text, row.channel)
