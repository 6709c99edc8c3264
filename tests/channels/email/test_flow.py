"""Email end to end: a real SMTP client (smtplib) writes to ``omnivox serve``'s inbound server,
replies leave through a real relay (aiosmtpd), and one thread is followed over three messages."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, update

from omnivox import events
from omnivox.channels.mail.channel import EMPTY_REPLY
from omnivox.services import build_services
from omnivox.settings import ConfigError, Settings
from omnivox.storage.models import Conversation, Message
from tests.channels.email.support import (
    RelaySink,
    mail,
    plain,
    raw_headers,
    send,
    start_sink,
)
from tests.conftest import LiveServer, events_of, free_port, make_settings, run_on_server


@pytest.fixture(scope="module")
def relay() -> Iterator[RelaySink]:
    sink, ctl = start_sink()
    yield sink
    ctl.stop()


def email_settings(
    tmp_path: Path,
    database: dict[str, Any],
    relay: RelaySink | None,
    *,
    others: tuple[dict[str, Any], ...] = (),
    providers: list[dict[str, Any]] | None = None,
    **email: Any,
) -> Settings:
    """Acme's mailbox (``email`` on top), and ``others``: more workspaces."""
    channel = {
        "addresses": ["support@acme.example"],
        "relay": f"127.0.0.1:{relay.port}" if relay else "",
        "tls": "none",
        **email,
    }
    workspace = {
        "id": "acme",
        "name": "Acme Outfitters",
        "persona": {"name": "Juniper", "brand": "Acme Outfitters"},
        "channels": {"email": channel},
    }
    return make_settings(
        tmp_path,
        providers=providers,
        database=database,
        workspaces=[workspace, *others],
        server={"smtp_listen": f"127.0.0.1:{free_port()}", "smtp_max_bytes": 64 * 1024},
    )


@pytest.fixture
def server(tmp_path: Path, relay: RelaySink, database: dict[str, Any]) -> Iterator[LiveServer]:
    relay.reset()
    with LiveServer(email_settings(tmp_path, database, relay)) as live:
        yield live


def smtp_port(server: LiveServer) -> int:
    address = server.services.smtp_address
    assert address is not None
    return int(address.rsplit(":", 1)[1])


def inbound_rows(server: LiveServer) -> list[Message]:
    async def rows() -> list[Message]:
        async with server.services.db.sessions() as session:
            query = select(Message).where(Message.direction == "in").order_by(Message.seq)
            return list((await session.execute(query)).scalars())

    return list(run_on_server(server, rows()))


def answer(relay: RelaySink, n: int) -> EmailMessage:
    return relay.wait_for(n)[n - 1]


def asked(body: str) -> str:
    """The text a new thread's mail under the default subject is answered as (subject first)."""
    return f"Question about returns\n\n{body}"


def reply_to(
    previous: EmailMessage, text: str, subject: str | None = None, **kwargs: Any
) -> EmailMessage:
    """The customer's reply as a mail client writes it: threading headers and the quote.

    Its subject is the one it answers, unless the customer wrote another (``subject``).
    """
    quoted = "\n".join("> " + line for line in plain(previous).splitlines())
    refs = [*str(previous.get("References", "")).split(), str(previous["Message-ID"])]
    header = "On Sat, 28 Nov 2026 at 10:00, Acme Outfitters Support <support@acme.example> wrote:"
    return mail(
        f"{text}\n\n{header}\n{quoted}\n",
        subject=subject or str(previous["Subject"]),
        in_reply_to=str(previous["Message-ID"]),
        references=refs,
        **kwargs,
    )


