"""``create_ticket``: open a support ticket for the asking customer."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from omnivox.actions.base import ToolContext, ToolResult
from omnivox.storage.signals import SignalStore


class CreateTicketArgs(BaseModel):
    """Arguments of ``create_ticket``."""

    subject: str = Field(min_length=1, max_length=200, description="One line: what it is about")
    body: str = Field("", max_length=4000, description="Details in the customer's words")


class CreateTicketTool:
    """Opens a ticket linked to the customer and the conversation."""

    name: ClassVar[str] = "create_ticket"
    description: ClassVar[str] = "Open a support ticket when the request needs follow-up."
    Args: ClassVar[type[BaseModel]] = CreateTicketArgs

    def __init__(self, signals: SignalStore) -> None:
        self.signals = signals

    async def call(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        """Store the ticket and tell the customer its reference."""
        assert isinstance(args, CreateTicketArgs)
        ticket_id = await self.signals.open_ticket(
            ctx.workspace_id, ctx.customer_id, ctx.conversation_id, args.subject, args.body
        )
        text = (
            f"I've opened ticket {ticket_id} for you. Our team will follow up on this "
            "conversation; you can add details any time by replying here."
        )
        return ToolResult(True, text, {"ticket_id": ticket_id})
