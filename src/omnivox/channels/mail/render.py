"""A reply as an email body: greeting, answer, sources as links, signature; text and HTML.

The HTML is built from escaped text (paragraphs, lists, bold, links with http(s) URLs only)
and then passed through nh3's allow-list, so nothing the model writes can become markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import nh3

from omnivox.channels.base import plain_text
from omnivox.types import Citation, Reply

_TAGS = {"p", "br", "strong", "em", "a", "ul", "ol", "li", "hr"}
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITEM = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+")


@dataclass(frozen=True, slots=True)
class Body:
    """The two alternatives of one email."""

    text: str
    html: str


def compose(reply: Reply, name: str | None, signature: str) -> Body:
    """The reply addressed to ``name`` (or a plain hello) and signed with ``signature``."""
    greeting = f"Hi {name}," if name else "Hello,"
    text_parts = [greeting, plain_text(reply.text)]
    html_parts = [f"<p>{html.escape(greeting)}</p>", _html_blocks(reply.text)]
    if reply.citations:
        text_parts.append(_text_sources(reply.citations))
        html_parts.append(_html_sources(reply.citations))
    text_parts.append(signature)
    html_parts.append("<p>" + html.escape(signature).replace("\n", "<br>") + "</p>")
    body = "".join(html_parts)
    safe = nh3.clean(
        body,
        tags=_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return Body("\n\n".join(p for p in text_parts if p), safe)


def _text_sources(citations: tuple[Citation, ...]) -> str:
    lines = ["Sources:"]
    for i, c in enumerate(citations, 1):
        lines.append(f"[{i}] {c.title}" + (f" <{c.url}>" if c.url else ""))
    return "\n".join(lines)


def _html_sources(citations: tuple[Citation, ...]) -> str:
    items = []
    for c in citations:
        title = html.escape(c.title)
        if c.url and c.url.startswith(("http://", "https://")):
            title = f'<a href="{html.escape(c.url, quote=True)}">{title}</a>'
        items.append(f"<li>{title}</li>")
    return "<p>Sources:</p><ol>" + "".join(items) + "</ol>"


def _html_blocks(markdown: str) -> str:
    blocks = [b for b in re.split(r"\n\s*\n", markdown.strip()) if b.strip()]
    out = []
    for block in blocks:
        lines = [line for line in block.split("\n") if line.strip()]
        if all(_ITEM.match(line) for line in lines):
            items = "".join(f"<li>{_inline(_ITEM.sub('', line))}</li>" for line in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append("<p>" + "<br>".join(_inline(line.strip()) for line in lines) + "</p>")
    return "".join(out)


def _inline(text: str) -> str:
    """Escaped text with **bold** and [label](http-url) links."""
    out, last = [], 0
    for m in _LINK.finditer(text):
        out.append(_bold(html.escape(text[last : m.start()])))
        url = html.escape(m.group(2), quote=True)
        out.append(f'<a href="{url}">{_bold(html.escape(m.group(1)))}</a>')
        last = m.end()
    out.append(_bold(html.escape(text[last:])))
    return "".join(out)


def _bold(escaped: str) -> str:
    return _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>", escaped)
