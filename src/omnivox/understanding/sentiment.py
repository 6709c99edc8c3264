"""Sentiment per message (VADER, with frustration rules) and the conversation's trend.

VADER's compound score runs from -1 (very negative) to +1; it reads capitals, "!!!" and
negation. On its own it also reads a polite or matter-of-fact message as negative ("Sorry to
bother you, quick question …" -0.40, "can I return a damaged tent?" -0.44), and it scores
other languages and emoji 0. So the score a message gets is VADER's, corrected:

- apologies ("sorry to bother you", "sorry for the trouble", "apologies") are not scored;
- an anger cue (an anger word in any of the languages understanding detects by default,
  :data:`ANGER`, or an angry emoji: 😡 🤬 😠 👿 💢 🖕) makes a message that VADER does not find
  positive at least :data:`ANGRY` (-0.5) negative ("Estoy harto, nadie me ayuda", "😡😡😡");
- a message with no anger cue and no escalation ("!!", "?!", two words in capitals) is at most
  :data:`MILD` (-0.2) negative unless VADER finds it worse than :data:`STRONG` (-0.6): a problem
  described ("I lost my receipt", "a damaged tent") is not frustration.

The trend looks at the customer's recent messages only: agents' and the bot's words say nothing
about the customer's mood.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Label = Literal["negative", "neutral", "positive"]
NEUTRAL_BAND = 0.05  # VADER's own recommended cut-offs
TREND_STEP = 0.2  # a change of mood bigger than this is a direction, not noise
ANGRY = -0.5  # an anger cue scores at least this negative
MILD = -0.2  # without a cue or escalation a message is at most this negative ...
STRONG = -0.6  # ... unless VADER finds it worse than this
_APOLOGY = re.compile(
    r"\b(?:(?:i'?m|i\s+am|so|very|really)\s+)*(?:sorry|apologies|apologi[sz]e)"
    r"(?:\s+(?:to|for)\s+(?:bother(?:ing)?(?:\s+you)?|the\s+(?:trouble|inconvenience|hassle|"
    r"bother|confusion)|asking(?:\s+again)?|any\s+(?:trouble|inconvenience)))?",
    re.I,
)
# anger words, by language (matched at word starts, case-insensitive)
ANGER = {
    "en": "useless ridiculous terrible horrible awful worst pathetic unacceptable disgusting "
    "disgrace outrageous furious angry annoyed frustrat fed.up sick.of hate joke scam rip.?off "
    "incompetent waste.of never.again wtf livid appalling rubbish garbage crap damn",
    "es": "vergüenza harto harta enfadad enojad furios desastre horrible pésim pesim inaceptable "
    "indignante ridícul estafa nadie.me.ayuda mierda basura",
    "fr": "honte inadmissible inacceptable scandal furieu colère marre ras.le.bol arnaque "
    "catastroph lamentable n'importe.quoi",
    "de": "unverschämt frechheit katastroph sauer\\b wütend verärgert inakzeptabel lächerlich "
    "skandal betrug schrecklich unmöglich",
    "it": "vergogna arrabbiat inaccettabile ridicol disastro schifo truffa furios pessim assurd",
    "pt": "vergonha absurd ridícul inaceitável irritad furios péssim desastre palhaçada",
    "nl": "schandalig belachelijk boos\\b woedend onacceptabel waardeloos oplichting bespottelijk",
    "ru": "безобрази позор ужас возмутительн кошмар бесит надоел обман достали отвратительн",
    "pl": "skandal wstyd żenada wkurzon oszustw beznadziejn porażka koszmar",
    "tr": "rezalet berbat saçma kızgın sinirli dolandırıcı utanç felaket bıktım",
}
_ANGER = re.compile(
    r"(?<!\w)(?:" + "|".join(w for words in ANGER.values() for w in words.split()) + r")"
    r"|[\U0001F621\U0001F92C\U0001F620\U0001F47F\U0001F4A2\U0001F595]",
    re.I,
)
_ESCALATION = re.compile(r"!!|\?!|!\?|\b[A-Z]{3,}\s+[A-Z]{2,}\b")


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
        """Score one message (VADER, corrected as the module says)."""
        plain = _APOLOGY.sub(" ", text)
        compound = float(self._analyzer().polarity_scores(plain)["compound"]) if text else 0.0
        if compound <= NEUTRAL_BAND and _ANGER.search(text):
            compound = min(compound, ANGRY)
        elif STRONG <= compound < MILD and not _ESCALATION.search(text):
            compound = MILD
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
