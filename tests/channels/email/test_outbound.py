"""Rendering replies as mail and sending them through a real SMTP relay (aiosmtpd)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from aiosmtplib.email import flatten_message

from omnivox.channels.config import EmailSettings
from omnivox.channels.mail.channel import DISABLED, EmailChannel, ReceivedMail
from omnivox.channels.mail.parse import parse_mail
from omnivox.types import Citation, CustomerRef, InboundMessage, OutboundMessage, Reply
from tests.channels.email.support import RelaySink, raw_headers, start_sink
from tests.conftest import free_port

REPLY = Reply(
    "You can return unworn items within **30 days**. See [the policy](https://acme.example/returns).",
    (Citation("returns.md", "Returns policy", "Unworn items...", "https://acme.example/returns"),),
)


def channel(relay: str = "", **settings: Any) -> EmailChannel:
    config = EmailSettings(addresses=["support@acme.example"], relay=relay, **settings)
    return EmailChannel("acme", config, "Acme Outfitters", "Juniper")


def inbound() -> InboundMessage:
    meta = {
        "message_id": "q2@example.com",
        "subject": "Re: Question about returns",
        "references": ["q1@example.com", "a1@acme.example"],
        "mailbox": "support@acme.example",
    }
    return InboundMessage(
        "acme",
        "email",
        CustomerRef("jane@example.com", "Jane Doe"),
        "and for kids?",
        provider_message_id="q2@example.com",
        metadata={"email": meta},
    )


def ready(message: OutboundMessage) -> OutboundMessage:
    payload = {**message.payload, "message_id": "msg_01abc", "conversation_id": "conv_01xyz"}
    return OutboundMessage(message.channel, message.recipient, message.text, payload)


def test_a_reply_is_a_threaded_multipart_mail_with_greeting_sources_and_signature() -> None:
    [out] = channel().render_in_thread(REPLY, "jane@example.com", inbound())
    mail = channel().build(ready(out))
    assert mail["From"] == "Acme Outfitters Support <support@acme.example>"
    assert mail["Reply-To"] == "Acme Outfitters Support <support+conv_01xyz@acme.example>"
    assert mail["To"] == "jane@example.com"
    assert mail["Subject"] == "Re: Question about returns"  # no "Re: Re:"
    assert mail["Message-ID"] == "<msg_01abc@acme.example>"
    assert mail["In-Reply-To"] == "<q2@example.com>"
    assert mail["References"] == "<q1@example.com> <a1@acme.example> <q2@example.com>"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Loop"] == "support@acme.example"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    assert text.startswith("Hi Jane Doe,\n\nYou can return unworn items within 30 days.")
    assert "[1] Returns policy <https://acme.example/returns>" in text
    assert text.rstrip().endswith("Juniper\nAcme Outfitters")
    html = mail.get_body(("html",)).get_content()
    assert "<strong>30 days</strong>" in html
    assert (
        '<a href="https://acme.example/returns" rel="noopener noreferrer">Returns policy</a>'
        in html
    )


def threaded(**email: Any) -> InboundMessage:
    """The usual customer mail with other threading headers."""
    parent = inbound()
    return InboundMessage(
        "acme",
        "email",
        parent.sender,
        parent.text,
        provider_message_id=parent.provider_message_id,
        metadata={"email": {**parent.metadata["email"], **email}},
    )


def test_a_parent_with_only_in_reply_to_starts_the_references() -> None:
    """RFC 5322 3.6.4: no References in the parent, so its In-Reply-To, then its id."""
    parent = threaded(references=[], in_reply_to="a1@acme.example")
    [out] = channel().render_in_thread(REPLY, "jane@example.com", parent)
    assert channel().build(ready(out))["References"] == "<a1@acme.example> <q2@example.com>"


def test_a_long_thread_keeps_its_root_and_newest_references() -> None:
    parent = threaded(references=[f"r{n}@example.com" for n in range(25)])
    [out] = channel().render_in_thread(REPLY, "jane@example.com", parent)
    kept = str(channel().build(ready(out))["References"]).split()
    assert len(kept) == 20 and kept[0] == "<r0@example.com>"  # the thread's root
    assert kept[-2:] == ["<r24@example.com>", "<q2@example.com>"]


EXCHANGE_ID = "PH0PR11MB5880E2C2A7C9AA5B1F5E8A33DA572@PH0PR11MB5880.namprd11.prod.outlook.com"


def test_long_ids_go_out_byte_identical_never_encoded() -> None:
    """Exchange Online's 78-character ids were RFC 2047-encoded: the reply left the thread."""
    refs = [f"{'r' * 70}{n}@example.com" for n in range(3)]
    parent = threaded(message_id=EXCHANGE_ID, references=refs)
    [out] = channel().render_in_thread(REPLY, "jane@example.com", parent)
    raw = flatten_message(channel().build(ready(out)))  # what aiosmtplib sends
    headers = raw_headers(raw)
    assert f"In-Reply-To: <{EXCHANGE_ID}>" in headers
    assert not any("=?" in line for line in headers)
    rest = [f" <{r}>" for r in [*refs[1:], EXCHANGE_ID]]  # each on a line of its own
    assert folded(headers, "References") == [f"References: <{refs[0]}>", *rest]
    assert all(len(line) <= 998 for line in headers)


