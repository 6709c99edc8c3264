"""The email channel: replies threaded under the customer's mail, sent through an SMTP relay.

Every reply carries ``Message-ID`` (``<outbound row id@support domain>``, the same on a retry),
``In-Reply-To`` and ``References`` (the customer's thread plus their message), ``Reply-To`` with
the conversation in a subaddress (``support+conv_...@domain``) for mail clients that drop
threading headers, and ``Auto-Submitted: auto-replied`` (RFC 3834) so other robots do not answer
it. Message-ID, In-Reply-To and References are folded only between ids, each id written as it
is: a long one (Exchange Online's are 78 characters) would otherwise be RFC 2047-encoded, which
RFC 5322 forbids there, and the customer's client would show the reply outside the thread.
The relay is reached with aiosmtplib (STARTTLS when offered, or as configured; optional
login). A refused recipient or another 5xx is final; a 4xx, and connection trouble or a timeout
before the mail's content went out (connect, EHLO, STARTTLS, login, MAIL, RCPT), are retried by
the outbox. A timeout or a dropped connection once ``DATA`` was sent is final: the relay may
have queued the mail, and a customer is better missing a reply an agent can see than getting it
twice (the outbox's rule for a request sent but never answered).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy, default
from email.utils import formataddr, formatdate, make_msgid
from typing import Any, ClassVar, Literal

import aiosmtplib

from omnivox.channels.base import Capabilities, ChannelError, files_only
from omnivox.channels.config import EmailSettings
from omnivox.channels.mail.parse import (
    MAX_SUBJECT_CHARS,
    ParsedMail,
    bare_subject,
    normalize_id,
    subject_prefix,
)
from omnivox.channels.mail.render import compose
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, OutboundMessage, Reply

MAX_REFERENCES = 20  # ids carried in References (the oldest and the newest matter)
THREAD_SUBJECTS = 20  # a reply's subject is compared with its thread's latest mails' subjects
DISABLED = "outbound email is disabled: set channels.email.relay (host:port)"
# the text of a reply with no words, no files and its thread's subject: stored, not answered
EMPTY_REPLY = "(The customer replied without any text.)"
# the text of a forward that came with nothing (no words, no files, no forwarded mail): held too
EMPTY_FORWARD = "(The customer forwarded a mail without any text.)"
_HELD_TEXT = {"empty reply": EMPTY_REPLY, "empty forward": EMPTY_FORWARD}  # by unanswered label
# a subject that says nothing of the question ("Hello", "Question", "Help please", "Anfrage",
# "(no subject)"), in the languages detected by default: not put before the body
_NO_QUESTION = frozenset(
    {
        "hello", "hi", "hey", "dear", "good", "morning", "afternoon", "evening", "question",
        "questions", "query", "inquiry", "enquiry", "help", "request", "support", "info",
        "information", "please", "urgent", "contact", "message", "no", "subject", "hola", "buenos",
        "buenas", "días", "dias", "tardes", "pregunta", "consulta", "ayuda", "solicitud",
        "información", "urgente", "bonjour", "salut", "demande", "aide", "renseignement",
        "renseignements", "svp", "hallo", "guten", "tag", "frage", "anfrage", "hilfe", "bitte",
        "dringend", "ciao", "buongiorno", "salve", "domanda", "richiesta", "aiuto", "informazioni",
        "olá", "ola", "bom", "dia", "boa", "pergunta", "dúvida", "duvida", "pedido", "ajuda",
        "informação", "hoi", "goedemorgen", "goedendag", "vraag", "hulp", "verzoek", "привет",
        "здравствуйте", "добрый", "день", "вопрос", "помощь", "запрос", "cześć", "dzień", "dobry",
        "pytanie", "pomoc", "zapytanie", "prośba", "merhaba", "selam", "iyi", "günler", "soru",
        "yardım", "talep", "bilgi",
    }
)  # fmt: skip
_WORDS = re.compile(r"[^\W_]+")
# a tag or an unknown one-word prefix before a reply's subject: "[EXTERNAL]", "(Extern)", "R:"
_TAG = re.compile(r"\s*(?:\[[^\]]{0,40}\]|\([^)]{0,40}\)|[^\W\d_]{1,12}\s*[:：])")
# a mail gateway's tag, not the customer's words: "[EXTERNAL]", "(Extern)", "[SPAM?]" (one with a
# digit may be theirs, "[Order 1234]": kept in the text, as a word before a colon is)
_GATEWAY_TAG = re.compile(r"\s*(?:\[[^\]\d]{0,40}\]|\([^)\d]{0,40}\))")


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """A parsed mail, the support mailbox it came to and the conversation its address names.

    ``thread``: the subjects of the stored mails of the thread it answers (the sender's own),
    when it is one of ours; a reply whose subject is none of them asks something new.
    """

    mail: ParsedMail
    mailbox: str
    conversation_hint: str | None = None
    thread: tuple[str, ...] = ()


class EmailChannel:
    """Adapter for one workspace's support mailboxes."""

    name = "email"
    capabilities = Capabilities(
        max_length=100_000,
        markup="html",
        attachments=False,
        guidance=(
            "An email reply: a complete answer in short paragraphs. Do not add a greeting or a "
            "signature; they are added for you."
        ),
        outbox=True,
    )

    def __init__(
        self, workspace_id: str, settings: EmailSettings, brand: str, assistant: str
    ) -> None:
        self.workspace_id = workspace_id
        self.settings = settings
        self.addresses = tuple(settings.addresses)
        self.display_name = settings.display_name or f"{brand or 'Customer'} Support"
        self.signature = f"{assistant}\n{brand}".strip() if brand else assistant

    @property
    def sends(self) -> bool:
        """Whether a relay is configured (otherwise replies are stored, not sent)."""
        return bool(self.settings.relay)

    async def verify(self, request: ReceivedMail) -> None:
        """A mail must name exactly one well-formed sender (RFC 5322 ``From``): 550 otherwise.

        Authenticating the sender (SPF, DKIM, DMARC) is the job of the MX in front of Omnivox.
        """
        if request.mail.sender is None:
            raise ChannelError(550, "bad_sender", request.mail.sender_problem or "no sender")

    async def parse(self, request: ReceivedMail) -> list[InboundMessage]:
        """The mail as one inbound message (with its threading hints), or none when empty."""
        if request.mail.sender is None:
            return []
        held = _unanswered(request)
        text = _HELD_TEXT[held] if held else _question(request)
        return [self.inbound(request, text, held=held)] if text else []

    def inbound(self, request: ReceivedMail, text: str, *, held: str = "") -> InboundMessage:
        """The mail's inbound message with ``text``; ``held``: why an agent sees it, unanswered.

        Also what a reply with nothing in it (a bare "Re:" over the quoted history) is looked
        up by: it is none until its thread is found, and an empty reply to it then.
        """
        mail = request.mail
        meta = {
            "message_id": mail.header_id,  # None: the mail had none (threading headers skip it)
            "subject": mail.subject,
            "references": list(mail.references),
            "in_reply_to": mail.in_reply_to[0] if mail.in_reply_to else None,
            "mailbox": request.mailbox,
            "attachments": [a.as_dict() for a in mail.attachments],
            "defects": list(mail.defects),
        }
        if held:  # an agent sees it; nothing is answered
            meta["unanswered"] = held
        address = mail.sender or ""  # parse: never without one
        return InboundMessage(
            workspace_id=self.workspace_id,
            channel=self.name,
            sender=CustomerRef(address, mail.sender_name, email=address),
            text=text,
            provider_message_id=mail.message_id,
            metadata={"email": meta, "held": True} if held else {"email": meta},
            follows=mail.follows,
            conversation_hint=request.conversation_hint,
        )

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """A new mail (no thread to answer) to ``recipient``."""
        return [self._message(reply, recipient, None, "Your question", (), self.addresses[0])]

    def render_in_thread(
        self, reply: Reply, recipient: str, inbound: InboundMessage
    ) -> list[OutboundMessage]:
        """The reply to ``inbound``: same thread, same mailbox, one ``Re:`` before the subject.

        The prefixes mail clients stack ("Re: Re: AW: Returns") collapse into one ("Re:
        Returns"), so a long thread's subject does not grow with the clients' prefixes.
        """
        mail = inbound.metadata.get("email") or {}
        subject = f"Re: {bare_subject(str(mail.get('subject') or '')) or 'Your question'}"
        mailbox = str(mail.get("mailbox") or self.addresses[0])
        message_id = str(mail.get("message_id") or "")
        # RFC 5322 3.6.4: the parent's References, or else its In-Reply-To, then its own id
        parents = mail.get("references") or (
            [mail["in_reply_to"]] if mail.get("in_reply_to") else []
        )
        references = [*map(str, parents), message_id]
        return [
            self._message(
                reply,
                recipient,
                inbound.sender.name,
                subject,
                _trimmed([r for r in references if r]),
                mailbox,
                in_reply_to=message_id or None,
            )
        ]

    def _message(
        self,
        reply: Reply,
        recipient: str,
        name: str | None,
        subject: str,
        references: tuple[str, ...],
        mailbox: str,
        in_reply_to: str | None = None,
    ) -> OutboundMessage:
        body = compose(reply, name, self.signature)
        data = {
            "subject": subject,
            "html": body.html,
            "mailbox": mailbox,
            "in_reply_to": in_reply_to,
            "references": list(references),
        }
        payload = {"citations": [c.as_dict() for c in reply.citations], "channel_data": data}
        return OutboundMessage(self.name, recipient, body.text, payload)

    def build(self, message: OutboundMessage) -> EmailMessage:
        """The MIME message for an outbound row (multipart/alternative: text, then HTML)."""
        data: dict[str, Any] = message.payload.get("channel_data") or {}
        mailbox = str(data.get("mailbox") or self.addresses[0])
        local, domain = mailbox.split("@", 1)
        row_id = message.payload.get("message_id")
        conversation = message.payload.get("conversation_id")
        mail = EmailMessage(policy=MAIL_POLICY)
        mail["From"] = formataddr((self.display_name, mailbox))
        if conversation:
            mail["Reply-To"] = formataddr((self.display_name, f"{local}+{conversation}@{domain}"))
        mail["To"] = message.recipient
        mail["Subject"] = str(data.get("subject") or "Your question")
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = f"<{row_id}@{domain}>" if row_id else make_msgid(domain=domain)
        if data.get("in_reply_to"):
            mail["In-Reply-To"] = f"<{data['in_reply_to']}>"
        if data.get("references"):
            mail["References"] = " ".join(f"<{r}>" for r in data["references"])
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
        mail["X-Loop"] = mailbox  # a robot that ignores the two above copies it back: ignored
        mail.set_content(message.text)
        mail.add_alternative(str(data.get("html") or ""), subtype="html")
        return mail

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Hand the mail to the relay; the receipt's id is the Message-ID (threading key)."""
        if not self.sends:
            return DeliveryReceipt(self.name, "failed", error=DISABLED)
        mail = self.build(message)
        host, port = self.settings.relay.rsplit(":", 1)
        mailbox = str((message.payload.get("channel_data") or {}).get("mailbox") or "")
        relay = _Relay(
            hostname=host,
            port=int(port),
            username=self.settings.username or None,
            password=self.settings.password.get_secret_value() or None,
            timeout=self.settings.timeout_s,
            cert_bundle=self.settings.ca_file or None,
            **_tls(self.settings.tls),
        )
        try:
            async with relay:
                await relay.send_message(
                    mail, sender=mailbox or self.addresses[0], recipients=[message.recipient]
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:  # 4xx (greylisting, a full box): later
            transient = all(400 <= r.code < 500 for r in exc.recipients)
            return DeliveryReceipt(self.name, "failed", error=str(exc), retryable=transient)
        except aiosmtplib.SMTPResponseException as exc:
            transient = 400 <= exc.code < 500
            return DeliveryReceipt(self.name, "failed", error=str(exc), retryable=transient)
        except (aiosmtplib.SMTPException, OSError) as exc:
            if relay.data_sent:  # the relay may have it: a retry could deliver it twice
                error = f"no answer after the mail was sent ({exc!r}); not retried: it may be sent"
                return DeliveryReceipt(self.name, "failed", error=error, retryable=False)
            return DeliveryReceipt(self.name, "failed", error=repr(exc), retryable=True)
        return DeliveryReceipt(self.name, "sent", normalize_id(str(mail["Message-ID"])))

    async def close(self) -> None:
        """Nothing held open: each send opens its own connection to the relay."""


class _IdsHeader(UnstructuredHeader, BaseHeader):
    """A header of message ids, folded only between ids (RFC 5322 3.6.4: no encoded words).

    An id is written as it is, on a line of its own when it does not fit the current one (a
    line may be up to 998 characters); ids that are not ASCII fall back to the default folding.
    """

    max_count: ClassVar[Literal[1] | None] = None

    def fold(self, *, policy: Policy) -> str:
        ids = str(self).split()
        if not ids or not all(i.isascii() for i in ids):
            return super().fold(policy=policy)
        width = policy.max_line_length or 78
        lines = [f"{self.name}: {ids[0]}"]
        for id_ in ids[1:]:
            if len(lines[-1]) + 1 + len(id_) <= width:
                lines[-1] += f" {id_}"
            else:
                lines.append(f" {id_}")
        return policy.linesep.join(lines) + policy.linesep


class _IdHeader(_IdsHeader):
    max_count = 1


def _headers() -> HeaderRegistry:
    registry = HeaderRegistry()
    registry.map_to_type("message-id", _IdHeader)
    registry.map_to_type("in-reply-to", _IdsHeader)
    registry.map_to_type("references", _IdsHeader)
    return registry


# the default policy, with threading headers that keep their ids whole whatever policy sends them
MAIL_POLICY = default.clone(header_factory=_headers())


class _Relay(aiosmtplib.SMTP):
    """An SMTP client that notes when ``DATA`` went out (after it, silence is not a refusal)."""

    data_sent = False

    async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        self.data_sent = True
        return await super().data(message, **kwargs)


def subject_of(metadata: dict[str, Any]) -> str:
    """The subject of a stored email message: a customer's mail's, or our reply's ("" if none)."""
    mail = metadata.get("email") or metadata.get("channel_data") or {}
    return str(mail.get("subject") or "")


def asks_anew(request: ReceivedMail) -> bool:
    """Whether a reply's subject may be a new question, if its thread's subjects differ.

    A reply (not a forward: its subject is the forwarded mail's) whose subject, without its
    Re:/AW:/... prefixes, is more than a greeting or a label and is not in the body already.
    """
    mail = request.mail
    if _starts_thread(request) or subject_prefix(mail.subject) == "forward":
        return False
    return _may_lead(_untagged(mail.subject), mail.text)


def reads_thread(request: ReceivedMail) -> bool:
    """Whether a reply is read with its thread's subjects: they tell what it asks.

    One whose subject may ask something new (:func:`asks_anew`), and one with neither words nor
    files, which says nothing new under its thread's subject (:func:`_empty_reply`).
    """
    mail = request.mail
    if _starts_thread(request) or subject_prefix(mail.subject) == "forward":
        return False
    return asks_anew(request) or not (mail.text.strip() or mail.attachments)


def _unanswered(request: ReceivedMail) -> str:
    """Why the mail is stored for an agent and not answered: "empty reply", "empty forward", ""."""
    if _empty_forward(request):
        return "empty forward"
    return "empty reply" if _empty_reply(request) else ""


def _empty_forward(request: ReceivedMail) -> bool:
    """Whether a forward came with nothing: no words, no files, not even the forwarded mail.

    Its subject is the forwarded mail's ("Fwd: Your order has shipped"), not a question, and
    answering it made one up: it is stored for an agent (:data:`EMPTY_FORWARD`). A forward is
    kept whole (:func:`~omnivox.channels.mail.quotes.strip_reply`), so one whose mail came
    along is answered from it; "Fwd:" over nothing at all is ignored as any empty mail.
    """
    mail = request.mail
    said = mail.text.strip() or mail.attachments
    return subject_prefix(mail.subject) == "forward" and not said and bool(_untagged(mail.subject))


def _empty_reply(request: ReceivedMail) -> bool:
    """Whether a reply of its thread says nothing: no words, no files, no subject of its own.

    "Re: <the thread's subject>" over an empty body asks the old question again, which was
    answered then: it is stored for an agent to see and not answered (:data:`EMPTY_REPLY`).
    """
    mail = request.mail
    said = mail.text.strip() or mail.attachments
    return bool(request.thread) and not said and not _lead(request)


def _question(request: ReceivedMail) -> str:
    """What the customer asks: the body, led by the subject when it asks something new.

    Customers often ask in the subject alone ("Return policy for sale items?" over "see
    subject" or a greeting), so a new thread's subject is the text's first line unless the body
    says it already or it is only a greeting or a label ("Hello", "Question", "(no subject)").
    A reply's subject ("Re: ...") is usually the thread's old question and is left out, unless
    the customer changed it into a new one (:func:`_lead`), also over files alone. A mail of
    files alone is said so (an agent can look), also under a thread's subject. An empty mail
    is its subject, without prefixes and a mail gateway's tags (:func:`_untagged`).
    """
    mail = request.mail
    body, names = mail.text.strip(), [a.name for a in mail.attachments]
    subject = "" if names and subject_prefix(mail.subject) else _untagged(mail.subject)
    lead = _lead(request)
    if lead:
        return "\n\n".join(filter(None, (lead, body)))
    return body or subject or files_only(names)


def _lead(request: ReceivedMail) -> str:
    """The subject that leads the body ("" for none), without a mail gateway's tags.

    A new thread's subject, or a reply's (without its Re:/AW:/... prefixes) that is none of its
    thread's subjects: "Re: can I change the delivery address?" under "Your order #1234 has
    shipped". A reply to a thread we do not know (no ``thread``) keeps its body alone.
    """
    mail, subject = request.mail, _untagged(request.mail.subject)
    if _starts_thread(request):
        return subject if _may_lead(subject, mail.text) else ""
    changed = request.thread and not any(_same(mail.subject, s) for s in request.thread)
    return subject if changed and asks_anew(request) else ""


def _same(subject: str, other: str) -> bool:
    """Whether two subjects are one thread's: their cores alike, cut alike.

    A subject longer than ``MAX_SUBJECT_CHARS`` is stored cut there, prefixes included, so a
    reply's "Re: <the thread's long subject>" and the thread's own keep more or less of it: a
    cut core is compared with as much of the other one.
    """
    (shorter, cut), (longer, _) = sorted(map(_key, (subject, other)), key=lambda k: len(k[0]))
    return shorter == (longer[: len(shorter)] if cut and shorter else longer)


def _key(subject: str) -> tuple[str, bool]:
    """``subject``'s core as compared (:func:`_core`, :func:`_fold`), and whether it was cut."""
    return _fold(_core(subject)), len(subject) >= MAX_SUBJECT_CHARS


def _core(subject: str) -> str:
    """``subject`` without the prefixes and tags before it: what a reply keeps of its thread's.

    Re:/AW:/... (:func:`bare_subject`), a mail gateway's tag ("[EXTERNAL]", "(Extern)") and a
    reply prefix of a client not listed there ("Antwort:", Italian Outlook's "R:", "回复："):
    "RE: [EXTERNAL] Your order" is the thread "Your order", not a new question.
    """
    core = bare_subject(subject)
    while (tag := _TAG.match(core)) is not None:
        core = bare_subject(core[tag.end() :])
    return core


def _untagged(subject: str) -> str:
    """``subject`` without its Re:/AW:/... prefixes and the mail gateways' tags before it.

    "Re: [EXTERNAL] Where is my refund?" asks "Where is my refund?": the tag is not the
    customer's (:data:`_GATEWAY_TAG`).
    """
    words = bare_subject(subject)
    while (tag := _GATEWAY_TAG.match(words)) is not None:
        words = bare_subject(words[tag.end() :])
    return words


def _may_lead(subject: str, body: str) -> bool:
    """Whether ``subject`` may lead ``body`` (empty: files alone): it asks, the body lacks it."""
    return _asks(subject) and _fold(subject) not in _fold(body)


def _asks(subject: str) -> bool:
    """Whether a subject may hold a question: not a greeting or a label ("Hello", "Question")."""
    return any(w not in _NO_QUESTION for w in _WORDS.findall(subject.casefold()))


def _starts_thread(request: ReceivedMail) -> bool:
    """Whether the mail begins a thread: no Re:/Fwd: subject, no threading headers or address.

    In-Reply-To, References or a conversation's reply address (``support+conv_...@``) make it
    a reply, whether or not the thread it answers is one of ours.
    """
    mail = request.mail
    answers = mail.in_reply_to or mail.references or request.conversation_hint
    return not answers and not subject_prefix(mail.subject)


def _fold(text: str) -> str:
    """``text`` compared loosely: case and runs of whitespace ignored."""
    return " ".join(text.casefold().split())


def _trimmed(references: list[str]) -> tuple[str, ...]:
    """At most ``MAX_REFERENCES`` ids: the thread's first (its root) and the newest."""
    if len(references) <= MAX_REFERENCES:
        return tuple(references)
    return (references[0], *references[-(MAX_REFERENCES - 1) :])


def _tls(mode: str) -> dict[str, Any]:
    if mode == "implicit":
        return {"use_tls": True}
    if mode == "starttls":
        return {"start_tls": True}
    if mode == "none":
        return {"start_tls": False}
    return {"start_tls": None}  # auto: upgrade when the relay offers STARTTLS
