"""Email inbound-to-relay latency against the REST channel, same run.

20 senders at once each mail ``support@acme.example`` on the server's inbound SMTP port (a real
SMTP client, aiosmtplib) and wait until the reply reaches a local SMTP relay (aiosmtpd): SMTP in
-> parse -> 250 -> turn in the background -> outbox row -> SMTP out to the relay. The same 20
customers then ask the same questions through ``POST /api/v1/messages``. Extractive provider, no
knowledge base, SQLite, one server process. The ratio of the p95s is the channel's overhead.

(Named mail.py, not email.py: a script named like the standard library's ``email`` package
shadows it for every script in this folder.)

Usage: python bench/mail.py [--rounds 10] [--concurrency 20] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import AUTH, append_results, free_port, pct, rest_conversation, row, server


class Relay:
    """The relay: notes when each reply arrives, keyed by the message it answers."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiting: dict[str, asyncio.Future[float]] = {}

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.perf_counter()
        reply = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        answered = str(reply.get("In-Reply-To", ""))
        future = self.waiting.get(answered)
        if future is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(future.set_result, now)
        return "250 2.0.0 Queued"


async def mail_conversation(relay: Relay, port: int, sender: int, rounds: int) -> list[float]:
    times = []
    for n in range(rounds):
        msg = EmailMessage()
        msg["From"] = f"Bench {sender} <bench{sender}@example.com>"
        msg["To"] = "support@acme.example"
        msg["Subject"] = "Returns"
        msg["Message-ID"] = make_msgid(domain="example.com")
        msg.set_content(f"What is your return policy? ({n})")
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        relay.waiting[str(msg["Message-ID"])] = future
        started = time.perf_counter()
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=port, start_tls=False)
        times.append((await asyncio.wait_for(future, timeout=60) - started) * 1000)
    return times


async def measure(
    url: str, relay: Relay, port: int, rounds: int, concurrency: int
) -> tuple[list[float], list[float]]:
    relay.loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(timeout=60, headers=AUTH) as client:
        await mail_conversation(relay, port, 999, 2)  # warm up
        await rest_conversation(client, url, "bench999", 2)
        mails = await asyncio.gather(
            *(mail_conversation(relay, port, 1000 + c, rounds) for c in range(concurrency))
        )
        rest = await asyncio.gather(
            *(
                rest_conversation(client, url, f"bench{1000 + c}", rounds)
                for c in range(concurrency)
            )
        )
    return [t for ts in mails for t in ts], [t for ts in rest for t in ts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="mails per sender")
    parser.add_argument("--concurrency", type=int, default=20, help="senders at once")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    relay = Relay()
    relay_port, smtp_port = free_port(), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=relay_port)
    controller.start()
    email = {
        "addresses": ["support@acme.example"],
        "relay": f"127.0.0.1:{relay_port}",
        "tls": "none",
        "max_per_sender_per_hour": 10_000,
    }
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            server(
                Path(tmp),
                [{"type": "extractive"}],
                64,
                grounding=False,
                channels={"email": email},
                smtp_listen=f"127.0.0.1:{smtp_port}",
            ) as url,
        ):
            mails, rest = asyncio.run(measure(url, relay, smtp_port, args.rounds, args.concurrency))
    finally:
        controller.stop()
    lines = [
        "| path (ms) | p50 | p95 | n |",
        "|---|---|---|---|",
        row("mail in (SMTP) -> reply at the relay (SMTP)", mails),
        row("REST request -> reply in the response", rest),
        "",
        f"channel overhead (p95 ratio email / REST): {pct(mails, 95) / pct(rest, 95):.2f}x; "
        f"{args.concurrency} senders at once, {args.rounds} mails each, extractive provider, "
        "no knowledge base, SQLite, one server process.",
    ]
    print("\n".join(lines))
    print(json.dumps({"email_p95": pct(mails, 95), "rest_p95": pct(rest, 95)}))
    if not args.no_append:
        append_results("Email (issue 6)", "python bench/mail.py " + " ".join(sys.argv[1:]), lines)


if __name__ == "__main__":
    main()
