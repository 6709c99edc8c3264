"""REST channel: ``POST /api/v1/messages``; the reply travels back in the HTTP response."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from omnivox.channels.base import Capabilities, plain_render, unfit_id
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, OutboundMessage, Reply


class ApiCustomer(BaseModel):
    """The caller's customer: their own id plus optional contact details (unverified)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=200)

    @field_validator("id")
    @classmethod
    def _fit_id(cls, value: str) -> str:
        return _fit(value)


class ApiMessageIn(BaseModel):
    """Body of ``POST /api/v1/messages``."""

    model_config = ConfigDict(extra="forbid")
    workspace: str = Field(min_length=1, max_length=64)
    customer: ApiCustomer
    text: str = Field(min_length=1)
    message_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Your id for this message; a retry with the same id is answered once.",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text must not be blank")
        return text

    @field_validator("message_id")
    @classmethod
    def _fit_message_id(cls, value: str | None) -> str | None:
        return None if value is None else _fit(value)


def _fit(value: str) -> str:
    """An identifier without control characters (PostgreSQL refuses NUL) or lone surrogates."""
    if unfit_id(value):
        raise ValueError("must not contain control characters (such as U+0000)")
    return value


class ApiChannel:
    """Adapter for the REST API."""

    name = "api"
    capabilities = Capabilities(
        max_length=16_000,
        markup="markdown",
        guidance="Reply in short Markdown paragraphs.",
        in_response=True,
    )

    async def verify(self, request: ApiMessageIn) -> None:
        """Nothing to check here: the route admitted the caller's API key (routes/auth.py)."""

    async def parse(self, request: ApiMessageIn) -> list[InboundMessage]:
        """The validated body as one inbound message."""
        customer = request.customer
        sender = CustomerRef(
            address=customer.id, name=customer.name, email=customer.email, phone=customer.phone
        )
        return [
            InboundMessage(
                workspace_id=request.workspace,
                channel=self.name,
                sender=sender,
                text=request.text,
                provider_message_id=request.message_id,
            )
        ]

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """Markdown text with structured citations."""
        return plain_render(self.name, self.capabilities, reply, recipient)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Delivery is the HTTP response itself, written by the route."""
        return DeliveryReceipt(self.name, "sent")
