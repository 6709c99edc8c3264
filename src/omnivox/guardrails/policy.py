"""Brand voice and policy on every outgoing answer.

Preferred terms are rewritten, avoided terms removed, banned phrases block the
answer (it is replaced by a safe one and the block is recorded).
"""

from __future__ import annotations

import re
import unicodedata
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


# letters from other scripts that look like Latin ones (a banned phrase typed with a Cyrillic
# "а" reads the same to a customer)
_LOOKALIKES = str.maketrans("аеорсухіѕјԁԛԝӏɑοτνΑΒΕΗΙΚΜΝΟΡΤΧΥΖ", "aeopcyxisjdqwlaotvABEHIKMNOPTXYZ")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
_SEPARATORS = r"[\s\-\u2010-\u2015_]+"


def _banned_pattern(phrase: str) -> re.Pattern[str]:
    """A banned phrase as written, with any spaces or hyphens between its words, plural too."""
    words = [w for w in re.split(r"[\s\-]+", phrase.strip()) if w]
    last = words.pop()
    if last.endswith("y"):  # warranty, warranties
        plural = rf"{re.escape(last[:-1])}(?:y|ies)"
    else:
        plural = rf"{re.escape(last)}(?:e?s)?"
    body = _SEPARATORS.join([*map(re.escape, words), plural])
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _comparable(text: str) -> str:
    """``text`` as a reader sees it: NFKC, invisible characters out, lookalikes as Latin."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).translate(_LOOKALIKES)


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
    """What a removal left dangling, line by line (paragraphs and list items stay apart)."""
    return "\n".join(_tidy_line(line) for line in text.split("\n"))


def _tidy_line(text: str) -> str:
    text = re.sub(r"([.!?])(\s*[,!?;:]|\s+\.)+", r"\1", text)  # "..." stays an ellipsis
    text = re.sub(r"[,;:]\s*([.!?])", r"\1", text)
    text = re.sub(r"^\s*[,.!?;:]+\s*", "", text)
    text = re.sub(r"[ \t]+([,.!?;:])", r"\1", text)
    text = re.sub(r"(^|[.!?]\s+),\s*", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    # a sentence's first word capitalised, unless it is written so on purpose ("iPhone")
    return re.sub(
        r"(^|[.!?]\s+)([a-z])(?![a-z]*[A-Z])", lambda m: m.group(1) + m.group(2).upper(), text
    )


_URL = re.compile(r"https?://\S+|\[\d{1,2}\]")


def _outside_urls(
    text: str, pattern: re.Pattern[str], by: str | Callable[[re.Match[str]], str]
) -> tuple[str, int]:
    """``pattern`` replaced between URLs and citation markers (those stay as sent)."""
    parts: list[str] = []
    count, last = 0, 0
    for match in _URL.finditer(text):
        changed, n = pattern.subn(by, text[last : match.start()])
        parts += [changed, match.group(0)]
        count, last = count + n, match.end()
    changed, n = pattern.subn(by, text[last:])
    return "".join([*parts, changed]), count + n


class BrandPolicy:
    """A workspace's terms and banned phrases."""

    def __init__(self, persona: PersonaSettings) -> None:
        self.preferred = [(_pattern(a), p, a) for a, p in persona.preferred_terms.items()]
        self.avoided = [(_pattern(t), t) for t in persona.avoided_terms]
        self.banned = [(_banned_pattern(t), t) for t in persona.banned_phrases]

    def apply(self, text: str) -> PolicyResult:
        """Rewrite or block ``text``.

        A banned phrase is found however it is spaced, hyphenated, pluralised or disguised
        (invisible characters, lookalike letters); rewrites leave URLs and ``[n]`` alone.
        """
        seen = _comparable(text)
        for pattern, phrase in self.banned:
            if pattern.search(seen):
                return PolicyResult(BLOCKED_REPLY, (), phrase)
        rewrites: list[str] = []
        for pattern, term in self.avoided:  # first: "no problem" goes before "problem" changes
            text, n = _outside_urls(text, pattern, "")
            if n:
                rewrites.append(f"removed {term}")
        for pattern, prefer, avoid in self.preferred:
            text, n = _outside_urls(text, pattern, _replacer(prefer))
            if n:
                rewrites.append(f"{avoid} -> {prefer}")
        return PolicyResult(_tidy(text) if rewrites else text, tuple(rewrites))
