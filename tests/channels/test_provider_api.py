"""A send call's failure rules: retried only when the provider never got the request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx

from omnivox.channels.provider_api import call, refused, retry_after
from omnivox.types import DeliveryReceipt
from tests.conftest import free_port


async def test_a_request_sent_but_unanswered_is_not_retried() -> None:
    received: list[bytes] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))  # the provider has it, and never answers
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=0.3) as client:
            receipt = await call(client, "sms", "/Messages.json", data={"Body": "hi"})
    finally:
        server.close()
    assert received and b"Body=hi" in received[0]
    assert isinstance(receipt, DeliveryReceipt)
    assert receipt.status == "failed" and not receipt.retryable
    assert "may be sent" in (receipt.error or "")


async def test_a_request_that_never_reached_the_provider_is_retried() -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=1) as client:
        receipt = await call(client, "sms", "/Messages.json", data={"Body": "hi"})
    assert isinstance(receipt, DeliveryReceipt)
    assert receipt.status == "failed" and receipt.retryable


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("120") == 120.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 <= (retry_after(later) or 0) <= 90
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=90), usegmt=True)
    assert retry_after(earlier) == 0.0
    assert retry_after("soon") is None and retry_after(None) is None and retry_after("") is None


async def test_a_429_carries_the_wait_the_provider_asked_for() -> None:
    async def limited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(limited, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            answered = await call(client, "sms", "/Messages.json", data={"Body": "hi"})
    finally:
        server.close()
    assert not isinstance(answered, DeliveryReceipt)
    assert (answered.status, answered.retry_after_s) == (429, 30.0)
    receipt = refused("sms", answered.status, "slow down", retry_after_s=answered.retry_after_s)
    assert receipt.retryable and receipt.retry_after_s == 30.0
