"""What understanding and routing read and write.

Per-message NLU results, the customer's recent signals, the customer's business id, tickets.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from omnivox.ids import new_id
from omnivox.storage.db import Database
from omnivox.storage.models import Customer, Message, Ticket

_RECENT_NLU = (  # built once: a turn runs it (building costs more than running it)
    select(Message.meta)
    .where(
        Message.conversation_id == bindparam("n_conversation"),
        Message.direction == "in",
        Message.seq
        < select(Message.seq).where(Message.id == bindparam("n_before")).scalar_subquery(),
    )
    .order_by(Message.seq.desc())
    .limit(bindparam("n_limit"))
)


class SignalStore:
    """Repository for turn signals; every query is scoped by workspace or by a row id."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def learn(self, customer_id: str, key: str, values: list[str], keep: int = 5) -> None:
        """Remember facts the customer told us (``attributes.facts[key]``, newest ``keep``)."""
        async with self.db.sessions.begin() as session:
            customer = await session.get(Customer, customer_id)
            if customer is None:
                return
            facts = dict(customer.attributes.get("facts") or {})
            known = [v for v in facts.get(key, []) if v not in values]
            facts[key] = (known + values)[-keep:]
            customer.attributes = {**customer.attributes, "facts": facts}

    async def recent_nlu(
        self, conversation_id: str, before_message_id: str, limit: int
    ) -> list[dict[str, Any]]:
        """``metadata.nlu`` of the customer's last ``limit`` earlier messages, oldest first.

        Messages stored before understanding existed are skipped.
        """
        async with self.db.sessions() as session:
            params = {
                "n_conversation": conversation_id,
                "n_before": before_message_id,
                "n_limit": limit,
            }
            rows = await session.execute(_RECENT_NLU, params)
            metas = [m.get("nlu") for m in rows.scalars()]
        return [m for m in reversed(metas) if isinstance(m, dict)]

    async def external_id(self, workspace_id: str, customer_id: str) -> str | None:
        """The business's own id for a customer (set for customers it told us about)."""
        async with self.db.sessions() as session:
            return (
                await session.execute(
                    select(Customer.external_id).where(
                        Customer.workspace_id == workspace_id, Customer.id == customer_id
                    )
                )
            ).scalar_one_or_none()

    async def open_ticket(
        self,
        workspace_id: str,
        customer_id: str,
        conversation_id: str | None,
        subject: str,
        body: str,
    ) -> str:
        """Create a ticket and return its id."""
        ticket_id = new_id("tkt")
        async with self.db.sessions.begin() as session:
            session.add(
                Ticket(
                    id=ticket_id,
                    workspace_id=workspace_id,
                    customer_id=customer_id,
                    conversation_id=conversation_id,
                    subject=subject[:200],
                    body=body,
                    status="open",
                )
            )
        return ticket_id
