"""The inbound SMTP server (aiosmtpd on the server's own event loop).

Checks run in SMTP order, each answering with the reply a mail server expects:

- ``RCPT TO`` a mailbox no workspace owns: ``550 5.1.1``. A ``+tag`` subaddress of a support
  mailbox is accepted; a tag naming a conversation (``support+conv_...@``) is a threading hint.
- ``RCPT TO`` another workspace's mailbox than the transaction's first recipient:
  ``452 4.5.3``. One transaction has one answer to ``DATA``, so each workspace gets its own: the
  sending server delivers the refused recipients again in a transaction of their own.
- More than ``server.smtp_max_bytes``: ``552`` (announced by EHLO's ``SIZE``, enforced while
  reading ``DATA``). Unparseable bytes: ``550 5.6.0``.
- Machine-sent mail (bounces with an empty envelope sender, ``Auto-Submitted``, ``Precedence:
  bulk``, mailing lists, mailer-daemon, mail from our own mailboxes): accepted and not answered,
  so two robots never talk to each other. A ``bounces+...@`` or ``no-reply@`` envelope sender
  alone is not a sign: mail services (SendGrid, Mailgun) send people's mail with one (VERP).
- No single well-formed ``From``: ``550 5.1.7``; nothing stored, no customer matched.
- More than ``max_per_sender_per_hour`` from one sender: ``451 4.7.1`` (the sender retries).
- More than ``max_replies_per_sender_per_hour`` answered for one sender: stored, held for an
  agent and not answered (``250``). A robot that shows none of the signs above and answers
  every reply (a helpdesk acknowledging each mail) stops there instead of looping forever. A
  mail held anyway (an empty reply or forward) is answered by no one: it does not count.

Everything else is stored, then ``250``, and answered in the background like a webhook. A mail
whose turn fails before storing it (the database down) gets ``451 4.3.0``: the sender's server
keeps it and tries again, instead of a ``250`` for a mail never stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from omnivox.channels.base import ChannelError
from omnivox.channels.mail.channel import (
    EMPTY_REPLY,
    THREAD_SUBJECTS,
    EmailChannel,
    ReceivedMail,
    reads_thread,
    subject_of,
)
from omnivox.channels.mail.parse import MailError, ParsedMail, daemon_sender, parse_mail
from omnivox.logs import get_logger
from omnivox.ratelimit import MemoryWindows, Window, Windows
from omnivox.scaleout.errors import CoordinationUnavailableError
from omnivox.storage.repositories import StoredMessage
from omnivox.turns import NotStoredYetError, RateLimitedError
from omnivox.types import InboundMessage

log = get_logger(__name__)
# starts answering an admitted message, returns once it is stored; raises if it could not be
Accept = Callable[[InboundMessage, EmailChannel], Awaitable[None]]
# counts a message against the turn limits before SMTP says 250; raises when over
Admit = Callable[[InboundMessage], Awaitable[None]]
# the latest messages (at most n) of the stored thread a message answers, newest first
Earlier = Callable[[InboundMessage, int], Awaitable[list[StoredMessage]]]
ACCEPTED = "250 2.0.0 Message accepted"
TRY_LATER = "451 4.3.0 Temporary problem; try again later"
NOT_ANSWERED = "250 2.0.0 Message accepted (automatic mail: not answered)"


class Mailboxes:
    """Which workspace's channel owns an address, and the conversation a ``+tag`` names."""

    def __init__(self, channels: Mapping[str, EmailChannel]) -> None:
        self._owner = {a: ch for ch in channels.values() for a in ch.addresses}

    def __bool__(self) -> bool:
        return bool(self._owner)

    def match(self, address: str) -> tuple[EmailChannel, str, str | None] | None:
        """(channel, support mailbox, conversation hint) for a recipient, or None."""
        local, _, domain = address.strip().strip("<>").lower().rpartition("@")
        base, _, tag = local.partition("+")
        mailbox = f"{base}@{domain}"
        channel = self._owner.get(mailbox)
        if channel is None:
            return None
        return channel, mailbox, tag if tag.startswith("conv_") else None

    def ours(self, address: str) -> bool:
        """Whether ``address`` is (a subaddress of) one of our own mailboxes."""
        return self.match(address) is not None