def test_one_thread_over_three_messages(server: LiveServer, relay: RelaySink) -> None:
    first = mail("Can I return boots after 20 days?")
    send(smtp_port(server), first)
    a1 = answer(relay, 1)
    assert a1["To"] == "jane@example.com" and a1["Subject"] == "Re: Question about returns"
    assert a1["In-Reply-To"] == first["Message-ID"] and a1["References"] == first["Message-ID"]
    assert a1["Auto-Submitted"] == "auto-replied"
    body = plain(a1)
    assert body.startswith(
        f"Hi Jane Doe,\n\nYou asked: {asked('Can I return boots after 20 days?')}"
    )
    assert "Juniper" in body and a1.get_body(("html",)) is not None

    second = reply_to(a1, "And for kids' boots?")  # answers our reply: joined by References
    send(smtp_port(server), second)
    a2 = answer(relay, 2)
    assert a2["In-Reply-To"] == second["Message-ID"]
    assert a2["References"].split() == [first["Message-ID"], a1["Message-ID"], second["Message-ID"]]
    assert "You asked: And for kids' boots?" in plain(a2)

    # a client that drops the threading headers still writes to the Reply-To subaddress
    reply_address = a2["Reply-To"].addresses[0].addr_spec
    assert reply_address.startswith("support+conv_")
    third = mail("Thanks! Also: do you ship to Canada?", subject="returns again", to=reply_address)
    send(smtp_port(server), third, to=reply_address)
    answer(relay, 3)

    rows = inbound_rows(server)
    assert [r.text for r in rows] == [
        asked("Can I return boots after 20 days?"),  # a new thread's subject leads
        "And for kids' boots?",  # the quoted history stripped, the thread's subject left out
        "returns again\n\nThanks! Also: do you ship to Canada?",  # a subject of its own leads
    ]
    assert len({r.conversation_id for r in rows}) == 1
    assert [r.meta.get("thread") for r in rows] == ["new", "references", "address"]
    assert reply_address == f"support+{rows[0].conversation_id}@acme.example"


def test_a_reply_whose_subject_asks_something_new_leads_with_it(
    server: LiveServer, relay: RelaySink
) -> None:
    """The customer edits the subject into a new question over "see subject": until 2026-12-05
    a reply's subject was always left out, and the model and the search saw "see subject"."""
    send(smtp_port(server), mail("Where is it now?", subject="Your order #1234 has shipped"))
    a1 = answer(relay, 1)
    changed = reply_to(a1, "see subject", "Re: can I change the delivery address?")
    send(smtp_port(server), changed)
    a2 = answer(relay, 2)
    assert a2["Subject"] == "Re: can I change the delivery address?"
    # the subject it answers (prefixes stacked): the thread's, not a new question
    send(
        smtp_port(server),
        reply_to(a2, "To my office?", "AW: Re: Can I change the DELIVERY address?"),
    )
    answer(relay, 3)
    # an older subject of the thread, in other case and spacing; a greeting
    send(smtp_port(server), reply_to(a1, "Is it insured?", "RE:  your order #1234  has shipped"))
    answer(relay, 4)
    send(smtp_port(server), reply_to(a1, "Gift wrap too?", "Re: Hello"))
    answer(relay, 5)
    send(smtp_port(server), changed)  # the sending server's resend, after the answer

    rows = inbound_rows(server)
    assert [r.text for r in rows] == [
        "Your order #1234 has shipped\n\nWhere is it now?",
        "can I change the delivery address?\n\nsee subject",
        "To my office?",
        "Is it insured?",
        "Gift wrap too?",
    ]
    assert len({r.conversation_id for r in rows}) == 1
    # the resend is the stored mail again (read as it was then), not another with its id
    assert wait_for_event(server, rows[0].conversation_id, events.TURN_DUPLICATE)
    assert len(relay.received) == 5


def wait_for_event(
    server: LiveServer, conversation_id: str, kind: str, timeout: float = 10
) -> bool:
    """Whether the conversation records an event of ``kind`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = run_on_server(server, events_of(server.services, conversation_id))
        if any(e.type == kind for e in found):
            return True
        time.sleep(0.1)
    return False


def test_a_reply_to_an_outlook_customer_stays_in_their_thread(
    server: LiveServer, relay: RelaySink
) -> None:
    """Exchange Online's 78-character Message-ID went out RFC 2047-encoded: a new thread."""
    question = mail("Where is my order 1234?")
    exchange = "<PH0PR11MB5880E2C2A7C9AA5B1F5E8A33DA572@PH0PR11MB5880.namprd11.prod.outlook.com>"
    question.replace_header("Message-ID", exchange)
    send(smtp_port(server), question)
    answer(relay, 1)
    headers = raw_headers(relay.raw[0])
    assert f"In-Reply-To: {exchange}" in headers and f"References: {exchange}" in headers


def test_a_reply_to_a_closed_conversation_reopens_it(server: LiveServer, relay: RelaySink) -> None:
    send(smtp_port(server), mail("Where is my order?"))
    a1 = answer(relay, 1)

    async def close_all() -> None:
        async with server.services.db.sessions.begin() as session:
            await session.execute(update(Conversation).values(status="closed"))

    run_on_server(server, close_all())
    send(smtp_port(server), reply_to(a1, "It still has not arrived."))
    answer(relay, 2)
    rows = inbound_rows(server)
    assert rows[0].conversation_id == rows[1].conversation_id
    assert rows[1].meta["thread"] == "references"


