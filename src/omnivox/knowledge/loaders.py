"""File loaders: Markdown, HTML, PDF, plain text, CSV FAQ and JSONL -> documents.

Each loader turns bytes into :class:`Document` objects whose sections follow the source's own
structure (headings, paragraphs, list items), which the chunker then respects. A file that
cannot be read raises :class:`LoadError` naming it; ``omnivox kb ingest`` reports it and goes on.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag

from omnivox.knowledge.documents import Document, Section

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_FENCE = re.compile(r"^( *)(`{3,}(?=[^`]*$)|~{3,})")
_EMPHASIS = re.compile(r"(\*\*|__|`)(.+?)\1")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_SENTENCE_ENDS = (".", "?", "!", ":", ";", ",")
_CODE_CHARS = re.compile(r"[{}()\[\]<>=;$`|~\\/]")
_SOURCE_URL = re.compile(r"^\s*(?:source\s+url|url)\s*:\s*(https?://\S+)\s*$", re.I)


class LoadError(Exception):
    """A file could not be read as knowledge."""


def web_url(value: object) -> str | None:
    """``value`` when it is an http(s) URL with a host, else None.

    A document's URL becomes a link in citations, the widget and the agent console: a
    ``javascript:`` or ``data:`` URL planted in a knowledge file must never become one.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or rest[0] in "/?#" or " " in url:
        return None
    return url


def _blocks(lines: list[str]) -> list[str]:
    """Paragraphs split on blank lines; each list item and table row is its own block."""
    blocks: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            blocks.append(" ".join(x.strip() for x in current).strip())
            current.clear()

    for line in lines:
        if not line.strip():
            flush()
        elif _LIST_ITEM.match(line) or line.lstrip().startswith("|"):
            flush()
            current.append(line)
            flush()
        else:
            current.append(line)
    flush()
    return [b for b in blocks if b and not set(b) <= set("|-: ")]


def _inline(text: str) -> str:
    """Markdown inline markup to plain text: emphasis dropped, links as ``text (url)``."""
    return _LINK.sub(r"\1 (\2)", _EMPHASIS.sub(r"\2", text))


class _Outline:
    """Sections from a stream of headings and blocks.

    The first level-1 heading is the title; every other heading sets the heading path at its
    level.
    """

    def __init__(self) -> None:
        self.title: str | None = None
        self.path: list[str] = []
        self.sections: list[Section] = []
        self.blocks: list[str] = []

    def heading(self, level: int, name: str) -> None:
        self.close()
        if level == 1 and self.title is None:
            self.title, self.path = name, []
        else:
            self.path = [*self.path[: max(0, level - 2)], name]

    def close(self) -> None:
        if self.blocks:
            self.sections.append(Section(tuple(self.path), tuple(self.blocks)))
        self.blocks = []


def parse_markdown(text: str, source_id: str, default_title: str) -> Document:
    """Headings build the heading path; the first ``#`` heading is the title.

    A fenced code block (```` ``` ```` or ``~~~``) is one block of its lines, verbatim, in the
    section it is in: nothing inside it is a heading or inline markup.
    """
    url = None
    outline = _Outline()
    pending: list[str] = []
    fence: tuple[str, int] | None = None  # the open fence's marker and indentation
    code: list[str] = []

    def take() -> None:
        outline.blocks += [_inline(b) for b in _blocks(pending)]
        pending.clear()

    for line in text.splitlines():
        if fence is not None:
            if _closes(line, fence[0]):
                outline.blocks += _code_block(code)
                fence = None
            else:
                indent = len(line) - len(line.lstrip(" "))
                code.append(line[min(indent, fence[1]) :])
            continue
        heading = _HEADING.match(line)
        source = _SOURCE_URL.match(line)
        opening = _FENCE.match(line)
        if opening:
            take()
            fence, code = (opening.group(2), len(opening.group(1))), []
        elif source and url is None:
            url = source.group(1)
        elif heading:
            take()
            outline.close()
            outline.heading(len(heading.group(1)), heading.group(2))
        else:
            pending.append(line)
    take()
    if fence is not None:  # an unclosed fence runs to the end of the file
        outline.blocks += _code_block(code)
    outline.close()
    return Document(source_id, outline.title or default_title, tuple(outline.sections), url)


