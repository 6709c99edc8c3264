"""A real SMTP relay sink (aiosmtpd) and helpers that build and send mail with smtplib."""

from __future__ import annotations

import asyncio
import smtplib
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port


@dataclass
class RelaySink:
    """What an SMTP relay received; ``refusals`` are replies to give at DATA before accepting."""

    port: int = 0
    received: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # the bytes of each mail received, as sent
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    rcpt_refusals: list[str] = field(default_factory=list)  # replies to give at RCPT, first
    stalls: dict[str, float] = field(default_factory=dict)  # "RCPT"/"DATA": seconds before replying
    attempts: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(self.stalls.get("RCPT", 0))
        if self.rcpt_refusals:
            return self.rcpt_refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.refusals:
            return self.refusals.pop(0)
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        self.raw.append(envelope.original_content or b"")
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        await asyncio.sleep(self.stalls.get("DATA", 0))  # queued, but the answer comes late
        return "250 2.0.0 Queued"

    def reset(self) -> None:
        self.received.clear()
        self.raw.clear()
        self.envelopes.clear()
        self.refusals.clear()
        self.rcpt_refusals.clear()
        self.stalls.clear()
        self.attempts = 0

    def wait_for(self, n: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.received) < n:
            assert time.monotonic() < deadline, f"expected {n} mails, got {len(self.received)}"
            time.sleep(0.05)
        return self.received


def start_sink(**controller: Any) -> tuple[RelaySink, Controller]:
    """A sink listening on a free local port (the caller stops the controller)."""
    sink = RelaySink(port=free_port())
    ctl = Controller(sink, hostname="127.0.0.1", port=sink.port, **controller)
    ctl.start()
    return sink, ctl


def mail(
    text: str,
    *,
    sender: str = "Jane Doe <jane@example.com>",
    to: str = "support@acme.example",
    subject: str = "Question about returns",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A plain-text mail as a mail client writes it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate()
    msg["Message-ID"] = make_msgid(domain="example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    return msg


def send(port: int, message: EmailMessage | bytes, *, to: str = "support@acme.example") -> None:
    """Deliver with smtplib like any MTA; raises smtplib's errors on a refusal."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        if isinstance(message, bytes):
            client.sendmail("jane@example.com", [to], message)
        else:
            client.send_message(message, to_addrs=[to])


def plain(message: EmailMessage) -> str:
    """The text/plain alternative with the wire's CRLF line ends made plain newlines."""
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).replace("\r\n", "\n")


def raw_headers(raw: bytes) -> list[str]:
    """The header lines of a mail's bytes as they were sent (folded lines unjoined)."""
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")