def test_another_senders_reply_with_the_same_subject_and_headers_is_not_joined(
    server: LiveServer, relay: RelaySink
) -> None:
    send(smtp_port(server), mail("Can I return boots after 20 days?"))
    a1 = answer(relay, 1)
    # same subject, Jane's thread in the headers and her conversation in the address: Bob's own
    bob = reply_to(a1, "Me too, same question", sender="Bob <bob@example.com>")
    send(smtp_port(server), bob, to=a1["Reply-To"].addresses[0].addr_spec)
    a2 = answer(relay, 2)
    assert a2["To"] == "bob@example.com"
    jane, bob_row = inbound_rows(server)
    assert jane.conversation_id != bob_row.conversation_id and bob_row.meta["thread"] == "new"


def test_a_redelivered_mail_is_answered_once(server: LiveServer, relay: RelaySink) -> None:
    first = mail("Do you sell gift cards?")
    send(smtp_port(server), first)
    send(smtp_port(server), first)  # the sending MTA retried after a lost 250
    answer(relay, 1)
    time.sleep(0.5)
    assert len(relay.received) == 1 and len(inbound_rows(server)) == 1


def test_unknown_mailboxes_are_refused_at_rcpt(server: LiveServer) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(smtp_port(server), mail("hi", to="sales@acme.example"), to="sales@acme.example")
    assert refused.value.recipients["sales@acme.example"][0] == 550
    assert inbound_rows(server) == []


def test_one_mail_to_two_workspaces_reaches_both(tmp_path: Path, relay: RelaySink) -> None:
    """RCPT TO both: only the first workspace stored it; the second's copy was lost."""
    relay.reset()
    globex = {"addresses": ["help@globex.example"], "relay": f"127.0.0.1:{relay.port}"}
    others = ({"id": "globex", "name": "Globex", "channels": {"email": {**globex, "tls": "none"}}},)
    both = email_settings(tmp_path, {}, relay, others=others)
    question = mail("Do you ship to Canada?", to="support@acme.example, help@globex.example")
    raw = question.as_bytes(policy=policy.SMTP)
    with LiveServer(both) as live:
        with smtplib.SMTP("127.0.0.1", smtp_port(live)) as client:
            refused = client.sendmail(
                "jane@example.com", ["support@acme.example", "help@globex.example"], raw
            )
        assert refused["help@globex.example"][0] == 452  # the sender delivers it again
        with smtplib.SMTP("127.0.0.1", smtp_port(live)) as client:  # its own transaction
            assert client.sendmail("jane@example.com", ["help@globex.example"], raw) == {}
        relay.wait_for(2)
        rows = inbound_rows(live)
    assert sorted(r.workspace_id for r in rows) == ["acme", "globex"]
    assert sorted(m["From"].addresses[0].addr_spec for m in relay.received) == [
        "help@globex.example",
        "support@acme.example",
    ]


def test_an_oversized_mail_is_refused_with_552(server: LiveServer, relay: RelaySink) -> None:
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # refused at MAIL FROM's SIZE
        send(smtp_port(server), mail(("x" * 70 + "\n") * 1500))
    assert refused.value.smtp_code == 552
    raw = mail(("y" * 70 + "\n") * 1500).as_bytes(policy=policy.SMTP)
    with smtplib.SMTP("127.0.0.1", smtp_port(server)) as client:  # no SIZE announced
        client.ehlo()
        client.esmtp_features.pop("size", None)
        with pytest.raises(smtplib.SMTPDataError) as data_refused:
            client.sendmail("jane@example.com", ["support@acme.example"], raw)
    assert data_refused.value.smtp_code == 552
    time.sleep(0.3)
    assert inbound_rows(server) == [] and relay.attempts == 0


@pytest.mark.parametrize(
    "from_header",
    ["jane@example.com, eve@example.com", "eve@example.com <jane@example.com>", "nobody"],
)
def test_an_ambiguous_from_is_refused_and_changes_nothing(
    server: LiveServer, relay: RelaySink, from_header: str
) -> None:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(smtp_port(server), mail("hi", sender=from_header))
    assert refused.value.smtp_code == 550 and b"5.1.7" in refused.value.smtp_error
    time.sleep(0.3)
    assert inbound_rows(server) == [] and relay.attempts == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X-Autoreply": "yes"},
        {"List-Id": "<deals.shop.example>"},
        # Exchange writes a list; only a whole value of All, AutoReply or OOF counted
        {"X-Auto-Response-Suppress": "DR, RN, NRN, OOF, AutoReply"},
        {"Precedence": "auto_reply (vacation)"},  # a comment after the keyword
    ],
)
def test_auto_replies_are_accepted_and_never_answered(
    server: LiveServer, relay: RelaySink, headers: dict[str, str]
) -> None:
    send(smtp_port(server), mail("I am out of office until Monday.", headers=headers))
    time.sleep(0.5)
    assert inbound_rows(server) == [] and relay.attempts == 0


