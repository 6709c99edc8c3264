"""Brand voice and policy on every outgoing answer.

Preferred terms are rewritten, avoided terms removed, banned phrases block the
answer (it is replaced by a safe one and the block is recorded).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from omnivox.settings import PersonaSettings

BLOCKED_REPLY = "I'm sorry — I can't help with that here. Shall I connect you with a person?"


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """The answer after policy, and what was changed or why it was blocked."""

    text: str
    rewrites: tuple[str, ...]
    blocked_by: str | None = None


def _pattern(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


def _match_case(found: str, replacement: str) -> str:
    if found.isupper() and len(found) > 1:
        return replacement.upper()
    if found[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _replacer(prefer: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return _match_case(match.group(0), prefer)

    return replace


def _tidy(text: str) -> str:
    text = re.sub(r"([.!?])(\s*[,.!?;:])+", r"\1", text)  # what a removal left dangling
    text = re.sub(r"[,;:]\s*([.!?])", r"\1", text)
    text = re.sub(r"^\s*[,.!?;:]+\s*", "", text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"(^|[.!?]\s+),\s*", r"\1", text)
    text = re.sub(r"\s{2,}", " ", text).strip()
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


class BrandPolicy:
    """A workspace's terms and banned phrases."""

    def __init__(self, persona: PersonaSettings) -> None:
        self.preferred = [(_pattern(a), p, a) for a, p in persona.preferred_terms.items()]
        self.avoided = [(_pattern(t), t) for t in persona.avoided_terms]
        self.banned = [(_pattern(t), t) for t in persona.banned_phrases]

    def apply(self, text: str) -> PolicyResult:
        """Rewrite or block ``text``."""
        for pattern, phrase in self.banned:
            if pattern.search(text):
                return PolicyResult(BLOCKED_REPLY, (), phrase)
        rewrites: list[str] = []
        for pattern, term in self.avoided:  # first: "no problem" goes before "problem" changes
            text, n = pattern.subn("", text)
            if n:
                rewrites.append(f"removed {term}")
        for pattern, prefer, avoid in self.preferred:
            text, n = pattern.subn(_replacer(prefer), text)
            if n:
                rewrites.append(f"{avoid} -> {prefer}")
        return PolicyResult(_tidy(text) if rewrites else text, tuple(rewrites))
