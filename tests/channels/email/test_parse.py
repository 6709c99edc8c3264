"""Parsing customer mail: bodies, charsets, attachments, senders, machine mail, bad MIME."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from omnivox.channels.config import EmailSettings
from omnivox.channels.mail.channel import (
    EMPTY_FORWARD,
    EMPTY_REPLY,
    EmailChannel,
    ReceivedMail,
    reads_thread,
)
from omnivox.channels.mail.parse import (
    MAX_PARTS,
    MAX_SUBJECT_CHARS,
    MailError,
    bare_subject,
    normalize_id,
    parse_mail,
    subject_prefix,
)
from omnivox.channels.mail.quotes import html_to_text, strip_reply
from omnivox.types import InboundMessage
from tests.channels.email.support import mail

HEAD = (
    "From: Jane Doe <jane@example.com>\r\nTo: support@acme.example\r\n"
    "Message-ID: <m1@example.com>\r\n"
)


def test_plain_text_mail_gives_sender_subject_ids_and_text() -> None:
    msg = mail(
        "Can I return boots after 20 days?",
        in_reply_to="<out-1@acme.example>",
        references=["<first@example.com>", "<out-1@acme.example>"],
    )
    parsed = parse_mail(msg.as_bytes())
    assert parsed.sender == "jane@example.com" and parsed.sender_name == "Jane Doe"
    assert parsed.subject == "Question about returns"
    assert parsed.text == "Can I return boots after 20 days?"
    assert parsed.message_id == normalize_id(str(msg["Message-ID"]))
    assert parsed.in_reply_to == ("out-1@acme.example",)
    assert parsed.follows == ("out-1@acme.example", "first@example.com")
    assert parsed.automatic is None and parsed.defects == ()


def test_plain_text_is_preferred_and_html_only_mail_becomes_text() -> None:
    both = mail("plain words")
    both.add_alternative("<p>html words</p>", subtype="html")
    assert parse_mail(both.as_bytes()).text == "plain words"

    html_only = EmailMessage()
    html_only["From"] = "jane@example.com"
    html_only.set_content(
        "<html><head><style>p{color:red}</style></head><body><p>Where is <b>ACM-482193</b>?</p>"
        "<div>See <a href='https://acme.example/o/1'>my order</a></div>"
        "<div class='gmail_quote'>On Mon, Acme wrote:<blockquote>old answer</blockquote></div>"
        "</body></html>",
        subtype="html",
    )
    text = parse_mail(html_only.as_bytes()).text
    assert text == "Where is ACM-482193?\nSee my order (https://acme.example/o/1)"


@pytest.mark.parametrize(
    ("charset", "body"),
    [
        ("iso-8859-1", "Kann ich die Größe tauschen?"),
        ("koi8-r", "Где мой заказ?"),
        ("shift_jis", "注文はどこですか"),
    ],
)
def test_declared_charsets_are_decoded(charset: str, body: str) -> None:
    raw = (HEAD + f"Content-Type: text/plain; charset={charset}\r\n\r\n").encode() + body.encode(
        charset
    )
    assert parse_mail(raw).text == body


def test_an_unknown_charset_is_read_as_utf8_and_recorded() -> None:
    raw = (HEAD + "Content-Type: text/plain; charset=x-klingon\r\n\r\nGröße?").encode()
    parsed = parse_mail(raw)
    assert parsed.text == "Größe?"
    assert parsed.defects == ("unknown charset 'x-klingon': read as UTF-8",)


@pytest.mark.parametrize(
    ("charset", "defect"),
    [
        ("base64", "unreadable charset 'base64'"),  # codecs, but not of text: raised
        ("zlib", "unreadable charset 'zlib'"),
        ("rot13", "unreadable charset 'rot13'"),
        ("idna", "unreadable charset 'idna'"),  # a text codec without errors="replace"
        ('"utf\\\x008"', "unknown charset 'utf\\x008'"),  # a NUL in the name: ValueError
    ],
)
def test_a_codec_that_is_no_charset_is_read_as_utf8_not_raised(charset: str, defect: str) -> None:
    raw = HEAD + f"Content-Type: text/plain; charset={charset}\r\n\r\nWhere is my order 1234?"
    parsed = parse_mail(raw.encode())
    assert parsed.text == "Where is my order 1234?"
    assert parsed.defects == (f"{defect}: read as UTF-8",)


@pytest.mark.parametrize(
    ("subject", "kind"),
    [
        ("Re: Question about returns", "reply"),
        ("AW: Bestellung", "reply"),
        ("RE[2]: order", "reply"),
        ("Fwd: Your order has shipped", "forward"),
        ("FW: Re: order", "forward"),  # the first prefix counts
        ("Re: Fwd: order", "reply"),
        ("WG: Rechnung", "forward"),
        ("Return of my boots", ""),
        ("Refund: still missing", ""),
    ],
)
def test_reply_and_forward_subjects_are_told_apart(subject: str, kind: str) -> None:
    assert subject_prefix(subject) == kind


@pytest.mark.parametrize(
    ("subject", "bare"),
    [
        ("Re: Your order", "Your order"),
        ("AW: Re[2]:  RE :Your order ", "Your order"),
        ("Fwd: Re: Your order", "Your order"),
        ("Your order", "Your order"),
        ("Refund: still missing", "Refund: still missing"),
        ("Re:", ""),
    ],
)
def test_a_subject_is_bare_without_its_stacked_prefixes(subject: str, bare: str) -> None:
    assert bare_subject(subject) == bare


THREAD = ("Re: Your order #1234 has shipped", "Your order #1234 has shipped")


async def parsed(
    msg: EmailMessage, hint: str | None = None, thread: tuple[str, ...] = ()
) -> list[InboundMessage]:
    """The email channel's inbound messages for ``msg`` (read with ``thread``'s subjects)."""
    config = EmailSettings(addresses=["support@acme.example"])
    email = EmailChannel("acme", config, "Acme Outfitters", "Juniper")
    received = ReceivedMail(parse_mail(msg.as_bytes()), "support@acme.example", hint, thread)
    return await email.parse(received)


async def question(msg: EmailMessage, hint: str | None = None, thread: tuple[str, ...] = ()) -> str:
    """The text the turn answers for ``msg`` (the email channel's inbound message)."""
    [inbound] = await parsed(msg, hint, thread)
    return inbound.text


@pytest.mark.parametrize(
    ("subject", "body", "text"),
    [
        (
            "Return policy for sale items?",
            "see subject",
            "Return policy for sale items?\n\nsee subject",
        ),
        (
            "Return policy for sale items?",
            "Hi,\n\nJane",
            "Return policy for sale items?\n\nHi,\n\nJane",
        ),
        # said again in the body: not twice
        (
            "Sale items",
            "Can I return  SALE ITEMS bought online?",
            "Can I return  SALE ITEMS bought online?",
        ),
        ("Return policy for sale items?", "", "Return policy for sale items?"),
        # a greeting or a label is no question: it did lead the body
        ("Hello", "Can I return boots?", "Can I return boots?"),
        ("Question", "Can I return boots?", "Can I return boots?"),
        ("Help please!", "My order is late", "My order is late"),
        ("Anfrage", "Wo ist meine Bestellung?", "Wo ist meine Bestellung?"),
        ("(no subject)", "Where is my order?", "Where is my order?"),
        ("Question about returns", "Hi", "Question about returns\n\nHi"),
        # our own MX's tag is not the customer's question
        ("[SPAM?] Return policy for sale items?", "Hi", "Return policy for sale items?\n\nHi"),
        ("[SPAM?] Hello", "Can I return boots?", "Can I return boots?"),
    ],
)
async def test_a_new_threads_subject_leads_the_question(subject: str, body: str, text: str) -> None:
    """The subject was never part of the text: "see subject" was all the model and search saw."""
    assert await question(mail(body, subject=subject)) == text


async def test_a_replys_subject_is_not_part_of_the_question() -> None:
    headers = mail(
        "And for kids?", subject="Question about returns", in_reply_to="<a1@acme.example>"
    )
    assert await question(headers) == "And for kids?"
    assert await question(mail("And for kids?", subject="AW: Rückgabe")) == "And for kids?"
    assert await question(mail("see below", subject="Fwd: Your order")) == "see below"
    addressed = mail("And for kids?", subject="more returns")  # to the conversation's address
    assert await question(addressed, hint="conv_01abc") == "And for kids?"


@pytest.mark.parametrize(
    ("subject", "body", "text"),
    [
        (
            "Re: can I change the address?",
            "see subject",
            "can I change the address?\n\nsee subject",
        ),
        ("Re: Your order #1234 has shipped", "see below", "see below"),  # the thread's
        ("Re: Hello", "see below", "see below"),  # a greeting
        ("Re: the address", "Can I change THE address?", "Can I change THE address?"),  # said
        ("Fwd: Invoice 77 is wrong", "see below", "see below"),  # the forwarded mail's
        # the thread's, tagged by a mail gateway or under a reply prefix of a client we do not
        # list (Lotus Notes, Italian Outlook, Chinese clients): it led the body as a question
        ("RE: [EXTERNAL] Your order #1234 has shipped", "see below", "see below"),
        ("[EXT] Re: Your order #1234 has shipped", "see below", "see below"),
        ("Antwort: Your order #1234 has shipped", "see below", "see below"),
        ("R: Your order #1234 has shipped", "see below", "see below"),
        ("回复：Your order #1234 has shipped", "see below", "see below"),
        # a new question under a label still leads, without a gateway's tags (they led it)
        (
            "Re: [EXTERNAL] Question: can I change the address?",
            "see subject",
            "Question: can I change the address?\n\nsee subject",
        ),
        (
            "[SPAM?] RE: (Extern) Where is my refund?",
            "see subject",
            "Where is my refund?\n\nsee subject",
        ),
        (
            "Re: [EXTERNAL] [Order 1234] wrong size",  # a tag with a digit may be theirs
            "see subject",
            "[Order 1234] wrong size\n\nsee subject",
        ),
        ("Re: [EXTERNAL] Hello", "see below", "see below"),  # the tag made a greeting ask
    ],
)
async def test_a_replys_changed_subject_leads_the_question(
    subject: str, body: str, text: str
) -> None:
    """Read with its thread's subjects (the SMTP server looks them up, test_flow.py)."""
    reply = mail(body, subject=subject, in_reply_to="<a1@acme.example>")
    thread = ("Re: Your order #1234 has shipped", "Your order #1234 has shipped")
    assert await question(reply, thread=thread) == text
    assert await question(reply) == body  # a thread not ours: its subject is unknown


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Re: is this damage covered?", "is this damage covered?"),
        ("Re: (Extern) is this damage covered?", "is this damage covered?"),
        (
            "Re: Your order #1234 has shipped",
            "(The customer sent attachments without any text: a.png.)",
        ),
    ],
)
async def test_a_replys_changed_subject_leads_over_files_alone(subject: str, text: str) -> None:
    """A photo under a subject of its own was answered as files alone, the subject dropped."""
    reply = mail("", subject=subject, in_reply_to="<a1@acme.example>")
    reply.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="a.png")
    assert await question(reply, thread=("Your order #1234 has shipped",)) == text


