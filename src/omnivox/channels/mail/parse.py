"""Raw RFC 5322 bytes -> what Omnivox needs from a customer's email.

Tolerant by design: malformed MIME, unknown charsets, 8-bit headers and absurd part counts are
recorded as ``defects`` (and logged by the caller), never raised. Only the parts the customer
wrote reach the model: the first text body (plain text preferred; HTML-only mail converted),
with quoted history and signatures removed. Attachments are recorded as name, type and size and
never read further, except an attached mail (``message/rfc822``, "Forward as attachment"): it
is also read as forwarded text after the customer's own, as an inline forward has it.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses

from omnivox.channels.mail.quotes import html_to_text, strip_reply

MAX_PARTS = 500  # parts looked at; the rest of a message with more is ignored (a defect)
# attached mails read as forwarded text: the one attached, and one attached inside it; deeper
# ones are attachments only
MAX_FORWARD_DEPTH = 2
FORWARD_LINE = "---------- Forwarded message ---------"  # Gmail's: what an inline forward has
_FORWARD_HEADERS = ("From", "Date", "Subject", "To")
MAX_ID_CHARS = 200  # longer Message-IDs are stored as their hash (the column holds 200)
MAX_REFERENCES = 50
MAX_SUBJECT_CHARS = 300  # a longer subject is cut there (the thread compares cut subjects)
_ADDRESS = re.compile(r"^[^@\s<>()\",;:]+@[^@\s<>()\",;:]+\.[^@\s<>()\",;:]+$")
_QUOTED_OR_COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|\((?:[^()\\]|\\.)*\)')
_SYSTEM_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)([+@.-]|$)", re.I
)
# an envelope sender that is a mail system's own: bounces+...@ and no-reply@ envelopes are how
# SendGrid, Mailgun and the like send mail that people write (VERP), so only the From counts them
_DAEMONS = re.compile(r"^(mailer-daemon|postmaster)([+@.-]|$)", re.I)


# the prefixes mail clients put before a subject they answer or forward, in several languages
_REPLY_PREFIX = r"re|aw|sv|vs|antw|odp|ynt|res|rif"
_FORWARD_PREFIX = r"fwd?|wg|tr|rv|enc|vb|vl|doorst"
_PREFIX = re.compile(rf"^\s*({_REPLY_PREFIX}|{_FORWARD_PREFIX})\s*(\[\d+\])?\s*:", re.I)


def subject_prefix(subject: str) -> str:
    """``"reply"`` or ``"forward"`` for a subject starting with Re:/AW:/... or Fwd:/WG:/...; ``""``.

    Only the first prefix counts: "Re: Fwd: ..." answers a forward, "Fwd: Re: ..." forwards.
    """
    found = _PREFIX.match(subject)
    if found is None:
        return ""
    return "forward" if re.fullmatch(_FORWARD_PREFIX, found.group(1), re.I) else "reply"


def bare_subject(subject: str) -> str:
    """``subject`` without the Re:/AW:/Fwd:/... prefixes mail clients stack before it.

    "Re: Re[2]: AW:  Your order" is "Your order": the thread's subject as the customer first
    wrote it (or as a client shortened it).
    """
    bare = subject.strip()
    while (found := _PREFIX.match(bare)) is not None:
        bare = bare[found.end() :].strip()
    return bare


class MailError(Exception):
    """The bytes are not an email this server can read at all."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with the mail: recorded, never passed to the model."""

    name: str
    type: str
    size: int

    def as_dict(self) -> dict[str, str | int]:
        """JSON-ready form stored on the message."""
        return {"name": self.name, "type": self.type, "size": self.size}


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """The parts of one email Omnivox uses."""

    message_id: str  # the dedupe key: the Message-ID, hashed when long, or the content's hash
    header_id: str | None  # the Message-ID as written (None when the mail has none)
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender: str | None  # the one From address, lower case; None when ambiguous or malformed
    sender_name: str | None
    sender_problem: str | None
    text: str  # what the customer wrote, quotes and signature removed
    attachments: tuple[Attachment, ...]
    automatic: str | None  # why this mail is machine-sent (never answered), if it is
    defects: tuple[str, ...]
    # X-Loop (every one of them): mailboxes earlier automatic mails of this thread came from
    loops: tuple[str, ...] = ()

    @property
    def follows(self) -> tuple[str, ...]:
        """Keys of the mails this one answers, most specific first (In-Reply-To, References)."""
        seen: dict[str, None] = {}
        for ref in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(normalize_id(ref), None)
        return tuple(seen)


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse one message; MailError only when nothing can be read."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except (RecursionError, ValueError, TypeError, IndexError) as exc:
        raise MailError(f"unreadable message: {exc.__class__.__name__}") from None
    defects: list[str] = []
    sender, name, problem = _sender(msg)
    subject = header(msg, "Subject")
    text, attachments = _body(msg, defects, forwarded=subject_prefix(subject) == "forward")
    header_id = next(iter(message_ids(header(msg, "Message-ID"))), None)
    return ParsedMail(
        message_id=normalize_id(header_id) if header_id else _content_id(raw),
        header_id=header_id,
        in_reply_to=tuple(message_ids(header(msg, "In-Reply-To"))[:1]),
        references=tuple(message_ids(header(msg, "References"))[-MAX_REFERENCES:]),
        subject=subject[:MAX_SUBJECT_CHARS],
        sender=sender,
        sender_name=name,
        sender_problem=problem,
        text=text,
        attachments=tuple(attachments),
        automatic=automatic(msg, sender),
        loops=headers(msg, "X-Loop"),
        defects=tuple(dict.fromkeys(defects)),
    )


