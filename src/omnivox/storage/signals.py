"""What understanding and routing read and write.

Facts learned in conversation, the customer's business id, tickets. (Earlier messages' analyses
are read with the memory: :func:`omnivox.storage.memory.recent_analyses`.)
"""

from __future__ import annotations

from sqlalchemy import or_, select

from omnivox.ids import new_id
from omnivox.storage.db import Database
from omnivox.storage.models import Customer, Ticket

MAX_MERGE_DEPTH = 20  # merges chained deeper than this are not followed


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

    async def external_ids(self, workspace_id: str, customer_id: str) -> set[str]:
        """The business's own ids for a customer: theirs and those of profiles merged into it.

        A known customer merged into a visitor's profile brings their orders along: the
        profile now holds their identifiers and conversations.
        """
        found: set[str] = set()
        frontier, seen = [customer_id], {customer_id}
        async with self.db.sessions() as session:
            for _ in range(MAX_MERGE_DEPTH):
                if not frontier:
                    break
                rows = await session.execute(
                    select(Customer.id, Customer.external_id, Customer.merged_into).where(
                        Customer.workspace_id == workspace_id,
                        or_(Customer.id.in_(frontier), Customer.merged_into.in_(frontier)),
                    )
                )
                frontier = []
                for cid, external, into in rows.all():
                    if cid == customer_id or into in seen:
                        found.update([external] if external else [])
                    if cid not in seen:
                        seen.add(cid)
                        frontier.append(cid)
        return found

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