@pytest.mark.parametrize(
    ("subject", "thread", "text", "held"),
    [
        ("Re: Your order #1234 has shipped", THREAD, EMPTY_REPLY, True),
        ("RE: [EXTERNAL] Your order #1234 has shipped", THREAD, EMPTY_REPLY, True),
        ("Re: Hello", THREAD, EMPTY_REPLY, True),  # a greeting says nothing new either
        # a subject of its own is the question; a thread not ours: its subject, unknown
        ("Re: can I change the address?", THREAD, "can I change the address?", False),
        ("Re: Your order #1234 has shipped", (), "Your order #1234 has shipped", False),
        # without a mail gateway's tags, as a changed subject leads (they were kept); a tag with
        # a digit may be the customer's and is kept there too
        ("Re: [EXTERNAL] Returns", (), "Returns", False),
        ("RE: (Extern) [SPAM?] Re: Returns", (), "Returns", False),
        ("Re: [Ticket #123] Returns", (), "[Ticket #123] Returns", False),
    ],
)
async def test_an_empty_reply_is_its_subject_without_prefixes_or_stored_unanswered(
    subject: str, thread: tuple[str, ...], text: str, held: bool
) -> None:
    """An empty "Re: <the thread's subject>" was answered as that whole subject, "Re:" too."""
    reply = mail("", subject=subject, in_reply_to="<a1@acme.example>")
    [inbound] = await parsed(reply, thread=thread)
    assert (inbound.text, inbound.metadata.get("held", False)) == (text, held)
    unanswered = inbound.metadata["email"].get("unanswered")
    assert unanswered == ("empty reply" if held else None)
    assert reads_thread(ReceivedMail(parse_mail(reply.as_bytes()), "support@acme.example"))


