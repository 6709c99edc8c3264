"""What understanding and routing read and write.

Facts learned in conversation, the customer's business id, tickets. (Earlier messages' analyses
are read with the memory: :func:`omnivox.storage.memory.recent_analyses`.)
"""

from __future__ import annotations

from sqlalchemy import select

from omnivox.ids import new_id
from omnivox.storage.db import Database
from omnivox.storage.models import Customer, Ticket


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
