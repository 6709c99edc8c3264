"""Prompt-injection screen for retrieved text.

Instruction-like sentences planted in a document ("ignore previous instructions and ...")
never reach the model. Knowledge passages are reference material, not instructions:
sentences that address the assistant, try to change its rules or reveal its prompt are
removed from the passage text the model sees (the stored document is unchanged), and the
prompt tells the model that passages are data.
"""

from __future__ import annotations

import re
import unicodedata

_PATTERNS = [
    r"\bignore\b.{0,40}\b(instructions?|rules|prompts?|above|previous)\b",
    r"\bdisregard\b.{0,40}\b(instructions?|rules|prompts?|above|previous)\b",
    r"\bforget\b.{0,40}\b(instructions?|rules|everything)\b",
    # "you are now ..." recasts the assistant, but help pages tell customers "you are now a
    # member", "eligible", "signed in"
    r"\byou are now\b(?!\s+(?:an?\s+)?(?:member|resident|customer|subscriber|eligible|enrolled|"
    r"registered|signed|subscribed|able|ready|logged|covered|responsible|required)\b)",
    r"\b(system|developer) prompt\b",
    r"\bnew instructions?\b",
    r"\bact as\b.{0,40}\b(assistant|ai|model|bot)\b",
    r"\b(assistants?|ai|chatbots?|bots?|language models?)\s*[:,]?\s*(must|should|will)\s+"
    r"(now\s+|always\s+)?(say|reply|respond|answer|tell)\b",
    r"\b(reply|respond|answer)\s+(only\s+)?with\b",
    r"\b(note|message|instructions?|reminder)\s+(for|to)\s+(the\s+)?"
    r"(ai|assistant|bot|chatbot|model|llm)\b",
]
_INJECTION = re.compile("|".join(_PATTERNS), re.IGNORECASE | re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# invisible characters that split a word for the eye but not for the model ("Ign\u200bore")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")


def looks_like_injection(text: str) -> bool:
    """True when ``text`` contains an instruction aimed at the assistant.

    Matched after NFKC (full-width letters) and with invisible characters taken out.
    """
    plain = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return _INJECTION.search(plain) is not None


def screen_passage(text: str) -> tuple[str, int]:
    """``text`` without instruction-like sentences, and how many were removed.

    Lines stay lines: a table row or a list item is still its own line afterwards, so the
    passage can later be cut row by row (knowledge/focus.py) rather than as one long run.
    """
    lines: list[str] = []
    removed = 0
    for line in text.split("\n"):
        sentences = [s for s in _SENTENCE_END.split(line) if s.strip()]
        kept = [s for s in sentences if not looks_like_injection(s)]
        removed += len(sentences) - len(kept)
        if kept:
            lines.append(" ".join(kept))
    return "\n".join(lines), removed
