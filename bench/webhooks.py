"""Webhook-to-outbox latency of a messaging channel against the REST channel, same run.

Telegram stands for the webhook channels: 20 conversations at once each send a signed update
and wait for their reply to reach a local Bot API stand-in (webhook in -> acknowledged -> turn
in the background -> outbox row -> ``sendMessage``). The same 20 conversations then go through
``POST /api/v1/messages`` (request -> reply in the response, outbox row written). Extractive
provider, no knowledge base, SQLite, one server process. The ratio of the p95s is the channel's
overhead.

Usage: python bench/webhooks.py [--rounds 10] [--concurrency 20] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import AUTH, append_results, free_port, pct, rest_conversation, row, server

TOKEN, SECRET = "42:bench", "bench-secret"


class Replies:
    """Replies received by the stand-in, handed to the waiting conversation's event loop."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queues: dict[str, asyncio.Queue[float]] = defaultdict(asyncio.Queue)

    def received(self, chat_id: str) -> None:
        now = time.perf_counter()
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.queues[chat_id].put_nowait, now)


def stand_in(replies: Replies) -> str:
    """Start the Bot API stand-in in a thread; return its base URL."""

    async def send_message(request: Request) -> Response:
        body = await request.json()
        replies.received(str(body["chat_id"]))
        return JSONResponse({"ok": True, "result": {"message_id": 1, "text": body["text"]}})

    app = Starlette(routes=[Route("/bot{token}/sendMessage", send_message, methods=["POST"])])
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def update(chat: int, n: int) -> dict[str, Any]:
    message = {
        "message_id": n,
        "from": {"id": chat, "is_bot": False, "first_name": "Bench"},
        "chat": {"id": chat, "type": "private"},
        "date": int(time.time()),
        "text": f"What is your return policy? ({n})",
    }
    return {"update_id": chat * 1000 + n, "message": message}


async def webhook_conversation(
    client: httpx.AsyncClient, url: str, replies: Replies, chat: int, rounds: int
) -> list[float]:
    times = []
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for n in range(rounds):
        started = time.perf_counter()
        response = await client.post(
            f"{url}/webhooks/acme/telegram", json=update(chat, n), headers=headers
        )
        response.raise_for_status()
        arrived = await asyncio.wait_for(replies.queues[str(chat)].get(), timeout=60)
        times.append((arrived - started) * 1000)
    return times


async def measure(
    url: str, replies: Replies, rounds: int, concurrency: int
) -> tuple[list[float], list[float]]:
    replies.loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=AUTH) as client:
        await webhook_conversation(client, url, replies, 999, 2)  # warm up
        await rest_conversation(client, url, "c999", 2)
        hooks = await asyncio.gather(
            *(
                webhook_conversation(client, url, replies, 1000 + c, rounds)
                for c in range(concurrency)
            )
        )
        rest = await asyncio.gather(
            *(rest_conversation(client, url, f"c{1000 + c}", rounds) for c in range(concurrency))
        )
    return [t for ts in hooks for t in ts], [t for ts in rest for t in ts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="messages per conversation")
    parser.add_argument("--concurrency", type=int, default=20, help="conversations at once")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    replies = Replies()
    telegram = {"bot_token": TOKEN, "secret_token": SECRET, "api_base": stand_in(replies)}
    with (
        tempfile.TemporaryDirectory() as tmp,
        server(
            Path(tmp),
            [{"type": "extractive"}],
            64,
            grounding=False,
            channels={"telegram": telegram},
        ) as url,
    ):
        hooks, rest = asyncio.run(measure(url, replies, args.rounds, args.concurrency))
    lines = [
        "| path (ms) | p50 | p95 | n |",
        "|---|---|---|---|",
        row("Telegram webhook -> reply at the Bot API stand-in", hooks),
        row("REST request -> reply in the response", rest),
        "",
        f"channel overhead (p95 ratio webhook / REST): {pct(hooks, 95) / pct(rest, 95):.2f}x; "
        f"{args.concurrency} conversations at once, {args.rounds} messages each, extractive "
        "provider, no knowledge base, SQLite, one server process.",
    ]
    print("\n".join(lines))
    print(json.dumps({"webhook_p95": pct(hooks, 95), "rest_p95": pct(rest, 95)}))
    if not args.no_append:
        append_results(
            "Webhooks (issue 5)", "python bench/webhooks.py " + " ".join(sys.argv[1:]), lines
        )


if __name__ == "__main__":
    main()
