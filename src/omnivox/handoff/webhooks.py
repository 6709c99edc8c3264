"""Outbound webhooks: external help desks hear about handoffs as they happen, in order.

Each configured URL (``handoff.webhooks``) gets a JSON POST for ``handoff.created`` and
``handoff.updated`` (claimed, resolved, returned): ``{"event", "workspace", "handoff",
"sent_at"}``. The request is signed like Stripe's and Slack's: ``X-Omnivox-Timestamp`` (Unix
seconds) and ``X-Omnivox-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the
webhook's secret>``; receivers should also refuse timestamps older than five minutes. A failed
delivery (connection error, 5xx, 429) is tried again after 1 s and 5 s, then logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from omnivox.logs import get_logger
from omnivox.settings import HandoffWebhook

log = get_logger(__name__)
EVENTS = {"handoff": "handoff.created", "update": "handoff.updated"}
RETRY_DELAYS_S = (1.0, 5.0)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Omnivox-Signature`` value for a body sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSender:
    """Posts handoff events to each workspace's configured URLs, in the background."""

    def __init__(
        self, hooks: Mapping[str, Sequence[HandoffWebhook]], timeout_s: float = 10
    ) -> None:
        self.hooks = hooks
        self.timeout_s = timeout_s
        # one queue and one worker per URL: a help desk receives events in the order they happened
        self._queues: dict[str, asyncio.Queue[tuple[HandoffWebhook, bytes]]] = {}
        self._workers: set[asyncio.Task[None]] = set()

    def __call__(self, workspace_id: str, event: dict[str, Any]) -> None:
        """A console-bus listener: queue the deliveries for a handoff event."""
        name = EVENTS.get(str(event.get("type")))
        if name is None:
            return
        body = json.dumps(
            {
                "event": name,
                "workspace": workspace_id,
                "handoff": event.get("handoff"),
                "sent_at": int(time.time()),
            }
        ).encode()
        for hook in self.hooks.get(workspace_id, ()):
            self._queue(hook.url).put_nowait((hook, body))

    def _queue(self, url: str) -> asyncio.Queue[tuple[HandoffWebhook, bytes]]:
        queue = self._queues.get(url)
        if queue is None:
            queue = self._queues[url] = asyncio.Queue()
            worker = asyncio.create_task(self._work(queue))
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        return queue

    async def _work(self, queue: asyncio.Queue[tuple[HandoffWebhook, bytes]]) -> None:
        while True:
            hook, body = await queue.get()
            try:
                await self._deliver(hook, body)
            finally:
                queue.task_done()

    async def _deliver(self, hook: HandoffWebhook, body: bytes) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for delay in (0.0, *RETRY_DELAYS_S):
                await asyncio.sleep(delay)
                timestamp = str(int(time.time()))
                headers = {
                    "content-type": "application/json",
                    "X-Omnivox-Timestamp": timestamp,
                    "X-Omnivox-Signature": signature(
                        hook.secret.get_secret_value(), timestamp, body
                    ),
                }
                try:
                    response = await client.post(hook.url, content=body, headers=headers)
                except httpx.TransportError as exc:
                    log.warning("handoff.webhook_failed", url=hook.url, error=repr(exc))
                    continue
                if response.status_code < 500 and response.status_code != 429:
                    if response.status_code >= 400:
                        log.warning(
                            "handoff.webhook_refused", url=hook.url, status=response.status_code
                        )
                    return
                log.warning("handoff.webhook_failed", url=hook.url, status=response.status_code)
        log.error("handoff.webhook_gave_up", url=hook.url)

    async def close(self, drain_s: float = 5.0) -> None:
        """Deliver what is queued (up to ``drain_s``), then stop the workers."""
        drained = asyncio.gather(*(q.join() for q in self._queues.values()))
        try:
            await asyncio.wait_for(drained, drain_s)
        except TimeoutError:
            log.warning(
                "handoff.webhook_undelivered", queued=sum(q.qsize() for q in self._queues.values())
            )
        for worker in list(self._workers):
            worker.cancel()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