def test_short_ids_share_a_folded_line() -> None:
    parent = threaded(references=[f"r{n}@example.com" for n in range(12)])
    [out] = channel().render_in_thread(REPLY, "jane@example.com", parent)
    headers = raw_headers(flatten_message(channel().build(ready(out))))
    lines = folded(headers, "References")
    assert lines[0].startswith("References: <r0@example.com> <r1@example.com> <r2@")
    assert len(lines) > 1 and all(len(line) <= 78 for line in lines)
    assert " ".join(lines).split()[1:] == [f"<r{n}@example.com>" for n in range(12)] + [
        "<q2@example.com>"
    ]


def folded(headers: list[str], name: str) -> list[str]:
    """A header's lines: its first and the continuation lines after it."""
    start = next(i for i, line in enumerate(headers) if line.startswith(f"{name}:"))
    end = next(
        (i for i in range(start + 1, len(headers)) if not headers[i].startswith(" ")),
        len(headers),
    )
    return headers[start:end]


def test_model_text_cannot_become_markup() -> None:
    evil = Reply(
        "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3))"
    )
    [out] = channel().render(evil, "jane@example.com")
    html = out.payload["channel_data"]["html"]
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html


def test_a_new_mail_starts_a_subject_of_its_own() -> None:
    [out] = channel().render(REPLY, "jane@example.com")
    mail = channel().build(ready(out))
    assert mail["Subject"] == "Your question" and mail["In-Reply-To"] is None
    assert mail.get_body(("plain",)).get_content().startswith("Hello,")


@pytest.fixture
def sink() -> Iterator[RelaySink]:
    relay, ctl = start_sink()
    yield relay
    ctl.stop()


async def test_send_hands_the_mail_to_the_relay(sink: RelaySink) -> None:
    email = channel(f"127.0.0.1:{sink.port}", tls="none")
    [out] = email.render_in_thread(REPLY, "jane@example.com", inbound())
    receipt = await email.send(ready(out))
    assert receipt.status == "sent" and receipt.provider_message_id == "msg_01abc@acme.example"
    assert sink.envelopes == [("support@acme.example", ["jane@example.com"])]
    assert sink.received[0]["Message-ID"] == "<msg_01abc@acme.example>"


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [("451 4.3.0 Try again later", True), ("554 5.7.1 Message rejected", False)],
)
async def test_relay_refusals_are_final_for_5xx_and_retried_for_4xx(
    sink: RelaySink, answer: str, retryable: bool
) -> None:
    sink.refusals.append(answer)
    [out] = channel(f"127.0.0.1:{sink.port}", tls="none").render(REPLY, "jane@example.com")
    receipt = await channel(f"127.0.0.1:{sink.port}", tls="none").send(ready(out))
    assert receipt.status == "failed" and receipt.retryable is retryable
    assert answer.split()[0] in (receipt.error or "")


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [("450 4.2.1 Mailbox busy, try later", True), ("550 5.1.1 No such user", False)],
)
async def test_a_recipient_refused_for_now_is_retried_for_good_is_not(
    sink: RelaySink, answer: str, retryable: bool
) -> None:
    sink.rcpt_refusals.append(answer)
    email = channel(f"127.0.0.1:{sink.port}", tls="none")
    [out] = email.render(REPLY, "jane@example.com")
    receipt = await email.send(ready(out))
    assert receipt.status == "failed" and receipt.retryable is retryable
    assert answer.split()[0] in (receipt.error or "")