@pytest.mark.parametrize(
    ("subject", "threading", "thread"),
    [
        ("Fwd: Your order 1234 has shipped", {}, ()),
        ("WG: Your order 1234 has shipped", {"in_reply_to": "<a1@acme.example>"}, THREAD),
        ("FW: Re: Your order 1234 has shipped", {"references": ["<a1@acme.example>"]}, ()),
    ],
)
async def test_an_empty_forward_is_stored_unanswered_not_answered_as_its_subject(
    subject: str, threading: dict[str, Any], thread: tuple[str, ...]
) -> None:
    """Its subject, the forwarded mail's, was answered as if it were the customer's question."""
    [inbound] = await parsed(mail("", subject=subject, **threading), thread=thread)
    assert (inbound.text, inbound.metadata.get("held")) == (EMPTY_FORWARD, True)
    assert inbound.metadata["email"]["unanswered"] == "empty forward"
    # the forwarded mail, with no words of the customer's own, is what is asked about
    forwarded = f"---------- Forwarded message ---------\n{OUTLOOK_FORWARDED}"
    [asked] = await parsed(mail(forwarded, subject=subject, **threading), thread=thread)
    assert asked.text == forwarded and "held" not in asked.metadata
    assert await parsed(mail("", subject="Fwd:")) == []  # nothing at all: ignored


