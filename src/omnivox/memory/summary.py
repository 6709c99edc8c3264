"""The extractive rolling summary of a conversation's earlier turns.

Every ``memory.summarize_every`` turns that scroll out of the verbatim window are folded into
the conversation's summary: one line per message, its opening sentences (40 characters or
more, cut at 160 characters), marked with who said it and on which channel. The summary keeps
its most recent ``memory.summary_chars`` characters, whole lines only. Deterministic, no model
call, and nothing that was not said.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from omnivox.identity.kinds import display_name
from omnivox.types import HistoryItem

# a sentence ends at . ! or ? before a space, but not after a title or a one-letter initial
_SENTENCE = re.compile(
    r"(.+?(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\b[A-Z])[.!?]+)(?:\s|$)", re.S
)
LINE_CHARS = 160
# sentences are taken until this many characters: "Hi!" alone says nothing
OPENING_CHARS = 40


def first_sentence(text: str) -> str:
    """The opening of ``text`` on one line: whole sentences up to ``OPENING_CHARS`` or more.

    A greeting or a name alone ("Hi!", "Mr. Jones here.") is followed by the next sentence, so
    the line says what was asked; at most ``LINE_CHARS`` characters.
    """
    flat = " ".join(text.split())
    taken, rest = "", flat
    while rest and len(taken) < OPENING_CHARS:
        match = _SENTENCE.match(rest)
        sentence = match.group(1) if match else rest
        taken = f"{taken} {sentence}".strip()
        rest = rest[len(sentence) :].strip()
    return taken if len(taken) <= LINE_CHARS else taken[: LINE_CHARS - 1] + "…"


def fold(previous: str, items: Sequence[HistoryItem], limit: int) -> str:
    """``previous`` summary with ``items`` (oldest first) appended, cut to ``limit`` chars."""
    lines = [line for line in previous.split("\n") if line]
    for item in items:
        who = "Customer" if item.direction == "in" else "Assistant"
        lines.append(f"{who} ({display_name(item.channel)}): {first_sentence(item.text)}")
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line) + 1
        if size > limit:
            break
        kept.append(line)
    return "\n".join(reversed(kept))