async def test_a_relay_silent_after_data_is_not_retried(sink: RelaySink) -> None:
    """The relay has the mail but its 250 is late: a retry would send the customer a copy."""
    sink.stalls["DATA"] = 3
    email = channel(f"127.0.0.1:{sink.port}", tls="none", timeout_s=1)
    [out] = email.render(REPLY, "jane@example.com")
    receipt = await email.send(ready(out))
    assert receipt.status == "failed" and not receipt.retryable
    assert "not retried" in (receipt.error or "") and len(sink.received) == 1


async def test_a_relay_silent_before_data_is_retried(sink: RelaySink) -> None:
    sink.stalls["RCPT"] = 3  # nothing of the mail went out yet
    email = channel(f"127.0.0.1:{sink.port}", tls="none", timeout_s=1)
    [out] = email.render(REPLY, "jane@example.com")
    receipt = await email.send(ready(out))
    assert receipt.status == "failed" and receipt.retryable and sink.received == []


async def test_an_unreachable_relay_is_retried_later() -> None:
    email = channel(f"127.0.0.1:{free_port()}", tls="none", timeout_s=2)
    [out] = email.render(REPLY, "jane@example.com")
    receipt = await email.send(ready(out))
    assert receipt.status == "failed" and receipt.retryable


async def test_without_a_relay_nothing_is_sent() -> None:
    [out] = channel().render(REPLY, "jane@example.com")
    receipt = await channel().send(ready(out))
    assert (receipt.status, receipt.error, receipt.retryable) == ("failed", DISABLED, False)


class Accounts:
    """aiosmtpd authenticator: one account."""

    def __call__(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"omnivox",
            b"pa55",
        )
        return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize(("password", "status"), [("pa55", "sent"), ("wrong", "failed")])
async def test_relay_login(password: str, status: str) -> None:
    relay, ctl = start_sink(authenticator=Accounts(), auth_require_tls=False, auth_required=True)
    try:
        email = channel(
            f"127.0.0.1:{relay.port}", tls="none", username="omnivox", password=password
        )
        [out] = email.render(REPLY, "jane@example.com")
        receipt = await email.send(ready(out))
        assert receipt.status == status
        assert len(relay.received) == (1 if status == "sent" else 0)
        if status == "failed":
            assert "535" in (receipt.error or "") and not receipt.retryable
    finally:
        ctl.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "relay.pem", folder / "relay.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("trusted", [True, False])
async def test_starttls_to_a_relay_signed_by_a_private_ca(
    certificate: tuple[Path, Path], trusted: bool
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    relay, ctl = start_sink(tls_context=context, require_starttls=True)
    try:
        ca = str(certificate[0]) if trusted else ""
        email = channel(f"127.0.0.1:{relay.port}", tls="starttls", ca_file=ca)
        [out] = email.render(REPLY, "jane@example.com")
        receipt = await asyncio.wait_for(email.send(ready(out)), 30)
        assert receipt.status == ("sent" if trusted else "failed")
        assert len(relay.received) == (1 if trusted else 0)
    finally:
        ctl.stop()


async def test_a_mail_without_message_id_gets_a_reply_without_threading_headers() -> None:
    raw = b"From: Jane <jane@example.com>\r\nSubject: Returns\r\n\r\nHow long do I have?"
    email = channel()
    [message] = await email.parse(ReceivedMail(parse_mail(raw), "support@acme.example"))
    assert message.provider_message_id and message.provider_message_id.startswith("sha256:")
    [out] = email.render_in_thread(REPLY, "jane@example.com", message)
    mail = email.build(ready(out))
    assert mail["Subject"] == "Re: Returns"
    assert mail["In-Reply-To"] is None and mail["References"] is None


@pytest.mark.parametrize(
    ("subject", "answered"),
    [
        ("Re: Re: Returns", "Re: Returns"),  # was kept as it came
        ("AW: Re[2]: Returns", "Re: Returns"),
        ("Returns", "Re: Returns"),
        ("Re:", "Re: Your question"),
    ],
)
def test_a_replys_subject_has_one_re_however_many_the_client_stacked(
    subject: str, answered: str
) -> None:
    message = inbound()
    message.metadata["email"]["subject"] = subject
    [out] = channel().render_in_thread(REPLY, "jane@example.com", message)
    assert channel().build(ready(out))["Subject"] == answered