def test_bounces_and_our_own_mail_are_never_answered(server: LiveServer, relay: RelaySink) -> None:
    bounce = mail("Delivery failed", sender="MAILER-DAEMON@mx.example.com").as_bytes(
        policy=policy.SMTP
    )
    with smtplib.SMTP("127.0.0.1", smtp_port(server)) as client:
        client.sendmail("", ["support@acme.example"], bounce)  # MAIL FROM:<>
    rewritten = mail("Delivery failed", headers={"Return-Path": "<>"})  # a forward's bounce
    send(smtp_port(server), rewritten)
    person = mail("Undeliverable: your mail").as_bytes(policy=policy.SMTP)
    with smtplib.SMTP("127.0.0.1", smtp_port(server)) as client:  # a daemon's envelope
        client.sendmail("MAILER-DAEMON@mx.example.com", ["support@acme.example"], person)
    loop = mail("You asked: hi", sender="Acme <support+conv_x@acme.example>")
    send(smtp_port(server), loop)
    # a robot that ignores Auto-Submitted but copies our X-Loop back with its answer
    echoed = mail("Thanks for your mail!", headers={"X-Loop": "support@acme.example"})
    send(smtp_port(server), echoed)
    below = mail("Ticket created", headers={"X-Loop": "helpdesk@their.example"})
    below["X-Loop"] = "support@acme.example"  # ours after the robot's own: only the first counted
    send(smtp_port(server), below)
    time.sleep(0.5)
    assert inbound_rows(server) == [] and relay.attempts == 0


class Helpdesk(RelaySink):
    """A customer's helpdesk robot behind the relay: acknowledges every mail, with no sign of
    being a robot (no Auto-Submitted, Precedence or X-Auto-Response-Suppress)."""

    smtp_port: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        ours = self.received[-1]
        ack = mail(
            f"Thank you for contacting us. Ticket #{self.attempts} was created.",
            sender="Corp Helpdesk <helpdesk@corp.example>",
            subject=str(ours["Subject"]),
            in_reply_to=str(ours["Message-ID"]),
            references=[str(ours["Message-ID"])],
        )
        threading.Timer(0.05, send, (self.smtp_port, ack)).start()
        return answer


def test_a_robot_answering_every_reply_is_answered_a_few_times_then_left_to_an_agent(
    tmp_path: Path,
) -> None:
    """Each acknowledgement was answered: 20 replies in 25 s, forever (limited only by 451)."""
    robot = Helpdesk(port=free_port())
    ctl = Controller(robot, hostname="127.0.0.1", port=robot.port)
    ctl.start()
    try:
        settings = email_settings(tmp_path, {}, robot, max_replies_per_sender_per_hour=3)
        with LiveServer(settings) as live:
            robot.smtp_port = smtp_port(live)
            first = mail("Our ticket for the broken tents?", sender="helpdesk@corp.example")
            send(smtp_port(live), first)
            deadline = time.monotonic() + 20
            while len(rows := inbound_rows(live)) < 4:
                assert time.monotonic() < deadline, len(rows)
                time.sleep(0.05)
            time.sleep(1.5)
            assert len(robot.received) == 3 and len(inbound_rows(live)) == 4
    finally:
        ctl.stop()
    assert [r.meta.get("held", False) for r in rows] == [False, False, False, True]
    assert rows[3].meta["email"]["unanswered"] == "reply limit"
    assert len({r.conversation_id for r in rows}) == 1  # one thread, for an agent to read


@pytest.mark.parametrize(
    "envelope",
    [
        "bounces+1234567-abcd-jane=example.com@em1234.example.com",  # SendGrid
        "bounce+7f3a2.1c9-jane=example.com@mg.example.com",  # Mailgun
        "no-reply@notify.example.com",
    ],
)
def test_a_person_writing_through_a_mail_service_is_answered(
    server: LiveServer, relay: RelaySink, envelope: str
) -> None:
    """A VERP envelope sender (bounces+...@) was taken for a bounce: stored nowhere, no reply."""
    question = mail("My boots arrived damaged, can I get a replacement?")
    with smtplib.SMTP("127.0.0.1", smtp_port(server)) as client:
        client.sendmail(envelope, ["support@acme.example"], question.as_bytes(policy=policy.SMTP))
    assert answer(relay, 1)["To"] == "jane@example.com"
    assert [r.text for r in inbound_rows(server)] == [
        asked("My boots arrived damaged, can I get a replacement?")
    ]