async def test_a_long_subject_is_compared_with_its_thread_as_cut() -> None:
    """Subjects are stored cut at 300 characters, prefixes included: "Re: <the thread's>" kept
    4 characters less of it and was a new question."""
    long = "Why was my order of " + ", ".join(f"item {n}" for n in range(60)) + " charged twice?"
    first = parse_mail(mail("Where is it?", subject=long).as_bytes()).subject
    thread = (first, f"Re: {first}")  # the customer's mail, as stored, and our reply
    assert len(long) > len(first) == MAX_SUBJECT_CHARS
    reply = mail("see below", subject=f"Re: {long}", in_reply_to="<a1@acme.example>")
    assert await question(reply, thread=thread) == "see below"
    assert await question(reply, thread=thread[1:]) == "see below"
    stacked = mail("see below", subject=f"AW: Re: [EXTERNAL] {long}", in_reply_to="<a1@x.y>")
    assert await question(stacked, thread=thread[:1]) == "see below"
    changed = mail("see below", subject=f"Re: {long[:250]} and refunded?", in_reply_to="<a1@x.y>")
    assert await question(changed, thread=thread) == f"{long[:250]} and refunded?\n\nsee below"


def test_8bit_headers_are_read_as_utf8() -> None:
    raw = "From: Jürgen Müller <jurgen@example.de>\r\nSubject: Größe ändern\r\n\r\nHallo".encode()
    parsed = parse_mail(raw)
    assert (parsed.sender_name, parsed.subject, parsed.text) == (
        "Jürgen Müller",
        "Größe ändern",
        "Hallo",
    )


def test_encoded_word_names_are_decoded() -> None:
    raw = b"From: =?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <jose@example.com>\r\n\r\nhola"
    assert parse_mail(raw).sender_name == "José Pérez"


def test_attachments_are_recorded_by_name_type_and_size_only() -> None:
    msg = mail("Photo of the damage attached.")
    msg.add_attachment(
        b"\x89PNG" + b"\0" * 996, maintype="image", subtype="png", filename="zip.png"
    )
    msg.add_attachment(
        b"%PDF-1.4 secret invoice text",
        maintype="application",
        subtype="pdf",
        filename="invoice.pdf",
    )
    parsed = parse_mail(msg.as_bytes())
    assert parsed.text == "Photo of the damage attached."
    assert [a.as_dict() for a in parsed.attachments] == [
        {"name": "zip.png", "type": "image/png", "size": 1000},
        {"name": "invoice.pdf", "type": "application/pdf", "size": 28},
    ]
    assert "secret invoice" not in parsed.text


@pytest.mark.parametrize(
    ("from_header", "problem"),
    [
        ("jane@example.com, eve@example.com", "exactly one address"),
        ("eve@example.com <jane@example.com>", "exactly one address"),
        ("not an address", "exactly one address"),
        ("<>", "exactly one address"),
        ("Jane <jane@@example.com>", "exactly one address"),
        ("Jane <jane@localhost>", "not a valid address"),
    ],
)
def test_an_ambiguous_or_malformed_from_names_no_sender(from_header: str, problem: str) -> None:
    parsed = parse_mail(f"From: {from_header}\r\n\r\nhi".encode())
    assert parsed.sender is None and problem in (parsed.sender_problem or "")


def test_two_from_headers_name_no_sender() -> None:
    parsed = parse_mail(b"From: jane@example.com\r\nFrom: eve@example.com\r\n\r\nhi")
    assert (
        parsed.sender is None and parsed.sender_problem == "2 From headers (expected exactly one)"
    )


def test_a_quoted_display_name_with_an_at_sign_is_only_a_name() -> None:
    parsed = parse_mail(b'From: "eve@example.com" <jane@example.com>\r\n\r\nhi')
    assert (parsed.sender, parsed.sender_name) == ("jane@example.com", "eve@example.com")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied\r\n", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated\r\n", "Auto-Submitted: auto-generated"),
        ("Precedence: bulk\r\n", "Precedence: bulk"),
        ("Precedence: auto_reply\r\n", "Precedence: auto_reply"),
        ("X-Autoreply: yes\r\n", "X-Autoreply"),
        ("List-Id: <news.example.com>\r\n", "mailing list"),
        ("Precedence: auto-reply\r\n", "Precedence: auto-reply"),
        ("X-Autoresponder: yes\r\n", "X-Autoresponder"),
        ("X-Auto-Response-Suppress: All\r\n", "X-Auto-Response-Suppress"),
        ("Return-Path: <>\r\n", "bounce (empty Return-Path)"),
    ],
)
def test_machine_sent_mail_is_recognised(headers: str, reason: str) -> None:
    parsed = parse_mail(("From: jane@example.com\r\n" + headers + "\r\nI am away").encode())
    assert parsed.automatic == reason


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx.example.com", "postmaster@example.com", "no-reply@shop.example"]
)
def test_system_senders_are_machine_sent(sender: str) -> None:
    assert (parse_mail(f"From: {sender}\r\n\r\nUndeliverable".encode()).automatic or "").startswith(
        "system sender"
    )