def _closes(line: str, marker: str) -> bool:
    """A closing fence: the opening's character, at least as many, nothing else on the line."""
    stripped = line.strip()
    return stripped.startswith(marker) and set(stripped) == {marker[0]}


def _code_block(lines: list[str]) -> list[str]:
    """A fenced code block's lines as one block (none when it is empty)."""
    kept = _code_lines(lines)
    return ["\n".join(kept)] if kept else []


def _looks_like_heading(block: str) -> bool:
    """A short title-like paragraph: no final punctuation, no code-like characters."""
    return (
        len(block) < 80
        and len(block.split()) <= 10
        and block[:1].isalnum()
        and block[:1] == block[:1].upper()
        and not block.endswith(_SENTENCE_ENDS)
        and not _CODE_CHARS.search(block)
    )


def parse_plain(text: str, source_id: str, default_title: str) -> Document:
    """Paragraphs; a short title-like paragraph starts a new section (its heading)."""
    sections: list[Section] = []
    heading: str | None = None
    blocks: list[str] = []
    for block in _blocks(text.splitlines()):
        if blocks and _looks_like_heading(block):
            sections.append(Section((heading,) if heading else (), tuple(blocks)))
            heading, blocks = block, []
        else:
            blocks.append(block)
    if not blocks and heading:  # a trailing title-like line is content, not a heading
        blocks, heading = [heading], None
    if blocks:
        sections.append(Section((heading,) if heading else (), tuple(blocks)))
    return Document(source_id, default_title, tuple(sections))


def _load_markdown(path: Path, source_id: str) -> list[Document]:
    return [parse_markdown(_read_text(path), source_id, _title_from_name(path))]


def _load_text(path: Path, source_id: str) -> list[Document]:
    return [parse_plain(_read_text(path), source_id, _title_from_name(path))]


_HTML_HIDDEN = ["head", "title", "script", "style", "template", "nav", "footer", "noscript"]
_HTML_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_HTML_BLOCKS = {
    *("address", "article", "aside", "blockquote", "body", "caption", "center", "details"),
    *("dialog", "dd", "div", "dl", "dt", "fieldset", "figcaption", "figure", "form", "header"),
    *("hgroup", "hr", "html", "legend", "li", "main", "menu", "ol", "p", "section", "summary"),
    *("table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", *_HTML_HEADINGS),
}


class _HtmlText:
    """Visible text of an HTML tree, each piece once and in document order.

    Block-level elements start new blocks and inline text runs are joined; headings, list
    items, table rows (cells joined with `` | ``) and ``pre`` (its lines kept) have their own
    forms. A list item's first block starts with ``- ``, indented two spaces per enclosing
    item; its later blocks (after a nested list, a second paragraph) are indented to its text,
    as Markdown writes them. ``flat``: the text of a heading or a table cell, where every
    element is a block of one line.
    """

    def __init__(self, flat: bool = False) -> None:
        self.flat = flat
        self.outline = _Outline()
        self.inline: list[str] = []
        self.depth = 0  # list items open around the text
        self.item = False  # the innermost item's marker waits for its first block

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                self.element(child)
            elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
                self.inline.append(str(child))

    def element(self, tag: Tag) -> None:
        name = tag.name.lower()
        if self.flat and (name in _HTML_BLOCKS or name == "pre"):
            self.flush()
            self.walk(tag)
            self.flush()
        elif name in _HTML_HEADINGS:
            self.flush()
            text = _flat_text(tag)
            if text:
                self.outline.heading(_HTML_HEADINGS[name], text)
        elif name == "pre":
            self.flush()
            self.block("\n".join(_code_lines(tag.get_text().splitlines())))
        elif name == "tr":
            self.flush()
            cells = [_flat_text(c) for c in tag.find_all(["td", "th"], recursive=False)]
            self.block(" | ".join(c for c in cells if c))
        elif name == "li":
            self.flush()
            self.depth, self.item = self.depth + 1, True
            self.walk(tag)
            self.flush()
            self.depth, self.item = self.depth - 1, False
        elif name in _HTML_BLOCKS:
            self.flush()
            self.walk(tag)
            self.flush()
        else:
            self.walk(tag)

    def flush(self) -> None:
        self.block(_squash("".join(self.inline)))
        self.inline.clear()

    def block(self, text: str) -> None:
        if text:
            self.outline.blocks.append(_in_list(text, self.depth, self.item))
            self.item = False


