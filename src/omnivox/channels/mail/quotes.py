"""What the customer wrote in a reply: quoted history and signatures removed.

Plain text is cut at the first reply header ("On Mon, 3 Mar 2026, Jane <jane@...> wrote:",
only a colon after the verb, naming the sender's address or followed by quoted lines; its
French, German, Spanish, Dutch, Italian, Portuguese and Scandinavian forms; Outlook's
"From:/Sent:" block in several languages and "-----Original Message-----"), at a signature
delimiter ("-- ") or a mobile footer ("Sent from my iPhone"); lines quoted with ">" are dropped
wherever they are, and an "On ... wrote:" over quoted lines that the customer answers between
(an interleaved or bottom-posted reply) is dropped alone, keeping the customer's lines. HTML
mail loses its quote containers (Gmail, Apple Mail, Outlook, Thunderbird; from Outlook's reply
header on, everything after it) before it becomes text. A forwarded message (Gmail's, Apple
Mail's; and any mail whose subject says it is a forward, Outlook's included) is kept: what a
customer forwards is part of what they ask about.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Tag

# a date (so a digit) comes before "wrote", and only a colon after it ("On 3 May 2026 I wrote to
# you about my refund:" is the customer's own sentence); German, Dutch and Scandinavian clients
# write the verb before the name ("Am 3.3.2026 um 10:00 schrieb Acme <support@...>:")
_WROTE = re.compile(
    r"^\s*(On|Le|Am|El|Op|Il|Em|Den|På)\s(?=[^\n]{0,300}\d).{0,300}"
    r"((wrote|a écrit|escribió|ha scritto|escreveu)\s*"
    r"|\s(schrieb|schreef|skrev)\s[^\n]{1,200}):\s*$",
    re.IGNORECASE | re.DOTALL,
)
# an attribution names the sender's address, a time or a year
_ATTRIBUTION_DETAIL = re.compile(r"@|\b\d{1,2}[:.h]\d{2}\b|\b(19|20)\d{2}\b")
_FORWARDED = re.compile(
    r"^\s*(-{2,}\s*(Forwarded message|Weitergeleitete Nachricht|Message transféré)"
    r"|Begin forwarded message:|Début du message réexpédié)",
    re.I,
)
_CUT_LINES = (
    re.compile(r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine)", re.I),
    re.compile(r"^\s*_{20,}\s*$"),
    re.compile(r"^-- ?$"),
    re.compile(r"^\s*(Sent from my |Sent from Mail for |Get Outlook for |Envoyé de mon )", re.I),
)
_HEADER_BLOCK = re.compile(r"^\s*\*?(From|De|Von|Van|Da|Fra|Från|Od)\s*:\*?\s", re.I)
# an Outlook header block has a date line ("From: Berlin / To: Toronto" in a question has none)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(Sent|Date|Envoyé|Gesendet|Verzonden|Enviado|Enviado el|Enviada em|Inviato|Data"
    r"|Datum|Skickat|Sendt|Wysłano)\s*:\*?\s",
    re.I,
)
_QUOTED = re.compile(r"^\s*>")
_QUOTE_SELECTORS = (
    "div.gmail_quote",
    "blockquote",
    "div.moz-cite-prefix",
    "div#appendonsend",
    "div#divRplyFwdMsg",
    "div.OutlookMessageHeader",
    "div.yahoo_quoted",
)
_OUTLOOK_MARKERS = ("div#appendonsend", "div#divRplyFwdMsg", "div.OutlookMessageHeader")
_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table"}


def strip_reply(text: str, *, forwarded: bool = False) -> str:
    """The new text of a plain-text reply (everything above the quoted history).

    A ``forwarded`` mail (its subject starts with Fwd:, FW:, WG: ...) is kept whole: Outlook
    forwards under the same separator and header block as its replies, and what a customer
    forwards is what they ask about.
    """
    if forwarded:
        return _tidy(text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FORWARDED.match(line):  # what the customer forwards is part of their message
            kept.extend(x.rstrip() for x in lines[i:])
            break
        end = _attribution_end(lines, i)
        if end is not None:
            if not _answers_inline(lines, end):
                break
            i = end  # "On ..., Acme wrote:" over quoted lines the customer answers between
            continue
        if _starts_history(line, lines[i + 1 : i + 5]):
            break
        if not _QUOTED.match(line):
            kept.append(line.rstrip())
        i += 1
    return _tidy("\n".join(kept))


def _attribution_end(lines: list[str], i: int) -> int | None:
    """Where an "On <date>, <sender> wrote:" line starting at ``i`` ends (None: not one).

    It may wrap before "wrote:" ("On Tue, 3 Mar 2026 at 10:00, Jane Doe" / "<jane@...> wrote:").
    It names the sender's address or is followed by quoted lines: "On 3 May 2026 I wrote:" over
    the customer's own lines is theirs.
    """
    if not _opens_header(lines[i]):
        return None
    for end in (i + 1, i + 2, i + 3):
        joined = " ".join(lines[i:end])
        if _WROTE.match(joined) and _ATTRIBUTION_DETAIL.search(joined):
            following = next((line for line in lines[end:] if line.strip()), "")
            return end if "@" in joined or _QUOTED.match(following) else None
    return None


def _answers_inline(lines: list[str], end: int) -> bool:
    """Whether the customer's own lines come between the quoted ones after an attribution.

    A quoted history ends the reply (top-posting); lines of the customer's after ``>`` lines
    are an interleaved or bottom-posted reply, and are kept.
    """
    rest = [line for line in lines[end:] if line.strip()]
    if not rest or not _QUOTED.match(rest[0]):
        return False  # unquoted history (or nothing) follows: the reply ends here
    for line in rest:
        if any(p.match(line) for p in _CUT_LINES):
            return False
        if not _QUOTED.match(line):
            return True
    return False


def _starts_history(line: str, following: list[str]) -> bool:
    if any(p.match(line) for p in _CUT_LINES):
        return True
    if _HEADER_BLOCK.match(line):
        return any(_HEADER_NEXT.match(nxt) for nxt in following)
    return False


def _opens_header(line: str) -> bool:
    return bool(re.match(r"^\s*(On|Le|Am|El|Op|Il|Em|Den|På)\s", line, re.I))


def html_to_text(html: str, *, drop_quotes: bool = True) -> str:
    """Readable text of an HTML body; quote containers removed when ``drop_quotes``."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    if drop_quotes:
        for marker in soup.select(", ".join(_OUTLOOK_MARKERS))[:1]:
            _cut_from(marker)
        for selector in _QUOTE_SELECTORS:
            for tag in soup.select(selector):
                tag.decompose()
    for tag in soup.find_all(_BLOCKS):
        if isinstance(tag, Tag):
            tag.insert_after("\n")
    for link in soup.find_all("a"):
        href = link.get("href") if isinstance(link, Tag) else None
        if isinstance(href, str) and href.startswith("http") and href != link.get_text():
            link.append(f" ({href})")
    return _tidy(soup.get_text())


def _cut_from(marker: Tag) -> None:
    """Remove ``marker`` and everything after it.

    Outlook puts the quoted mail after its reply header as siblings (of the marker, or of the
    blocks around it), not inside a container.
    """
    node: Tag | None = marker
    while node is not None and node.name not in ("body", "html", "[document]"):
        for sibling in list(node.next_siblings):
            sibling.extract()
        node = node.parent if isinstance(node.parent, Tag) else None
    marker.decompose()


def _tidy(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
