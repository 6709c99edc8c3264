"""The extractive rolling summary of a conversation's earlier turns.

Every ``memory.summarize_every`` turns that scroll out of the verbatim window are folded into
the conversation's summary: one line per message, the first sentence of what was said (cut at
160 characters), marked with who said it and on which channel. The summary keeps its most recent
``memory.summary_chars`` characters, whole lines only. Deterministic, no model call, and nothing
that was not said.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from omnivox.identity.kinds import display_name
from omnivox.types import HistoryItem

_SENTENCE = re.compile(r"(.+?[.!?])(?:\s|$)", re.S)
LINE_CHARS = 160


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` on one line, at most ``LINE_CHARS`` characters."""
    flat = " ".join(text.split())
    match = _SENTENCE.match(flat)
    sentence = match.group(1) if match else flat
    return sentence if len(sentence) <= LINE_CHARS else sentence[: LINE_CHARS - 1] + "…"


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