def test_auto_submitted_no_is_a_person() -> None:
    assert parse_mail(b"From: jane@example.com\r\nAuto-Submitted: no\r\n\r\nhi").automatic is None


def test_a_missing_message_id_is_the_content_hash_and_long_ones_are_hashed() -> None:
    raw = b"From: jane@example.com\r\n\r\nhi"
    assert parse_mail(raw).message_id == parse_mail(raw).message_id
    assert parse_mail(raw).message_id.startswith("sha256:")
    long_id = "x" * 300 + "@example.com"
    parsed = parse_mail(f"From: jane@example.com\r\nMessage-ID: <{long_id}>\r\n\r\nhi".encode())
    assert parsed.message_id == normalize_id(long_id) and len(parsed.message_id) < 80
    assert parsed.header_id == long_id  # replies quote it as written
    follow_up = parse_mail(f"From: jane@example.com\r\nIn-Reply-To: <{long_id}>\r\n\r\nhi".encode())
    assert follow_up.follows == (parsed.message_id,)  # found by the stored key


def test_a_multipart_without_boundary_is_read_as_text() -> None:
    raw = HEAD.encode() + b"Content-Type: multipart/mixed\r\n\r\nhello without a boundary\r\n"
    parsed = parse_mail(raw)
    assert parsed.text == "hello without a boundary"
    assert "NoBoundaryInMultipartDefect" in parsed.defects


def test_bad_base64_is_a_defect_not_a_crash() -> None:
    raw = (
        HEAD.encode()
        + b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b"aGVsbG8gd29ybGQ!!!\r\n"
    )
    parsed = parse_mail(raw)
    assert parsed.text.startswith("hello world") and parsed.defects


def test_ten_thousand_parts_are_cut_at_the_part_limit() -> None:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(10_000))
    raw = (
        HEAD + "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + "--b--\r\n"
    ).encode()
    parsed = parse_mail(raw)
    assert parsed.text.startswith("part 0\n\npart 1\n\n") and "part 9999" not in parsed.text
    assert parsed.text.count("part ") < MAX_PARTS
    assert parsed.defects == (f"more than {MAX_PARTS} parts: the rest were ignored",)


def test_absurd_nesting_is_unreadable_not_a_crash() -> None:
    depth = 3000
    body = "".join(
        f"--b{i - 1}\r\nContent-Type: multipart/mixed; boundary=b{i}\r\n\r\n"
        for i in range(1, depth)
    )
    raw = (HEAD + "Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + body + "x").encode()
    with pytest.raises(MailError, match="unreadable message"):
        parse_mail(raw)


NEW = "Thanks, and for kids?\n\n"
ACME = "Acme Support <support@acme.example>"
REPLIES = {
    "gmail": NEW + f"On Tue, 3 Mar 2026 at 10:00, {ACME} wrote:\n> You can return in 30 days.\n",
    "wrapped": NEW
    + "On Tue, 3 Mar 2026 at 10:00, Acme Support\n<support@acme.example> wrote:\n> x",
    "outlook": NEW
    + "_" * 32
    + f"\nFrom: {ACME}\nSent: Tuesday, March 3, 2026 10:00\nTo: Jane\nSubject: Re: returns\n\nold",
    "original": NEW + "-----Original Message-----\nFrom: Acme\nold",
    "outlook-headers": NEW + f"From: {ACME}\nDate: Tue, 3 Mar 2026\nSubject: Re: returns\nold",
    "french": NEW + f"Le mar. 3 mars 2026 à 10:00, {ACME} a écrit :\n> old",
    "german": NEW + f"Am 03.03.2026 um 10:00 schrieb {ACME}:\n> old",
    "dutch": NEW + f"Op 3 mrt. 2026 om 10:00 schreef {ACME}:\n> old",
    "thunderbird": NEW + "On 3/3/26 10:00, Acme Support wrote:\n> old",  # no address: quoted
    "signature": NEW + "-- \nJane Doe\nCEO, Doe Ltd",
    "mobile": NEW + "Sent from my iPhone",
}


@pytest.mark.parametrize("style", sorted(REPLIES))
def test_quoted_history_and_signatures_are_stripped(style: str) -> None:
    assert strip_reply(REPLIES[style]) == "Thanks, and for kids?"


def test_interleaved_replies_keep_the_customers_lines() -> None:
    text = "> Which size?\nM please\n> Which colour?\nGreen\n"
    assert strip_reply(text) == "M please\nGreen"


def test_a_from_line_in_the_customers_own_words_is_kept() -> None:
    text = "From: my experience the boots run small.\nShould I order a size up?"
    assert strip_reply(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Please quote shipping:\nFrom: Berlin, Germany\nTo: Toronto, Canada\nWeight: 5 kg\n"
        "How much is it?",
        "On the order form I wrote:\nsize M, green\nCan I exchange it?",
    ],
)
def test_the_customers_own_from_to_lines_and_wrote_are_kept(text: str) -> None:
    assert strip_reply(text) == text