def header(msg: Message, name: str) -> str:
    """A header as clean one-line text ('' when absent or unreadable).

    Raw 8-bit bytes in a header (no RFC 2047 encoding) are read as UTF-8, as most clients send
    them, or else as Windows-1252 (older clients writing Latin-1 bytes).
    """
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if isinstance(raw, str) and _SURROGATES.search(raw):
        return _eight_bit(raw)
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse: fall back to its raw text
        value = raw
    if value is None:
        return ""
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def headers(msg: Message, name: str) -> tuple[str, ...]:
    """Every header ``name`` (a robot adds its own ``X-Loop`` to those already there)."""
    found: list[str] = []
    for key, raw in msg.raw_items():
        if key.lower() == name.lower() and isinstance(raw, str):
            text = _eight_bit(raw)
            if text:
                found.append(text)
    return tuple(found)


_SURROGATES = re.compile("[\udc80-\udcff]")  # bytes the parser kept undecoded


def _eight_bit(raw: str) -> str:
    """A raw header's text, its undecoded bytes read as UTF-8 or else Windows-1252."""
    data = raw.encode("utf-8", "surrogateescape")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")
    return " ".join(text.split())


def normalize_id(value: str) -> str:
    """A Message-ID without angle brackets; hashed when longer than the column allows."""
    value = value.strip().strip("<>").strip()
    if len(value) > MAX_ID_CHARS:
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return value


def message_ids(value: str) -> list[str]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References header, in order."""
    found = re.findall(r"<([^<>\s]{1,998})>", value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]
    return found


def _content_id(raw: bytes) -> str:
    """The key of a mail without a Message-ID: its hash, so a redelivered copy is recognised."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _sender(msg: Message) -> tuple[str | None, str | None, str | None]:
    """(address, display name, problem): exactly one well-formed From address, or a problem."""
    try:
        values = msg.get_all("From") or []
    except Exception:
        return None, None, "the From header cannot be parsed"
    if len(values) != 1:
        return None, None, f"{len(values)} From headers (expected exactly one)"
    # the raw text: a parsed header may already have dropped the second address
    value = _eight_bit(str(next(v for k, v in msg.raw_items() if k.lower() == "from")))
    if _QUOTED_OR_COMMENT.sub("", value).count("@") != 1:
        return None, None, "the From header must name exactly one address"
    pairs = getaddresses([value])
    if len(pairs) != 1 or not _ADDRESS.match(pairs[0][1]):
        return None, None, f"the From header is not a valid address: {value[:120]!r}"
    name, address = pairs[0]
    return address.lower(), _decoded(name), None


def _decoded(name: str) -> str | None:
    """A display name with RFC 2047 encoded words (``=?utf-8?q?...?=``) decoded."""
    with contextlib.suppress(ValueError, LookupError):  # a broken encoded word: keep it raw
        name = str(make_header(decode_header(name)))
    return " ".join(name.split())[:120] or None


def automatic(msg: Message, sender: str | None) -> str | None:
    """Why a mail was sent by a machine (RFC 3834 and common practice); None for a person."""
    auto = _keyword(header(msg, "Auto-Submitted"))
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = _keyword(header(msg, "Precedence"))
    if precedence in ("bulk", "junk", "list", "auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Autoresponder"):
        if header(msg, name):
            return name
    # a list ("DR, RN, NRN, OOF, AutoReply"): the sender asks for no automatic answer
    suppress = {t.lower() for t in re.split(r"[\s,;]+", header(msg, "X-Auto-Response-Suppress"))}
    if suppress & {"all", "autoreply", "oof"}:
        return "X-Auto-Response-Suppress"
    if header(msg, "Return-Path").strip("<> \t") == "" and msg.get("Return-Path") is not None:
        return "bounce (empty Return-Path)"  # a bounce whose envelope a forward rewrote
    if header(msg, "List-Id") or header(msg, "List-Unsubscribe"):
        return "mailing list"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    if sender and system_sender(sender):
        return f"system sender {sender}"
    return None


def _keyword(value: str) -> str:
    """A header's keyword, lower case, without RFC 5322 comments ("auto_reply (vacation)")."""
    return " ".join(_COMMENT.sub(" ", value).split()).lower()


_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")


def system_sender(address: str) -> bool:
    """A mail system's own address (MAILER-DAEMON, postmaster, no-reply, bounces)."""
    return bool(_SYSTEM_SENDERS.match(address))


def daemon_sender(address: str) -> bool:
    """An envelope sender that only a mail system uses (MAILER-DAEMON, postmaster)."""
    return bool(_DAEMONS.match(address))


