"""Structure-aware chunking: blocks are packed into chunks within one section.

A chunk never spans two sections (so its heading path is exact) and never cuts a block
unless the block alone is longer than the limit, in which case it is cut at sentence ends.
Sizes were tuned on doc2dial/stackfaq validation data with ``bench/retrieval.py`` (see
docs/knowledge.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from omnivox.knowledge.documents import Chunk, Document, chunk_id

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class ChunkingSettings:
    """Target and hard limit in words, and how many trailing blocks carry over."""

    max_words: int = 120
    overlap_blocks: int = 0
    record_words: int = 300


def _words(text: str) -> int:
    return len(text.split())


def _split_long(block: str, max_words: int) -> list[str]:
    """A block that fits, as it is; else cut at sentence ends (at ``max_words`` as a last resort).

    A block of lines (code, a ``pre``) is cut between lines, each piece keeping its lines.
    """
    if _words(block) <= max_words:
        return [block]
    if "\n" in block:
        return _split_lines(block, max_words)
    pieces: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(block):
        words = sentence.split()
        while len(words) > max_words:
            if current:
                pieces.append(" ".join(current))
                current = []
            pieces.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if current and len(current) + len(words) > max_words:
            pieces.append(" ".join(current))
            current = []
        current += words
    if current:
        pieces.append(" ".join(current))
    return pieces


def _split_lines(block: str, max_words: int) -> list[str]:
    """Lines packed into pieces of at most ``max_words``; a longer line is cut on its own."""
    pieces: list[str] = []
    current: list[str] = []

    def flush() -> None:
        piece = "\n".join(current).strip("\n")
        if piece:
            pieces.append(piece)
        current.clear()

    for line in block.split("\n"):
        if _words(line) > max_words:
            flush()
            pieces += _split_long(line, max_words)
            continue
        if current and _words("\n".join([*current, line])) > max_words:
            flush()
        current.append(line)
    flush()
    return pieces


def chunk_document(doc: Document, settings: ChunkingSettings | None = None) -> list[Chunk]:
    """Chunks of ``doc`` in reading order.

    A record (a FAQ row, a JSONL entry) up to ``record_words`` long stays one chunk: its question
    and answer belong together, and splitting them separates the answer from what it answers.
    """
    settings = settings or ChunkingSettings()
    if doc.record and _words(doc.text) <= settings.record_words:
        blocks = [b for s in doc.sections for b in s.blocks]
        return [_make(doc, (), blocks, 0)]
    chunks: list[Chunk] = []
    for section in doc.sections:
        blocks = [p for b in section.blocks for p in _split_long(b, settings.max_words)]
        current: list[str] = []
        for block in blocks:
            if current and _words(" ".join([*current, block])) > settings.max_words:
                chunks.append(_make(doc, section.heading_path, current, len(chunks)))
                current = current[-settings.overlap_blocks :] if settings.overlap_blocks else []
            current.append(block)
        if current:
            chunks.append(_make(doc, section.heading_path, current, len(chunks)))
    return chunks


def _make(doc: Document, path: tuple[str, ...], blocks: list[str], ordinal: int) -> Chunk:
    text = "\n".join(blocks)
    return Chunk(
        chunk_id(doc.source_id, ordinal, text),
        doc.source_id,
        ordinal,
        doc.title,
        path,
        text,
        doc.url,
        dict(doc.metadata),
        doc.faq,
    )