class InboundMail:
    """aiosmtpd handler: recipients are checked at RCPT, everything else at DATA."""

    def __init__(
        self,
        mailboxes: Mailboxes,
        accept: Accept,
        windows: Windows | None = None,
        admit: Admit | None = None,
        earlier: Earlier | None = None,
    ) -> None:
        self.mailboxes = mailboxes
        self.accept = accept
        self.admit = admit
        self.earlier = earlier  # a reply's thread, for the subjects it had
        self.windows = windows or MemoryWindows()  # per sender, per hour (shared when scaled out)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept only our mailboxes (and their subaddresses), of one workspace per mail."""
        matched = self.mailboxes.match(address)
        if matched is None:
            log.info("email.refused", reason="unknown_mailbox", rcpt=address)
            return f"550 5.1.1 <{address}>: no such mailbox here"
        first = next(iter(map(self.mailboxes.match, envelope.rcpt_tos)), None)
        if first is not None and first[0].workspace_id != matched[0].workspace_id:
            # accepted, it would be stored for the first workspace only (the mail was lost for
            # this one): a 4xx makes the sender deliver it again in a transaction of its own
            log.info("email.deferred", reason="another_workspace", rcpt=address)
            return f"452 4.5.3 <{address}>: send to this mailbox in a separate transaction"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Parse (off the event loop), check, hand the message over, answer once stored.

        Anything unexpected is ``451``: the sender's server keeps the mail and tries again (a
        ``5xx`` would bounce it), and the reply names nothing of ours (aiosmtpd's own answer to
        an exception is ``500`` with the exception's text).
        """
        try:
            return await self._data(envelope)
        except Exception as exc:
            log.exception("email.failed", error=repr(exc))
            return TRY_LATER

    async def _data(self, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            mail = await asyncio.to_thread(parse_mail, raw)
        except MailError as exc:
            log.warning("email.unreadable", error=str(exc), size=len(raw))
            return f"550 5.6.0 {exc}"
        try:
            return await self.receive(mail, envelope.mail_from or "", list(envelope.rcpt_tos))
        except CoordinationUnavailableError:  # Redis, with several servers: try again later
            log.warning("email.coordination_unavailable", message_id=mail.message_id)
            return TRY_LATER
        except NotStoredYetError:  # waiting behind the previous turn: its turn goes on
            log.info("email.not_stored_yet", message_id=mail.message_id)
            return TRY_LATER

    async def receive(self, mail: ParsedMail, mail_from: str, rcpt_tos: list[str]) -> str:
        """Decide about one parsed mail; returns the SMTP reply."""
        if mail.defects:
            log.warning("email.defects", message_id=mail.message_id, defects=list(mail.defects))
        matched = next((m for m in map(self.mailboxes.match, rcpt_tos) if m), None)
        if matched is None:  # RCPT refused them all; a client ignoring that gets this
            return "554 5.5.1 No valid recipients"
        channel, mailbox, hint = matched
        why = _machine_sent(mail, mail_from, self.mailboxes)
        if why is not None:
            log.info("email.ignored", reason=why, message_id=mail.message_id)
            return NOT_ANSWERED
        request = ReceivedMail(mail, mailbox, hint)
        try:
            await channel.verify(request)
        except ChannelError as exc:
            log.info("email.refused", reason=exc.code, detail=exc.message)
            return f"550 5.1.7 {exc.message}"
        hourly = channel.settings.max_per_sender_per_hour
        window = Window(channel.workspace_id, f"mail:{mail.sender}", hourly, 3600.0)
        # named by its Message-ID: the sender's retry after a 451 takes no second slot
        if await self.windows.admit([window], mail.message_id) is not None:
            domain = (mail.sender or "").rpartition("@")[2]  # an address is personal data
            log.warning("email.rate_limited", workspace=channel.workspace_id, domain=domain)
            return "451 4.7.1 Too many messages from this sender; try again later"
        messages = await self._parse(channel, request)
        if not messages:
            log.info("email.ignored", reason="empty", message_id=mail.message_id)
        try:  # a mail the turn limits would drop is refused for now: the sender's server retries
            for message in messages:
                if self.admit is not None:
                    await self.admit(message)
        except RateLimitedError as exc:
            log.warning("email.rate_limited", workspace=channel.workspace_id, scope=exc.scope)
            return f"451 4.7.1 Too many messages {exc.scope}; try again later"
        replies = channel.settings.max_replies_per_sender_per_hour
        window = Window(channel.workspace_id, f"mail-replies:{mail.sender}", replies, 3600.0)
        # a held message (an empty reply or forward) sends none: it takes no reply and keeps
        # its own label
        answered = any(not m.metadata.get("held") for m in messages)
        if answered and await self.windows.admit([window], mail.message_id) is not None:
            domain = (mail.sender or "").rpartition("@")[2]
            log.warning("email.reply_limit", workspace=channel.workspace_id, domain=domain)
            messages = [m if m.metadata.get("held") else _held(m) for m in messages]
        try:
            for message in messages:
                await self.accept(message, channel)
        except Exception as exc:  # not stored: the sender's server keeps the mail and retries
            log.error("email.not_stored", message_id=mail.message_id, error=repr(exc))
            return TRY_LATER
        return ACCEPTED

    async def _parse(self, channel: EmailChannel, request: ReceivedMail) -> list[InboundMessage]:
        """The mail's message; a reply whose subject may ask anew is read with its thread's.

        A reply's subject leads its text only when it is none of the subjects of the stored
        thread it answers: the customer changed "Re: Your order #1234 has shipped" into "Re:
        can I change the delivery address?" over "see subject". An empty reply under one of
        them says nothing new: it is stored for an agent and not answered. So is one with
        nothing at all, not even a subject after its "Re:": none until its thread is found.
        """
        messages = await channel.parse(request)
        if self.earlier is None or not reads_thread(request):
            return messages
        lookup = messages[0] if messages else channel.inbound(request, EMPTY_REPLY)
        earlier = await self.earlier(lookup, THREAD_SUBJECTS)
        thread = tuple(s for s in (subject_of(m.metadata) for m in earlier) if s)
        return await channel.parse(replace(request, thread=thread)) if thread else messages


def _held(message: InboundMessage) -> InboundMessage:
    """The message stored for an agent and not answered (the pipeline's hold step stops it)."""
    email = {**message.metadata.get("email", {}), "unanswered": "reply limit"}
    return replace(message, metadata={**message.metadata, "email": email, "held": True})


def _machine_sent(mail: ParsedMail, mail_from: str, mailboxes: Mailboxes) -> str | None:
    if mail_from.strip("<> ") == "":
        return "bounce (empty envelope sender)"
    if daemon_sender(mail_from.strip("<> ")):  # not bounces+...@: mail services' VERP
        return f"system envelope sender {mail_from.strip('<> ')}"
    if mail.automatic:
        return mail.automatic
    if mail.sender and mailboxes.ours(mail.sender):
        return "sent from our own mailbox"
    for loop in mail.loops:  # an autoresponder copied our X-Loop back (maybe after its own)
        looped = loop.strip("<> ")
        if looped and mailboxes.ours(looped):
            return f"X-Loop: {looped}"
    return None


async def start_smtp(handler: InboundMail, host: str, port: int, max_bytes: int) -> asyncio.Server:
    """Listen on ``host:port`` in the running loop; the caller closes the returned server."""
    loop = asyncio.get_running_loop()

    def protocol() -> Any:
        return SMTP(
            handler,
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            hostname=host,
            ident="Omnivox ESMTP",
        )

    return await loop.create_server(protocol, host, port)