def _in_list(text: str, depth: int, marker: bool) -> str:
    """``text`` as a block ``depth`` list items deep (0: in no list).

    Each line is indented to the item's text; the item's first block follows its ``- ``.
    """
    indent = "  " * depth
    block = "\n".join(indent + line if line else line for line in text.split("\n"))
    return f"{indent[:-2]}- {block[len(indent) :]}" if marker else block


def _flat_text(tag: Tag) -> str:
    """A heading's or table cell's text on one line, its blocks joined by spaces."""
    text = _HtmlText(flat=True)
    text.walk(tag)
    text.flush()
    return " ".join(text.outline.blocks)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _code_lines(lines: list[str]) -> list[str]:
    """Lines of a code block, right-stripped, without blank lines before or after."""
    kept = [line.rstrip() for line in lines]
    while kept and not kept[0]:
        kept.pop(0)
    while kept and not kept[-1]:
        kept.pop()
    return kept


def _load_html(path: Path, source_id: str) -> list[Document]:
    soup = BeautifulSoup(_read_text(path), "html.parser")
    canonical = soup.find("link", rel="canonical")
    url = web_url(canonical.get("href")) if isinstance(canonical, Tag) else None
    page_title = soup.title.get_text(strip=True) if soup.title else None
    for tag in soup(_HTML_HIDDEN):
        tag.decompose()
    for tag in soup("br"):  # a line break inside a paragraph, cell or pre
        tag.replace_with("\n")
    text = _HtmlText()
    text.walk(soup)
    text.flush()
    text.outline.close()
    title = text.outline.title or page_title or _title_from_name(path)
    return [Document(source_id, title, tuple(text.outline.sections), url)]


def _load_pdf(path: Path, source_id: str) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise LoadError(f"{path}: not a readable PDF ({exc})") from None
    sections = []
    for number, text in enumerate(pages, start=1):
        blocks = _blocks(text.splitlines())
        if blocks:
            sections.append(Section((f"Page {number}",), tuple(blocks)))
    if not sections:
        raise LoadError(f"{path}: the PDF has no extractable text")
    return [Document(source_id, meta_title or _title_from_name(path), tuple(sections))]


def _load_csv(path: Path, source_id: str) -> list[Document]:
    """One FAQ entry per row; a row without a question or an answer fails the file (as in JSONL).

    Such a row is named by its file and line; an entirely blank row is skipped.
    """
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    rows = [(reader.line_num, row) for row in reader]
    if not rows:
        raise LoadError(f"{path}: empty CSV")
    columns = {c.lower().strip(): c for c in rows[0][1] if c}
    q_col = columns.get("question") or columns.get("q")
    a_col = columns.get("answer") or columns.get("a")
    if not q_col or not a_col:
        raise LoadError(f"{path}: a FAQ CSV needs 'question' and 'answer' columns")
    id_col, url_col = columns.get("id"), columns.get("url")
    docs = []
    for n, (line, row) in enumerate(rows, start=1):
        if not any(isinstance(v, str) and v.strip() for v in row.values()):
            continue
        question, answer = (row.get(q_col) or "").strip(), (row.get(a_col) or "").strip()
        if not question or not answer:
            empty = "answer" if question else "question"
            raise LoadError(f"{path}:{line}: the {empty} is empty")
        entry = (row.get(id_col) or "").strip() if id_col else ""
        url = web_url(row.get(url_col)) if url_col else None
        try:
            docs.append(faq_entry(f"{source_id}#{entry or n}", question, answer, url))
        except LoadError as exc:  # an answer of only rules or pipes
            raise LoadError(f"{path}:{line}: {exc}") from None
    return docs