def test_a_sender_over_the_hourly_limit_is_told_to_retry_later(
    tmp_path: Path, relay: RelaySink
) -> None:
    relay.reset()
    settings = email_settings(tmp_path, {}, relay, max_per_sender_per_hour=2)
    with LiveServer(settings) as live:
        for i in range(2):
            send(smtp_port(live), mail(f"question {i}"))
        with pytest.raises(smtplib.SMTPDataError) as limited:
            send(smtp_port(live), mail("question 3"))
        assert limited.value.smtp_code == 451
        send(smtp_port(live), mail("from someone else", sender="bob@example.com"))
        relay.wait_for(3)
        assert sorted(r.text for r in inbound_rows(live)) == [
            asked("from someone else"),
            asked("question 0"),
            asked("question 1"),
        ]


def test_a_mail_refused_for_now_then_retried_counts_once_against_the_hourly_limit(
    tmp_path: Path, relay: RelaySink
) -> None:
    """A 451 after the limits counted the mail (its store failed): its retry takes no second
    slot, so the sender's next mail is still within two an hour."""
    relay.reset()
    with LiveServer(email_settings(tmp_path, {}, relay, max_per_sender_per_hour=2)) as live:
        question = mail("question 0")
        assert sent_while_storing_fails(live, question).smtp_code == 451
        send(smtp_port(live), question)  # the sending server's retry
        send(smtp_port(live), mail("question 1"))  # was 451: the retry had counted again
        relay.wait_for(2)


def test_mail_over_the_turn_limits_is_refused_for_now_not_accepted_and_dropped(
    tmp_path: Path, relay: RelaySink
) -> None:
    relay.reset()
    settings = email_settings(tmp_path, {}, relay)
    [acme] = settings.workspaces
    strict = acme.model_copy(
        update={"limits": acme.limits.model_copy(update={"per_customer_per_minute": 2})}
    )
    with LiveServer(settings.model_copy(update={"workspaces": [strict]})) as live:
        for i in range(2):
            send(smtp_port(live), mail(f"question {i}"))
        with pytest.raises(smtplib.SMTPDataError) as limited:  # was 250, then never answered
            send(smtp_port(live), mail("question 2"))
        assert limited.value.smtp_code == 451 and b"from you" in limited.value.smtp_error
        relay.wait_for(2)
        assert sorted(r.text for r in inbound_rows(live)) == [
            asked("question 0"),
            asked("question 1"),
        ]


def test_without_a_relay_mail_is_answered_and_stored_but_not_sent(tmp_path: Path) -> None:
    with LiveServer(email_settings(tmp_path, {}, None)) as live:
        send(smtp_port(live), mail("Where is my order?"))

        async def outbound() -> list[Message]:
            async with live.services.db.sessions() as session:
                query = select(Message).where(Message.direction == "out")
                return list((await session.execute(query)).scalars())

        deadline = time.monotonic() + 20
        # the row is stored "sending" first, then marked by the delivery attempt
        while not (rows := run_on_server(live, outbound())) or rows[0].status == "sending":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert rows[0].status == "failed"
        assert "relay" in rows[0].meta["delivery"]["error"]


def test_a_relay_failure_is_retried_with_the_same_message_id(
    server: LiveServer, relay: RelaySink
) -> None:
    relay.refusals.append("451 4.3.0 Mailbox busy, try later")
    send(smtp_port(server), mail("Is the tent waterproof?"))
    a1 = answer(relay, 1)  # the outbox's second attempt, about 2 s later
    assert relay.attempts == 2

    async def outbound() -> Message:
        async with server.services.db.sessions() as session:
            query = select(Message).where(Message.direction == "out")
            return (await session.execute(query)).scalar_one()

    deadline = time.monotonic() + 10  # the relay has it; the worker records it right after
    while (row := run_on_server(server, outbound())).status != "sent":
        assert time.monotonic() < deadline, row.status
        time.sleep(0.05)
    assert a1["Message-ID"] == f"<{row.id}@acme.example>" and a1["In-Reply-To"]
    assert row.meta["outbox"]["attempts"] == 2


