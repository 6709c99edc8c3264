"""Per-workspace understanding settings: intents, entities, language and routing rules."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from omnivox.unique import unique

Risk = Literal["low", "medium", "high"]
# Tuned on CLINC150 val with bench/intents.py: the best out-of-scope recall that keeps in-scope
# accuracy on val at 0.95 or more (bench/RESULTS.md). Workspaces can tune their own with
# `omnivox nlu train --val FILE.csv`.
DEFAULT_OOS_THRESHOLD = 0.34


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


INTENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# The understand step reads this many earlier messages: a streak can be at most one longer.
MAX_STREAK = 6
# Earlier messages a turn reads the analyses of: with its own, enough for the longest streak.
TREND_MESSAGES = MAX_STREAK - 1


class IntentSpec(_Model):
    """One intent: examples, what it means, how risky it is, and what to do with it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    examples: list[str] = Field(default_factory=list)
    description: str = ""
    risk: Risk = "low"
    action: str | None = None
    handoff: bool = False


class ChannelRouting(_Model):
    """Routing thresholds for one channel (overrides the workspace's)."""

    low_confidence_streak: int | None = Field(None, ge=1, le=MAX_STREAK)
    negative_streak: int | None = Field(None, ge=1, le=MAX_STREAK)
    clarify: bool | None = None


class RoutingSettings(_Model):
    """When a machine should not simply answer."""

    handoff_risk: Risk = "high"
    negative_streak: int = Field(2, ge=1, le=MAX_STREAK)
    negative_below: float = Field(-0.3, ge=-1, le=0)
    low_confidence_below: float = Field(0.5, ge=0, le=1)
    low_confidence_streak: int = Field(2, ge=1, le=MAX_STREAK)
    # Off by default: with a knowledge base, a question no intent covers is normal, not a miss.
    oos_is_low_confidence: bool = False
    clarify_margin: float = Field(0.15, ge=0, le=1)
    # An intent's action runs only at this confidence or more: "my jacket" (0.56) and "the
    # boots" (0.70) were report_problem, and opened tickets; real reports score 0.9 and more.
    act_confidence: float = Field(0.75, ge=0, le=1)
    clarify: bool = True
    channels: dict[str, ChannelRouting] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: dict[str, ChannelRouting]) -> dict[str, ChannelRouting]:
        unknown = sorted(set(value) - set(CHANNEL_NAMES))
        if unknown:  # a misspelt channel's overrides would never apply
            raise ValueError(f"unknown channel {unknown[0]!r}; one of {', '.join(CHANNEL_NAMES)}")
        return value


# the channels' names as turns carry them (``InboundMessage.channel``)
CHANNEL_NAMES = (
    "api", "webchat", "sms", "voice", "whatsapp", "messenger", "telegram", "slack", "email",
)  # fmt: skip


class UnderstandingSettings(_Model):
    """Intents (inline and/or from a ``text,intent`` CSV), entity patterns and languages."""

    intents: list[IntentSpec] = Field(default_factory=list)
    intents_csv: str | None = None
    oos_threshold: float = Field(DEFAULT_OOS_THRESHOLD, ge=0, le=1)
    classifier_c: float = Field(10.0, gt=0)
    order_pattern: str | None = None
    phone_region: str = Field("US", pattern=r"^[A-Z]{2}$")
    language: str = Field("en", pattern=r"^[a-z]{2}$")
    languages: list[str] = Field(
        default_factory=lambda: ["en", "es", "fr", "de", "it", "pt", "nl", "pl", "tr", "ru"]
    )
    routing: RoutingSettings = Field(default_factory=RoutingSettings)

    @field_validator("intents")
    @classmethod
    def _unique(cls, value: list[IntentSpec]) -> list[IntentSpec]:
        unique((i.name for i in value), "intent names")
        return value

    @field_validator("order_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"a regular expression ({exc})") from None
        return value