def faq_entry(
    source_id: str,
    question: str,
    answer: str,
    url: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Document:
    """A question and its answer: the question is the title and opens the answer's first block.

    Marked ``faq``: search matches such an entry mostly by its question (knowledge/index.py).
    Raises LoadError when the answer has no text (only rules or table pipes).
    """
    sections = list(parse_plain(answer, source_id, question).sections)
    if not sections:
        raise LoadError("the answer has no text")
    first = sections[0]
    sections[0] = Section(first.heading_path, (f"{question}\n{first.blocks[0]}", *first.blocks[1:]))
    return Document(
        source_id, question, tuple(sections), url, metadata or {}, record=True, faq=True
    )


def _load_jsonl(path: Path, source_id: str) -> list[Document]:
    docs = []
    for n, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoadError(f"{path}:{n}: invalid JSON ({exc.msg})") from None
        docs.append(_jsonl_entry(obj, f"{path}:{n}", f"{source_id}:{n}"))
    return docs


_JSONL_KEYS = ("id", "title", "url", "text", "question", "answer")


def _jsonl_entry(obj: Any, where: str, default_id: str) -> Document:
    """A JSONL line: a document (``text``) or a FAQ entry (``question`` and ``answer``)."""
    if not isinstance(obj, dict):
        raise LoadError(f"{where}: each line must be a JSON object")
    given_id = obj.get("id")
    entry_id = default_id if given_id is None or given_id == "" else str(given_id)
    meta = {
        k: v
        for k, v in obj.items()
        if k not in _JSONL_KEYS and isinstance(v, str | int | float | bool)
    }
    question, answer = obj.get("question"), obj.get("answer")
    if (
        isinstance(question, str)
        and isinstance(answer, str)
        and question.strip()
        and answer.strip()
    ):
        try:
            return faq_entry(
                entry_id, question.strip(), answer.strip(), web_url(obj.get("url")), meta
            )
        except LoadError as exc:
            raise LoadError(f"{where}: {exc}") from None
    if not isinstance(obj.get("text"), str):
        raise LoadError(
            f"{where}: each line must be an object with a 'text' string, "
            "or non-empty 'question' and 'answer' strings"
        )
    title = str(obj.get("title") or entry_id)
    parsed = parse_plain(obj["text"], entry_id, title)
    return Document(entry_id, title, parsed.sections, web_url(obj.get("url")), meta, record=True)


LOADERS: dict[str, Callable[[Path, str], list[Document]]] = {
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_text,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".csv": _load_csv,
    ".jsonl": _load_jsonl,
}


def supported(path: Path) -> bool:
    """True when a loader exists for the file's extension."""
    return path.suffix.lower() in LOADERS


def load(path: Path, source_id: str) -> list[Document]:
    """Documents in one file; raises LoadError for unreadable or malformed files."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError(f"{path}: unsupported file type {path.suffix!r}")
    try:
        return loader(path, source_id)
    except LoadError:
        raise
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LoadError(f"{path}: {exc}") from None


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data:  # an image or archive under a text name (cp1252 would decode it)
        raise LoadError(f"{path}: not a text file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LoadError(f"{path}: not a text file")


def _title_from_name(path: Path) -> str:
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