def test_a_relay_that_answers_data_too_late_is_not_sent_twice(
    tmp_path: Path, relay: RelaySink
) -> None:
    """A timeout after DATA was retried: the customer got the reply twice."""
    relay.reset()
    relay.stalls["DATA"] = 2.5  # queued, answered after the client gave up
    with LiveServer(email_settings(tmp_path, {}, relay, timeout_s=1)) as live:
        send(smtp_port(live), mail("Is the tent waterproof?"))
        relay.wait_for(1)

        async def outbound() -> Message:
            async with live.services.db.sessions() as session:
                query = select(Message).where(Message.direction == "out")
                return (await session.execute(query)).scalar_one()

        deadline = time.monotonic() + 10
        while (row := run_on_server(live, outbound())).status != "failed":
            assert time.monotonic() < deadline, row.status
            time.sleep(0.05)
        time.sleep(3)  # past the outbox's first retry (2 s)
        assert len(relay.received) == 1 and run_on_server(live, outbound()).status == "failed"
    assert "not retried" in row.meta["delivery"]["error"]


HEAD = "From: Jane Doe <jane@example.com>\r\nTo: support@acme.example\r\n"
BAD_MAIL = {
    "ten-thousand-parts": (
        HEAD
        + "Message-ID: <parts@example.com>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        + "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(10_000))
        + "--b--\r\n"
    ).encode(),
    "unknown-charset": (
        HEAD + "Message-ID: <cs@example.com>\r\nContent-Type: text/plain; charset=x-klingon\r\n"
        "\r\nGröße M?\r\n"
    ).encode(),
    "8bit-headers": (
        "From: Jürgen <jurgen@example.de>\r\nSubject: Größe\r\nMessage-ID: <8bit@example.de>\r\n"
        "\r\nHallo\r\n"
    ).encode(),
    "no-boundary": (
        HEAD + "Message-ID: <nb@example.com>\r\nContent-Type: multipart/mixed\r\n\r\nhello\r\n"
    ).encode(),
    "codec-charset": (  # was 500 with the LookupError's text: the mail bounced
        HEAD + "Message-ID: <b64@example.com>\r\nContent-Type: text/plain; charset=base64\r\n"
        "\r\nWhere is my order?\r\n"
    ).encode(),
    "idna-charset": (
        HEAD + "Message-ID: <idna@example.com>\r\nContent-Type: text/plain; charset=idna\r\n"
        "\r\nGröße M?\r\n"
    ).encode(),
}


def test_bad_input_over_smtp_is_answered_and_logged_not_crashed(
    tmp_path: Path, relay: RelaySink
) -> None:
    relay.reset()
    settings = email_settings(tmp_path, {}, relay)
    roomy = settings.model_copy(
        update={"server": settings.server.model_copy(update={"smtp_max_bytes": 10 * 1024**2})}
    )
    with LiveServer(roomy) as live:
        for raw in BAD_MAIL.values():
            with smtplib.SMTP("127.0.0.1", smtp_port(live), timeout=60) as client:
                client.sendmail("jane@example.com", ["support@acme.example"], raw)
        relay.wait_for(len(BAD_MAIL))
        rows = {r.meta["email"]["message_id"]: r for r in inbound_rows(live)}
    assert rows["parts@example.com"].text.startswith("part 0\n\npart 1\n\n")
    assert rows["parts@example.com"].meta["email"]["defects"] == [
        "more than 500 parts: the rest were ignored"
    ]
    assert rows["cs@example.com"].text == "Größe M?"
    assert rows["8bit@example.de"].meta["email"]["subject"] == "Größe"
    assert rows["nb@example.com"].text == "hello"
    assert rows["b64@example.com"].text == "Where is my order?"
    assert rows["idna@example.com"].text == "Größe M?"


