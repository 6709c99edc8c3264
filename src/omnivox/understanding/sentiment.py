"""Sentiment per message (VADER) and the conversation's trend.

VADER's compound score runs from -1 (very negative) to +1; it reads capitals, "!!!", negation
and emoji, which is what angry customer messages are made of. The trend looks at the customer's
recent messages only: agents' and the bot's words say nothing about the customer's mood.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Label = Literal["negative", "neutral", "positive"]
NEUTRAL_BAND = 0.05  # VADER's own recommended cut-offs
TREND_STEP = 0.2  # a change of mood bigger than this is a direction, not noise


@dataclass(frozen=True, slots=True)
class Sentiment:
    """One message's score and label."""

    score: float
    label: Label


@dataclass(frozen=True, slots=True)
class Trend:
    """The customer's mood over their recent messages (oldest first in ``scores``)."""

    scores: tuple[float, ...]
    mean: float
    direction: Literal["improving", "steady", "worsening"]
    negative_streak: int


class SentimentAnalyzer:
    """VADER, loaded once (its lexicon takes ~50 ms to read)."""

    def __init__(self) -> None:
        self._vader: SentimentIntensityAnalyzer | None = None
        self._lock = threading.Lock()

    def _analyzer(self) -> SentimentIntensityAnalyzer:
        with self._lock:
            if self._vader is None:
                self._vader = SentimentIntensityAnalyzer()
            return self._vader

    def score(self, text: str) -> Sentiment:
        """Score one message."""
        compound = float(self._analyzer().polarity_scores(text)["compound"]) if text else 0.0
        return Sentiment(round(compound, 4), label(compound))


def label(compound: float) -> Label:
    """The label (negative, neutral or positive) of a compound score."""
    if compound < -NEUTRAL_BAND:
        return "negative"
    return "positive" if compound > NEUTRAL_BAND else "neutral"


def trend(scores: Sequence[float], negative_below: float = -NEUTRAL_BAND) -> Trend:
    """The customer's mood over ``scores`` (oldest first).

    Mean, direction (the last message against the ones before) and the streak of messages below
    ``negative_below`` that ends with the last one.
    """
    values = tuple(scores)
    if not values:
        return Trend((), 0.0, "steady", 0)
    streak = 0
    for value in reversed(values):
        if value >= negative_below:
            break
        streak += 1
    direction: Literal["improving", "steady", "worsening"] = "steady"
    if len(values) > 1:
        delta = values[-1] - sum(values[:-1]) / (len(values) - 1)
        if delta > TREND_STEP:
            direction = "improving"
        elif delta < -TREND_STEP:
            direction = "worsening"
    return Trend(values, round(sum(values) / len(values), 4), direction, streak)
