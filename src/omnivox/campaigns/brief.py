"""A campaign brief: what the marketer wants said, to whom, on which channels."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CampaignChannel = Literal["sms", "whatsapp", "email", "messenger", "telegram", "web"]
CHANNELS: tuple[CampaignChannel, ...] = ("sms", "whatsapp", "email", "messenger", "telegram", "web")


class Brief(BaseModel):
    """What a campaign announces. Numbers in the copy must come from here or the knowledge base.

    ``offer`` is the message in one line ("20% off rain jackets this weekend"); ``facts`` are
    details the marketer vouches for (a code, an end date); ``topic`` is what the knowledge
    base is searched for to back the copy (default: the offer).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    offer: str = Field(min_length=3, max_length=300)
    audience: str = Field("", max_length=200)
    facts: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        default_factory=list, max_length=10
    )
    call_to_action: str = Field("", max_length=40)
    url: str = Field("", max_length=300, pattern=r"^(https?://\S+)?$")
    topic: str = Field("", max_length=300)
    channels: list[CampaignChannel] = Field(default_factory=lambda: list(CHANNELS), min_length=1)
    variants: int | None = Field(None, ge=1, le=5)

    @field_validator("channels")
    @classmethod
    def _once_each(cls, channels: list[CampaignChannel]) -> list[CampaignChannel]:
        if len(set(channels)) != len(channels):
            raise ValueError("name each channel once")
        return channels

    def sources(self) -> list[str]:
        """The marketer's own statements: the offer, each fact, the audience, the action."""
        return [t for t in (self.offer, *self.facts, self.audience, self.call_to_action) if t]