def test_an_unexpected_failure_is_451_naming_nothing_of_ours(
    server: LiveServer, relay: RelaySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiosmtpd answers an exception with 500 and its text: the mail bounced, internals shown."""

    def broken(raw: bytes) -> None:
        raise RuntimeError("internal detail /srv/omnivox")

    monkeypatch.setattr("omnivox.channels.mail.inbound.parse_mail", broken)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(smtp_port(server), mail("Where is my order?"))
    assert refused.value.smtp_code == 451  # the sender's server keeps it and tries again
    assert (
        b"internal" not in refused.value.smtp_error and b"Runtime" not in refused.value.smtp_error
    )


def test_an_smtp_port_in_use_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = email_settings(tmp_path, {}, None)
        settings = settings.model_copy(
            update={
                "server": settings.server.model_copy(update={"smtp_listen": f"127.0.0.1:{port}"})
            }
        )

        async def start() -> None:
            services = build_services(settings)
            await services.start(warm_up=False)
            try:
                await services.start_mail()
            finally:
                await services.close()

        with pytest.raises(ConfigError) as error:
            asyncio.run(start())
    assert error.value.key == "server.smtp_listen" and "OMNIVOX_SMTP_LISTEN" in error.value.expected


def test_a_mail_over_the_text_limit_is_answered_saying_what_was_read(
    server: LiveServer, relay: RelaySink
) -> None:
    long = "Where is my order? " + "It was a gift for my brother. " * 200  # ~6,000 characters
    send(smtp_port(server), mail(long))
    body = plain(answer(relay, 1))
    assert "Your message was long: I read its first 4,000 characters." in body
    assert inbound_rows(server)[0].meta["truncated"] is True


def test_a_mail_of_attachments_alone_is_answered_not_dropped(
    server: LiveServer, relay: RelaySink
) -> None:
    photo = mail("", subject="")
    photo.add_attachment(
        b"\x89PNG" + b"\0" * 96, maintype="image", subtype="png", filename="boot.png"
    )
    send(smtp_port(server), photo)
    body = plain(answer(relay, 1))  # was ignored as "empty": the customer heard nothing
    assert "attachments without any text: boot.png" in body
    row = inbound_rows(server)[0]
    assert row.meta["email"]["attachments"] == [
        {"name": "boot.png", "type": "image/png", "size": 100}
    ]


def test_a_mail_forwarded_as_an_attachment_is_answered_from_its_content(
    server: LiveServer, relay: RelaySink
) -> None:
    """It was answered as files alone: the forwarded mail never reached the assistant."""
    shipped = mail(
        "Your order 1234 ships to 12 Wrong Street.",
        sender="Acme Shop <orders@acme.example>",
        to="jane@example.com",
        subject="Your order 1234 has shipped",
    )
    forward = mail("", subject="Fwd: Your order 1234 has shipped")
    forward.add_attachment(shipped)  # "Forward as attachment": a message/rfc822 part
    send(smtp_port(server), forward)
    body = plain(answer(relay, 1))
    assert "attachments without any text" not in body and "12 Wrong Street" in body
    row = inbound_rows(server)[0]
    assert row.text.startswith("---------- Forwarded message ---------\nFrom: Acme Shop")
    assert "held" not in row.meta
    [attached] = row.meta["email"]["attachments"]
    assert (attached["name"], attached["type"]) == ("Your order 1234 has shipped", "message/rfc822")


def test_a_reply_of_a_photo_and_the_quoted_history_is_answered_as_the_photo(
    server: LiveServer, relay: RelaySink
) -> None:
    """It was answered as its subject: the old question ("Re: Question about returns")."""
    send(smtp_port(server), mail("Can I return boots after 20 days?"))
    photo = reply_to(answer(relay, 1), "")
    photo.add_attachment(
        b"\x89PNG" + b"\0" * 50, maintype="image", subtype="png", filename="damaged-boot.png"
    )
    send(smtp_port(server), photo)
    assert "attachments without any text: damaged-boot.png" in plain(answer(relay, 2))
    assert inbound_rows(server)[1].meta["thread"] == "references"


def test_a_reply_of_a_photo_under_a_subject_of_its_own_is_answered_as_the_subject(
    server: LiveServer, relay: RelaySink
) -> None:
    """The changed subject was dropped: it was answered as files alone."""
    send(smtp_port(server), mail("Can I return boots after 20 days?"))
    photo = reply_to(answer(relay, 1), "", "Re: is this damage covered by the warranty?")
    photo.add_attachment(b"\x89PNG" + b"\0" * 50, maintype="image", subtype="png", filename="a.png")
    send(smtp_port(server), photo)
    answer(relay, 2)
    assert inbound_rows(server)[1].text == "is this damage covered by the warranty?"


def test_an_empty_reply_under_the_threads_subject_is_stored_not_answered(
    server: LiveServer, relay: RelaySink
) -> None:
    """It was answered as its subject, "Re: Question about returns": the old question again."""
    send(smtp_port(server), mail("Can I return boots after 20 days?"))
    a1 = answer(relay, 1)
    send(smtp_port(server), reply_to(a1, ""))  # the quoted history alone
    send(smtp_port(server), reply_to(a1, "And for kids?"))
    answer(relay, 2)  # turns of one sender run in order: the empty one's ended
    rows = inbound_rows(server)
    assert [r.text for r in rows[1:]] == [EMPTY_REPLY, "And for kids?"]
    assert rows[1].meta["held"] and rows[1].meta["email"]["unanswered"] == "empty reply"
    assert len(relay.received) == 2 and len({r.conversation_id for r in rows}) == 1


@pytest.mark.parametrize("subject", ["Re:", "AW:", "RE: "])
def test_an_empty_reply_under_a_bare_prefix_is_stored_not_answered(
    server: LiveServer, relay: RelaySink, subject: str
) -> None:
    """Nothing after its "Re:", it was ignored as an empty mail: an agent never saw it."""
    send(smtp_port(server), mail("Can I return boots after 20 days?"))
    a1 = answer(relay, 1)
    send(smtp_port(server), reply_to(a1, "", subject))  # the quoted history alone
    send(smtp_port(server), mail("", subject=subject))  # no thread at all: still ignored
    send(smtp_port(server), reply_to(a1, "And for kids?"))
    answer(relay, 2)
    rows = inbound_rows(server)
    assert [r.text for r in rows[1:]] == [EMPTY_REPLY, "And for kids?"]
    assert rows[1].meta["held"] and rows[1].meta["email"]["unanswered"] == "empty reply"
    assert len(relay.received) == 2 and len({r.conversation_id for r in rows}) == 1


def test_empty_replies_take_none_of_the_reply_limit_and_are_labelled_so(
    tmp_path: Path, relay: RelaySink, database: dict[str, Any]
) -> None:
    """Held empty replies used up the limit, and one over it was labelled "reply limit"."""
    relay.reset()
    with LiveServer(
        email_settings(tmp_path, database, relay, max_replies_per_sender_per_hour=2)
    ) as live:
        send(smtp_port(live), mail("Can I return boots after 20 days?"))
        a1 = answer(relay, 1)
        send(smtp_port(live), reply_to(a1, ""))
        send(smtp_port(live), reply_to(a1, "And for kids?"))  # the second reply of two
        a2 = answer(relay, 2)
        send(smtp_port(live), reply_to(a2, ""))  # over the limit: still an empty reply
        send(smtp_port(live), reply_to(a2, "And for babies?"))  # the third: held
        time.sleep(1.5)
        rows = inbound_rows(live)
    assert len(relay.received) == 2
    labels = [r.meta["email"].get("unanswered") for r in rows]
    assert labels == [None, "empty reply", None, "empty reply", "reply limit"]
    assert all(r.meta["held"] for r in rows if r.meta["email"].get("unanswered"))


def sent_while_storing_fails(live: LiveServer, question: EmailMessage) -> smtplib.SMTPDataError:
    """What SMTP answers ``question`` while the database cannot store it (then it can again)."""
    store = live.services.store
    attach = store.attach_inbound

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the database went away")

    store.attach_inbound = down  # type: ignore[method-assign]
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(smtp_port(live), question)
    finally:
        store.attach_inbound = attach  # type: ignore[method-assign]
    return refused.value


def test_a_mail_is_accepted_once_stored_and_a_failed_store_is_retried(
    server: LiveServer, relay: RelaySink
) -> None:
    question = mail("Can I return boots I wore once?")
    refused = sent_while_storing_fails(server, question)  # was 250, and the mail was lost
    assert refused.smtp_code == 451 and inbound_rows(server) == []
    send(smtp_port(server), question)  # the sending server's retry
    assert [r.text for r in inbound_rows(server)] == [asked("Can I return boots I wore once?")]
    assert answer(relay, 1)["In-Reply-To"] == question["Message-ID"]


def test_a_mail_waiting_behind_a_slow_turn_gets_451_and_its_retry_is_answered_once(
    tmp_path: Path, relay: RelaySink, database: dict[str, Any]
) -> None:
    """Not 250 for a mail not stored yet: a Redis failure during its wait would lose it."""
    relay.reset()
    slow = [{"type": "scripted", "reply": "You asked: {question}", "delay_s": 7, "timeout_s": 15}]
    with LiveServer(email_settings(tmp_path, database, relay, providers=slow)) as live:
        port = smtp_port(live)
        first = mail("Where is my order?")
        send(port, first)
        second = mail("And can I return it?", in_reply_to=first["Message-ID"])
        started = time.monotonic()
        with pytest.raises(smtplib.SMTPDataError) as later:
            send(port, second)
        assert later.value.smtp_code == 451  # was 250 after 5 s
        assert 4.5 < time.monotonic() - started < 6.5
        relay.wait_for(2, timeout=30)  # its turn went on all the same
        send(port, second)  # the sending server's retry: stored already, 250
        time.sleep(1)
        assert len(relay.received) == 2