def test_a_forwarded_message_is_kept() -> None:
    text = (
        "Can you check this shipping notice?\n\n---------- Forwarded message ---------\n"
        "From: Carrier <notice@carrier.example>\nDate: Tue, 3 Mar 2026\n\n"
        "Your parcel 1Z999 is delayed."
    )
    assert strip_reply(text) == text


OUTLOOK_FORWARDED = (
    "From: Acme Shop <orders@acme.example>\nSent: Friday, December 4, 2026 9:12 AM\n"
    "To: Jane <jane@example.com>\nSubject: Your order 1234 has shipped\n\n"
    "Your order 1234 ships to 12 Wrong Street, Springfield."
)


@pytest.mark.parametrize(
    "body",
    [
        "Is this really my order? The address is wrong.\n\n" + "_" * 32 + "\n" + OUTLOOK_FORWARDED,
        "-----Original Message-----\n" + OUTLOOK_FORWARDED,  # no words of the customer's own
    ],
)
def test_an_outlook_forward_keeps_what_was_forwarded(body: str) -> None:
    """Outlook forwards under its reply separator: the forwarded mail was cut away."""
    forward = mail(body, subject="FW: Your order 1234 has shipped")
    assert parse_mail(forward.as_bytes()).text == body
    reply = mail(body, subject="RE: Your order 1234 has shipped")  # a reply is still cut
    assert "Wrong Street" not in parse_mail(reply.as_bytes()).text


def test_an_outlook_html_forward_keeps_what_was_forwarded() -> None:
    forward = mail("", subject="Fwd: Your order 1234 has shipped")
    forward.add_alternative(
        "<div>Is this my order?</div><div id='appendonsend'></div><hr>"
        "<div id='divRplyFwdMsg'><b>From:</b> Acme Shop <b>Sent:</b> Friday</div>"
        "<div>Your order 1234 ships to 12 Wrong Street.</div>",
        subtype="html",
    )
    text = parse_mail(forward.as_bytes()).text
    assert text.startswith("Is this my order?") and text.endswith("12 Wrong Street.")


def test_outlooks_html_reply_loses_everything_after_its_reply_header() -> None:
    html = (
        "<div>Is the XL size back in stock?</div><div id='appendonsend'></div><hr>"
        "<div id='divRplyFwdMsg'><b>From:</b> Acme <b>Sent:</b> Tuesday</div>"
        "<div>Hi Jane Doe,</div><div>You asked: OLD QUOTED TEXT</div>"
    )
    assert html_to_text(html) == "Is the XL size back in stock?"
    wrapped = (  # the marker inside a wrapper, the quote after the wrapper
        "<div><p>Any news?</p><div><div id='divRplyFwdMsg'>From: Acme</div></div>"
        "<p>OLD QUOTED TEXT</p></div><p>more old text</p>"
    )
    assert html_to_text(wrapped) == "Any news?"


def test_an_empty_plain_alternative_gives_way_to_the_html() -> None:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "jane@example.com", "empty plain"
    msg.set_content(" \n")
    msg.add_alternative("<p>Where is order 1234?</p>", subtype="html")
    assert parse_mail(msg.as_bytes()).text == "Where is order 1234?"


def test_html_quote_containers_are_dropped() -> None:
    html = (
        "<div>New question</div><div class='gmail_quote'>old</div>"
        "<blockquote type='cite'>older</blockquote><div id='appendonsend'></div>"
    )
    assert html_to_text(html) == "New question"


def test_an_attached_mail_records_its_size() -> None:
    inner = mail("The original order confirmation.", subject="Order 1001")
    outer = mail("See the mail below.")
    outer.add_attachment(inner)  # message/rfc822: its payload is a message, not bytes
    parsed = parse_mail(outer.as_bytes())
    assert parsed.text.startswith("See the mail below.\n\n---------- Forwarded message")
    [attached] = parsed.attachments
    assert attached.type == "message/rfc822" and attached.size > 100  # was 0


SHIPPED = "Your order 1234 ships to 12 Wrong Street, Springfield."


