"""Small text helpers shared by the extractive answerer and the grounding guard."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yes",
        "please",
        "thanks",
        "thank",
    }
)
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*\[-])|\n+")
# words whose stop ends no sentence: titles, months, Latin and reference abbreviations
_ABBREVIATIONS = frozenset(
    [
        "mr.",
        "mrs.",
        "ms.",
        "dr.",
        "prof.",
        "sr.",
        "jr.",
        "st.",
        "mt.",
        "capt.",
        "lt.",
        "sgt.",
        "rev.",
        "jan.",
        "feb.",
        "mar.",
        "apr.",
        "jun.",
        "jul.",
        "aug.",
        "sep.",
        "sept.",
        "oct.",
        "nov.",
        "dec.",
        "e.g.",
        "i.e.",
        "cf.",
        "vs.",
        "approx.",
        "incl.",
        "ca.",
        "fig.",
    ]
)
_BEFORE_NUMBER = frozenset({"no.", "nos."})  # "No. 5"; "I said no. Then ..." ends one
_INITIAL = re.compile(r"[A-Z]\.")  # "John F. Kennedy", "J. Crew"; not "So did I. Then"
_NEXT_WORD = re.compile(r"[\"'(*\[-]*(\w*)")
_NEXT_INITIAL = re.compile(r"[A-Z]\.\s")  # "J. A. Smith": the next word is an initial too


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` in order, stop words too (numbers keep their decimals)."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` without stop words (numbers keep their decimals)."""
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


RANK_DECAY = 0.3  # a sentence of the n-th passage counts 1 / (1 + 0.3 n): retrieval order matters


def match_score(wanted: set[str], sentence: str, rank: int) -> float:
    """Content words ``sentence`` shares with ``wanted``, weighted by its passage's ``rank``."""
    return len(wanted & content_words(sentence)) / (1 + RANK_DECAY * rank)


def split_sentences(text: str) -> list[str]:
    """Sentences (and lines) of ``text``, stripped; citation markers stay with their sentence.

    A stop after a common abbreviation ("Nov. 28", "Dr. Martens", "e.g. Chelsea boots", "St.
    Louis") or an initial ("John F. Kennedy", "J. Crew") ends no sentence; a line break always
    ends one. A single capital and stop followed by a word that opens sentences (a function
    word: "Then", "The", "I", "We") is no initial: "So did I. Then we left.", "Plan B. The
    rest waits." are two sentences each; followed by another initial it is one ("J. A. Smith").
    """
    pieces: list[str] = []
    start = 0
    for gap in _SENTENCE.finditer(text):
        following = _next_word(text, gap.end())
        if "\n" not in gap.group() and _abbreviated(
            text[start : gap.start()], following, _NEXT_INITIAL.match(text, gap.end()) is not None
        ):
            continue
        pieces.append(text[start : gap.start()])
        start = gap.end()
    pieces.append(text[start:])
    return [s.strip() for s in pieces if s.strip()]


def _next_word(text: str, at: int) -> str:
    """The word starting at ``at``, after any opening quote or bracket ("" when none)."""
    found = _NEXT_WORD.match(text, at)
    return found.group(1) if found else ""


def _abbreviated(before: str, following: str, initial_next: bool = False) -> bool:
    """Whether ``before`` (ending in a stop) ends in an abbreviation or an initial.

    ``following``: the next word. An initial is followed by a name, not a function word, or
    by another initial (``initial_next``: "J. A. Smith", "J. I. Rodale").
    """
    word = before.rsplit(None, 1)[-1].lstrip("(\"'[")
    if _INITIAL.fullmatch(word):
        return initial_next or following.lower() not in STOPWORDS
    word = word.lower()
    return word in _ABBREVIATIONS or (word in _BEFORE_NUMBER and following[:1].isdigit())


def ends_a_sentence(text: str, at: int) -> bool:
    """Whether the stop that ends ``text[:at]`` ends a sentence ("Mr." and "e.g." do not)."""
    before = text[:at].rstrip("\"'”’)]")
    if not before.strip() or before[-1] != ".":
        return True  # "!", "?", "…" and CJK stops
    return not _abbreviated(before, _next_word(text, at), _NEXT_INITIAL.match(text, at) is not None)


_ROW = re.compile(r"^[ \t]*\|(.*)$", re.M)


def _row(match: re.Match[str]) -> str:
    cells = [c.strip() for c in match.group(1).strip().strip("|").split("|")]
    cells = [c for c in cells if c and not set(c) <= set("-: ")]
    if len(cells) < 2:
        return " ".join(cells)
    return f"{cells[0]}: {'; '.join(cells[1:])}"


def readable(text: str) -> str:
    """``text`` with each Markdown table row as a line "first cell: the others; …".

    "| Carrier | UPS Standard to Canada |" reads "Carrier: UPS Standard to Canada"; a rule row
    ("|---|---|") and an empty one are left empty.
    """
    return _ROW.sub(_row, text)