def _body(msg: Message, defects: list[str], forwarded: bool) -> tuple[str, list[Attachment]]:
    """The customer's text and the attachments; a forward (``Fwd:`` subject) is kept whole.

    An attached mail (``message/rfc822``: "Forward as attachment") is an attachment and, when
    it has headers, forwarded text after the customer's own (:func:`_forward`).
    """
    walk = _Walk(defects)
    return _text(msg, walk, forwarded, depth=0), walk.attachments


@dataclass(slots=True)
class _Walk:
    """What reading one mail collects across its attached mails: the part count is shared."""

    defects: list[str]
    attachments: list[Attachment] = field(default_factory=list)
    parts: int = 0


def _text(msg: Message, walk: _Walk, forwarded: bool, depth: int) -> str:
    """The text of ``msg`` (a mail, or one attached ``depth`` levels down), then its forwards."""
    plain: str | None = None
    html: str | None = None
    forwards: list[str] = []
    stack: list[tuple[Message, str]] = [(msg, "")]  # a part and its container's type
    visited: list[Message] = []
    while stack:
        part, container = stack.pop()
        visited.append(part)
        walk.parts += 1
        if walk.parts > MAX_PARTS:
            walk.defects.append(f"more than {MAX_PARTS} parts: the rest were ignored")
            break
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            payload = part.get_payload()
            subparts = (
                [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
            )
            stack.extend((p, part.get_content_type()) for p in reversed(subparts))
            continue
        if part.get_content_maintype() == "multipart":  # no boundary: read it as text
            plain = plain if plain is not None else _decode(part, walk.defects)
        elif part.get_content_type() == "message/rfc822":
            forwards.append(_forward(part, walk, depth + 1))
        elif _is_attachment(part):
            walk.attachments.append(_attachment(part))
        elif part.get_content_type() == "text/plain" and plain is None:
            plain = _decode(part, walk.defects)
        elif part.get_content_type() == "text/plain" and container == "multipart/mixed":
            # text on both sides of an inline picture (Apple Mail): one body, in order
            plain = f"{plain}\n\n{_decode(part, walk.defects)}"
        elif part.get_content_type() == "text/html" and html is None:
            html = _decode(part, walk.defects)
    # after decoding: bad base64 or quoted-printable shows up as a part's defect then
    walk.defects.extend(type(d).__name__ for part in visited for d in part.defects)
    if (plain is None or not plain.strip()) and html is not None:  # an empty plain alternative
        plain = html_to_text(html, drop_quotes=not forwarded)
    return "\n\n".join(filter(None, (strip_reply(plain or "", forwarded=forwarded), *forwards)))


def _forward(part: Message, walk: _Walk, depth: int) -> str:
    """An attached mail as an inline forward writes it ("" when it is not read, below).

    A "---------- Forwarded message ---------" line, its From/Date/Subject/To, then its text,
    kept whole as a forward's is. Its files are listed with the outer mail's, as a client's
    inline forward attaches them to the new mail; a mail attached in it is read the same way,
    and one attached deeper than ``MAX_FORWARD_DEPTH`` is only listed. It is always listed
    (named by its Subject when it has no file name); one without headers (empty, or not a
    mail) is only that.
    """
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message) or not inner.keys():
        walk.defects.append("an attached mail without headers: kept as an attachment only")
        walk.attachments.append(_attachment(part, "forwarded.eml"))
        return ""
    walk.attachments.append(_attachment(part, header(inner, "Subject") or "forwarded.eml"))
    if depth > MAX_FORWARD_DEPTH:
        return ""
    lines = [f"{name}: {header(inner, name)}" for name in _FORWARD_HEADERS if header(inner, name)]
    text = _text(inner, walk, forwarded=True, depth=depth)
    return "\n".join((FORWARD_LINE, *lines, "", text)).strip()


def _is_attachment(part: Message) -> bool:
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return True
    return part.get_content_maintype() != "text"


def _attachment(part: Message, unnamed: str = "(unnamed)") -> Attachment:
    try:
        if part.is_multipart():  # an attached mail (message/rfc822): decode=True gives None
            size = sum(len(p.as_bytes()) for p in part.get_payload() if isinstance(p, Message))
        else:
            size = len(part.get_payload(decode=True) or b"")
    except Exception:  # undecodable payload: its encoded size is still a size
        size = len(str(part.get_payload()))
    name = part.get_filename() or ""
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:200]
    return Attachment(name or unnamed[:200], part.get_content_type(), size)


def _decode(part: Message, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "us-ascii"
    try:
        codec = codecs.lookup(charset)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        defects.append(f"unknown charset {charset[:40]!r}: read as UTF-8")
        return data.decode("utf-8", errors="replace")
    try:  # base64, zlib, rot13 are codecs but not charsets; idna has no "replace"
        if not codec._is_text_encoding:
            raise LookupError(charset)
        text = data.decode(codec.name, errors="replace")
    except (LookupError, UnicodeError):
        defects.append(f"unreadable charset {charset[:40]!r}: read as UTF-8")
        return data.decode("utf-8", errors="replace")
    if charset in ("us-ascii", "ascii") and not text.isascii():
        text = data.decode("utf-8", errors="replace")
    return text