def shop_mail(subject: str = "Your order 1234 has shipped", html: bool = False) -> EmailMessage:
    """The shop's mail a customer forwards: plain text, or HTML alone (``html``)."""
    msg = mail(
        "" if html else f"{SHIPPED}\n\nOn Mon, 30 Nov 2026, Jane <jane@example.com> wrote:\n> old",
        sender="Acme Shop <orders@acme.example>",
        to="jane@example.com",
        subject=subject,
    )
    del msg["Date"]
    msg["Date"] = "Fri, 04 Dec 2026 09:12:00 +0000"
    if html:
        msg.set_content(
            f"<div>{SHIPPED}</div><blockquote type='cite'>old</blockquote>", subtype="html"
        )
    return msg


def as_forwarded(body: str, subject: str = "Your order 1234 has shipped") -> str:
    """The attached mail's text as an inline forward has it."""
    return (
        "---------- Forwarded message ---------\n"
        "From: Acme Shop <orders@acme.example>\nDate: Fri, 04 Dec 2026 09:12:00 +0000\n"
        f"Subject: {subject}\nTo: jane@example.com\n\n{body}"
    )


@pytest.mark.parametrize("disposition", ["attachment", "inline"])
@pytest.mark.parametrize(
    ("html", "body"),
    [  # its own quoted history kept whole, as an inline forward's is
        (False, f"{SHIPPED}\n\nOn Mon, 30 Nov 2026, Jane <jane@example.com> wrote:\n> old"),
        (True, f"{SHIPPED}\nold"),
    ],
)
def test_an_attached_mail_is_read_as_forwarded_text(
    disposition: str, html: bool, body: str
) -> None:
    """ "Forward as attachment" (Outlook, Thunderbird, Apple Mail): its mail was never read."""
    outer = mail("Is this really my order? The address is wrong.", subject="FW: order 1234")
    outer.add_attachment(shop_mail(html=html), disposition=disposition)
    parsed = parse_mail(outer.as_bytes())
    assert parsed.text == f"Is this really my order? The address is wrong.\n\n{as_forwarded(body)}"
    [attached] = parsed.attachments  # still listed, named by its subject
    assert (attached.name, attached.type) == ("Your order 1234 has shipped", "message/rfc822")


async def test_a_forward_of_an_attached_mail_alone_is_answered_from_it() -> None:
    """It was answered as files alone ("The customer sent attachments without any text")."""
    outer = mail("", subject="Fwd: Your order 1234 has shipped")
    outer.add_attachment(shop_mail())
    [inbound] = await parsed(outer)
    assert inbound.text == as_forwarded(
        f"{SHIPPED}\n\nOn Mon, 30 Nov 2026, Jane <jane@example.com> wrote:\n> old"
    )
    assert "held" not in inbound.metadata
    assert inbound.metadata["email"]["attachments"][0]["name"] == "Your order 1234 has shipped"


def test_an_attached_mails_files_are_listed_with_the_outer_mails() -> None:
    inner = shop_mail()
    inner.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="bill.pdf")
    outer = mail("see below", subject="Fwd: order")
    outer.add_attachment(inner, filename="order.eml")
    parsed = parse_mail(outer.as_bytes())
    assert [(a.name, a.type) for a in parsed.attachments] == [
        ("order.eml", "message/rfc822"),
        ("bill.pdf", "application/pdf"),
    ]
    assert "%PDF" not in parsed.text and SHIPPED in parsed.text


def test_a_mail_attached_in_an_attached_mail_is_read_one_level_deep_only() -> None:
    third = shop_mail("Third")
    second = shop_mail("Second")
    second.add_attachment(third)
    first = shop_mail("First")
    first.add_attachment(second)
    outer = mail("see below", subject="Fwd: First")
    outer.add_attachment(first)
    parsed = parse_mail(outer.as_bytes())
    assert "Subject: First" in parsed.text and "Subject: Second" in parsed.text
    assert "Subject: Third" not in parsed.text and parsed.text.count(SHIPPED) == 2
    assert [a.name for a in parsed.attachments] == ["First", "Second", "Third"]  # all listed


@pytest.mark.parametrize(
    ("headers", "attached"),
    [
        ("", ""),  # empty
        ("", "\x00\x01 no headers at all\r\n"),
        # base64, which RFC 2046 forbids for message/rfc822: no headers are read
        ("Content-Transfer-Encoding: base64\r\n", "RnJvbTogeEB5LnoNCg==\r\n"),
    ],
)
def test_a_broken_attached_mail_stays_an_attachment(headers: str, attached: str) -> None:
    raw = (
        HEAD + "Subject: Fwd: order\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        f"--b\r\nContent-Type: message/rfc822\r\n{headers}\r\n{attached}--b--\r\n"
    )
    parsed = parse_mail(raw.encode())
    assert parsed.text == "see below"
    assert [(a.name, a.type) for a in parsed.attachments] == [("forwarded.eml", "message/rfc822")]
    assert "an attached mail without headers: kept as an attachment only" in parsed.defects


