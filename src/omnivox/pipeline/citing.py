"""One source per document, and ``[n]`` markers that name the source as the customer sees it.

The model cites passages by their place in its prompt ("[3]"); several passages may come from
one document, and the grounding guard adds the passages that support the sentences it kept. What
the customer gets is one source per document, numbered in the order the answer first names it
(its markers first, then the guard's), and every marker renumbered to that list: "[3][1]" where
passages 3 and 1 are both the returns page reads "[1]", and email's "Sources: [1] …" and the web
chat's chips say the same. A marker naming no passage of the prompt ("[7]" of four) is removed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from omnivox.types import Citation, Passage, Reply

_MARKER = re.compile(r"(?<!\s)(\s*)\[(\d{1,2})\]")  # whitespace runs read once, not per space
_REPEATED = re.compile(r"\[(\d{1,2})\](?:\s*\[\1\])+")


def numbered(reply: Reply, passages: Sequence[Passage]) -> Reply:
    """``reply`` with one citation per document and its markers renumbered to match."""
    sources: dict[str, Citation] = {}

    def number(citation: Citation) -> int:
        sources.setdefault(citation.source_id, citation)
        return list(sources).index(citation.source_id) + 1

    def renumber(marker: re.Match[str]) -> str:
        place = int(marker.group(2)) - 1
        if not 0 <= place < len(passages):
            return ""
        return f"{marker.group(1)}[{number(passages[place].citation())}]"

    text = _REPEATED.sub(r"[\1]", _MARKER.sub(renumber, reply.text))
    for citation in reply.citations:
        number(citation)
    if text == reply.text and tuple(sources.values()) == reply.citations:
        return reply
    return Reply(text, tuple(sources.values()), reply.provider)
