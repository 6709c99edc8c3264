"""What loaders produce (documents of sections of blocks) and what the index holds (chunks)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Section:
    """A run of blocks (paragraphs, list items, table rows) under one heading path."""

    heading_path: tuple[str, ...]
    blocks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Document:
    """One knowledge source: a file, or one entry of a JSONL/CSV file."""

    source_id: str
    title: str
    sections: tuple[Section, ...]
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    record: bool = False  # one entry of a CSV/JSONL file: kept whole when it is short
    faq: bool = False  # a question and its answer: the title is the question customers paraphrase

    @property
    def text(self) -> str:
        """All blocks, blank-line separated."""
        return "\n\n".join(b for s in self.sections for b in s.blocks)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A searchable passage with everything needed to cite it."""

    chunk_id: str
    source_id: str
    ordinal: int
    title: str
    heading_path: tuple[str, ...]
    text: str
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    faq: bool = False  # from a FAQ entry: searched mostly by its question (knowledge/index.py)

    @property
    def embed_text(self) -> str:
        """What is embedded and keyword-indexed: title and headings give the text context."""
        context = " > ".join((self.title, *self.heading_path))
        return f"{context}\n{self.text}"


def chunk_id(source_id: str, ordinal: int, text: str) -> str:
    """Stable id from the source, position and content."""
    digest = hashlib.sha1(f"{source_id}\x00{ordinal}\x00{text}".encode()).hexdigest()
    return f"chk_{digest[:20]}"