def test_an_attached_mails_parts_count_against_the_part_limit() -> None:
    parts = "".join(f"--i\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(600))
    inner = (
        f"From: x@y.example\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n{parts}--i--\r\n"
    )
    raw = (
        HEAD + "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        f"--b\r\nContent-Type: message/rfc822\r\n\r\n{inner}--b--\r\n"
    ).encode()
    parsed = parse_mail(raw)
    assert parsed.text.startswith("see below\n\n---------- Forwarded message")
    assert "part 0\n" in parsed.text and f"part {MAX_PARTS}" not in parsed.text
    assert f"more than {MAX_PARTS} parts: the rest were ignored" in parsed.defects


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (  # interleaved: the customer answers between the quoted lines
            f"On Sat, 5 Dec 2026 at 09:20, {ACME} wrote:\n> Hi Jane, anything else?\n\n"
            "Do you ship to Canada, and how much does it cost?\n> Juniper\n",
            "Do you ship to Canada, and how much does it cost?",
        ),
        (  # bottom-posted, with a signature after
            f"On Sat, 5 Dec 2026 at 09:20, {ACME} wrote:\n> Returns take 30 days.\n\n"
            "And for sale items?\n-- \nJane",
            "And for sale items?",
        ),
        (  # the customer's own sentence is no attribution
            "On December 3rd I wrote to you about a refund:\nit is still not in my account.",
            "On December 3rd I wrote to you about a refund:\nit is still not in my account.",
        ),
        (  # a year, a time, a colon: still the customer's own sentences, not attributions
            "Hello,\nOn 3 May 2026 I wrote to you about my refund:\nthe order 1234 never arrived.",
            "Hello,\nOn 3 May 2026 I wrote to you about my refund:\nthe order 1234 never arrived.",
        ),
        (
            "Hi,\nOn Monday at 10:30 I wrote to your colleague:\nmy parcel is damaged.",
            "Hi,\nOn Monday at 10:30 I wrote to your colleague:\nmy parcel is damaged.",
        ),
        (  # "wrote:" at the end, but no address and no quoted lines after it
            "On 3 May 2026 I wrote:\nwhere is my refund?",
            "On 3 May 2026 I wrote:\nwhere is my refund?",
        ),
        (
            "Am 3. Mai 2026 schrieb ich Ihnen wegen der Erstattung:\nsie fehlt noch.",
            "Am 3. Mai 2026 schrieb ich Ihnen wegen der Erstattung:\nsie fehlt noch.",
        ),
        (  # Spanish and Italian Outlook headers
            "¿Hay talla M?\n\nDe: Acme\nEnviado el: martes, 3 de marzo de 2026 10:00\nold",
            "¿Hay talla M?",
        ),
        (
            "C'è la taglia M?\n\nDa: Acme\nInviato: martedì 3 marzo 2026 10:00\nold",
            "C'è la taglia M?",
        ),
        (  # Apple Mail's forward is kept like Gmail's
            "My order never arrived, see below.\n\nBegin forwarded message:\n\n"
            "From: Acme <support@acme.example>\nSubject: Order ACM-482193\n\nShipped today.",
            "My order never arrived, see below.\n\nBegin forwarded message:\n\n"
            "From: Acme <support@acme.example>\nSubject: Order ACM-482193\n\nShipped today.",
        ),
    ],
)
def test_what_the_customer_wrote_survives_each_reply_style(text: str, kept: str) -> None:
    assert strip_reply(text) == kept


def test_text_on_both_sides_of_an_inline_picture_is_one_body() -> None:
    parts = (
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi, my tent arrived like this:\r\n"
        "--b\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "The pole is snapped. Order ACM-482193.\r\n--b--\r\n"
    )
    raw = HEAD + "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts
    parsed = parse_mail(raw.encode())
    assert parsed.text == "Hi, my tent arrived like this:\n\nThe pole is snapped. Order ACM-482193."
    assert [a.type for a in parsed.attachments] == ["image/png"]


def test_raw_latin_1_headers_read_as_written() -> None:
    raw = (
        "From: Jos\xe9 P\xe9rez <jose@example.com>\r\nTo: support@acme.example\r\n"
        "Subject: Devoluci\xf3n\r\nMessage-ID: <l1@example.com>\r\n\r\nhola"
    ).encode("latin-1")
    parsed = parse_mail(raw)
    assert (parsed.sender_name, parsed.subject) == ("José Pérez", "Devolución")
