"""The extractive rolling summary of a conversation's earlier turns.

Every ``memory.summarize_every`` turns that scroll out of the verbatim window are folded into
the conversation's summary: one line per message, its opening sentences (40 characters or
more, cut at 160 characters), marked with who said it and on which channel. The summary keeps
its most recent ``memory.summary_chars`` characters, whole lines only. Deterministic, no model
call, and nothing that was not said.

A line is cut at a space, never inside a piece of personal data (:func:`clip`): a cut email,
card or phone number ("4111 1111 1111 11…" is no longer Luhn-valid) would not be recognized,
and so not redacted, in the prompts that carry the summary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from omnivox.identity.kinds import display_name
from omnivox.privacy.recognizers import find
from omnivox.types import HistoryItem

# a sentence ends at . ! or ? before a space, but not after a title or a one-letter initial
_SENTENCE = re.compile(
    r"(.+?(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\b[A-Z])[.!?]+)(?:\s|$)", re.S
)
LINE_CHARS = 160
# sentences are taken until this many characters: "Hi!" alone says nothing
OPENING_CHARS = 40


def clip(text: str, limit: int, region: str = "US", known: Sequence[tuple[str, str]] = ()) -> str:
    """``text`` in at most ``limit`` characters, ending in "…" when it had to be cut.

    The cut falls at the last space that fits, and never inside personal data that
    :func:`omnivox.privacy.recognizers.find` sees in the whole ``text`` (with ``region`` and the
    customer's ``known`` values): such a value is left out whole rather than cut, since what is
    left of it would be recognized by nothing. Without a space that fits, the cut falls inside
    a word, still outside personal data.
    """
    if len(text) <= limit:
        return text
    spans = [(f.start, f.end) for f in find(text, region, known)]

    def outside(i: int) -> bool:  # keeping text[:i] splits no finding
        return not any(start < i < end for start, end in spans)

    room = limit - 1  # and "…"
    cut = next((i for i in range(room, 0, -1) if text[i].isspace() and outside(i)), None)
    if cut is None:
        cut = next(i for i in range(room, -1, -1) if outside(i))  # 0 always is
    return text[:cut].rstrip() + "…"


def first_sentence(text: str, region: str = "US", known: Sequence[tuple[str, str]] = ()) -> str:
    """The opening of ``text`` on one line: whole sentences up to ``OPENING_CHARS`` or more.

    A greeting or a name alone ("Hi!", "Mr. Jones here.") is followed by the next sentence, so
    the line says what was asked; at most ``LINE_CHARS`` characters, cut by :func:`clip`.
    """
    flat = " ".join(text.split())
    taken, rest = "", flat
    while rest and len(taken) < OPENING_CHARS:
        match = _SENTENCE.match(rest)
        sentence = match.group(1) if match else rest
        taken = f"{taken} {sentence}".strip()
        rest = rest[len(sentence) :].strip()
    return clip(taken, LINE_CHARS, region, known)


def fold(
    previous: str,
    items: Sequence[HistoryItem],
    limit: int,
    region: str = "US",
    known: Sequence[tuple[str, str]] = (),
) -> str:
    """``previous`` summary with ``items`` (oldest first) appended, cut to ``limit`` chars.

    ``region`` and ``known`` (the conversation's, as its prompts are redacted with) tell
    :func:`clip` where the personal data in a long message is.
    """
    lines = [line for line in previous.split("\n") if line]
    for item in items:
        who = "Customer" if item.direction == "in" else "Assistant"
        said = first_sentence(item.text, region, known)
        lines.append(f"{who} ({display_name(item.channel)}): {said}")
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line) + 1
        if size > limit:
            break
        kept.append(line)
    return "\n".join(reversed(kept))
