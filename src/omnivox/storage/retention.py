"""Retention: conversation data older than a workspace's ``retention_days`` is deleted.

Purged: messages older than the cutoff (and the events of the same age), handoffs closed and
notes written before the cutoff (a packet quotes the conversation), conversations left without
messages together with their handoffs, notes and ratings, tickets and verifications older than
the cutoff, and the rolling summary of every conversation that lost messages (it described
them). A conversation a person holds or is asked to take (an open handoff, or status ``human``)
keeps everything of it whatever its age until the handoff closes: itself, its messages, events,
notes, tickets and earlier (closed) handoffs. The agent reads them and answers the customer's
last message (until 2026-12-05 such a conversation could be deleted with its waiting handoff, or
emptied so that the agent's reply had nothing to answer; its notes, tickets, events and
earlier handoffs were still purged). That holds while the case is recent: its open handoff
opened or claimed within the period (without a handoff, the held conversation active within
it); a case left open longer is purged like any other. Kept:
customer profiles and identities (the business's records), consent decisions (proof of
consent), merge records (``customer.merged`` events: an unmerge reads what moved from them) and
the audit log (append-only by design). The server's in-memory answer cache is expired by the
``after`` hook of :func:`scheduled`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import aliased

from omnivox import events
from omnivox.logs import get_logger
from omnivox.storage.db import Database
from omnivox.storage.models import (
    Conversation,
    Event,
    Handoff,
    Message,
    Note,
    Rating,
    Ticket,
    Verification,
)
from omnivox.types import utcnow

# event types kept whatever their age: an unmerge reads what a merge moved from its event;
# an erasure's record (keyed hashes only) keeps the customer erased (seeding, "erased before");
# an agent's removal (an email digest) keeps seed.agents from creating them again
KEPT_EVENTS = (events.CUSTOMER_MERGED, "customer.erased", events.AGENT_REMOVED)
log = get_logger(__name__)


async def purge(db: Database, workspace_id: str, cutoff: datetime) -> dict[str, int]:
    """Delete the workspace's data older than ``cutoff``; counts per table."""
    counts: dict[str, int] = {}

    def count(name: str, result: Any) -> None:
        counts[name] = counts.get(name, 0) + int(getattr(result, "rowcount", 0) or 0)

    def open_case(conversation_id: Any) -> Any:
        """A person is asked to take the conversation, or holds it, lately: it is kept whole.

        Open: a handoff of it is open (waiting or claimed), or a person holds it (status
        ``human``). Lately: that handoff was opened or claimed since ``cutoff``, or the
        conversation was active since then (a message either way, the customer's or an
        agent's; its customer's last message moves ``updated_at``). A case left open longer
        with nobody writing is purged like any other: holding it is no way to keep data
        forever. Aliases: the rows deleted may be these tables' own.
        """
        handoff, message = aliased(Handoff), aliased(Message)
        conversation = aliased(Conversation)
        open_handoff = (handoff.conversation_id == conversation_id, handoff.closed_at.is_(None))
        recent_handoff = exists().where(
            *open_handoff, (handoff.created_at >= cutoff) | (handoff.claimed_at >= cutoff)
        )
        held = exists().where(*open_handoff) | exists().where(
            conversation.id == conversation_id, conversation.status == "human"
        )
        active = exists().where(
            conversation.id == conversation_id, conversation.updated_at >= cutoff
        ) | exists().where(message.conversation_id == conversation_id, message.created_at >= cutoff)
        return recent_handoff | (held & active)

    async with db.sessions.begin() as session:
        old = (
            Message.workspace_id == workspace_id,
            Message.created_at < cutoff,
            ~open_case(Message.conversation_id),
        )
        touched = [
            r[0]
            for r in await session.execute(select(Message.conversation_id).where(*old).distinct())
        ]
        count("messages", await session.execute(delete(Message).where(*old)))
        count(
            "events",
            await session.execute(
                delete(Event).where(
                    Event.workspace_id == workspace_id,
                    Event.created_at < cutoff,
                    Event.type.not_in(KEPT_EVENTS),
                    ~open_case(Event.conversation_id),
                )
            ),
        )
        if touched:
            count(
                "summaries",
                await session.execute(
                    # the summary goes; the memory reads every message left (summary_seq 0),
                    # or the kept ones the summary had covered would be in neither
                    update(Conversation)
                    .where(Conversation.id.in_(touched), Conversation.summary != "")
                    .values(summary="", summary_seq=0)
                ),
            )
        empty = [
            r[0]
            for r in await session.execute(
                select(Conversation.id).where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.updated_at < cutoff,
                    ~exists().where(Message.conversation_id == Conversation.id),
                    ~open_case(Conversation.id),
                )
            )
        ]
        count(
            "tickets",
            await session.execute(
                delete(Ticket).where(
                    Ticket.workspace_id == workspace_id,
                    (Ticket.created_at < cutoff) | Ticket.conversation_id.in_(empty),
                    ~open_case(Ticket.conversation_id),
                )
            ),
        )
        # a closed handoff's packet quotes the conversation, a note speaks of the customer:
        # they age out with the messages even where the conversation goes on with the bot
        count(
            "handoffs",
            await session.execute(
                delete(Handoff).where(
                    Handoff.workspace_id == workspace_id,
                    Handoff.closed_at.is_not(None),
                    Handoff.closed_at < cutoff,
                    ~open_case(Handoff.conversation_id),
                )
            ),
        )
        in_workspace = select(Conversation.id).where(Conversation.workspace_id == workspace_id)
        count(
            "notes",
            await session.execute(
                delete(Note).where(
                    Note.created_at < cutoff,
                    Note.conversation_id.in_(in_workspace),
                    ~open_case(Note.conversation_id),
                )
            ),
        )
        if empty:
            count(
                "ratings",
                await session.execute(delete(Rating).where(Rating.conversation_id.in_(empty))),
            )
            count(
                "notes", await session.execute(delete(Note).where(Note.conversation_id.in_(empty)))
            )
            count(
                "handoffs",
                await session.execute(delete(Handoff).where(Handoff.conversation_id.in_(empty))),
            )
            count(
                "conversations",
                await session.execute(delete(Conversation).where(Conversation.id.in_(empty))),
            )
        count(
            "verifications",
            await session.execute(
                delete(Verification).where(
                    Verification.workspace_id == workspace_id, Verification.created_at < cutoff
                )
            ),
        )
    return counts


async def run_all(db: Database, workspaces: list[tuple[str, int]]) -> dict[str, dict[str, int]]:
    """Purge every workspace with a retention period; counts per workspace."""
    out: dict[str, dict[str, int]] = {}
    for workspace_id, days in workspaces:
        if days > 0:
            out[workspace_id] = await purge(db, workspace_id, utcnow() - timedelta(days=days))
    return out


async def scheduled(
    db: Database,
    workspaces: list[tuple[str, int]],
    interval_s: float = 24 * 3600,
    after: Callable[[], None] | None = None,
) -> None:
    """Forever: purge (then ``after``: in-memory copies), wait ``interval_s``; failures logged."""
    while True:
        try:
            done = await run_all(db, workspaces)
            if after is not None:
                after()
            log.info("retention.purged", workspaces=done)
        except Exception:
            log.exception("retention.failed")
        await asyncio.sleep(interval_s)
