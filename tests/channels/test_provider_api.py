"""A send call's failure rules: retried only when the provider never got the request."""

from __future__ import annotations

import asyncio

import httpx

from omnivox.channels.provider_api import call
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
    assert not isinstance(receipt, tuple)
    assert receipt.status == "failed" and not receipt.retryable
    assert "may be sent" in (receipt.error or "")


async def test_a_request_that_never_reached_the_provider_is_retried() -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=1) as client:
        receipt = await call(client, "sms", "/Messages.json", data={"Body": "hi"})
    assert not isinstance(receipt, tuple)
    assert receipt.status == "failed" and receipt.retryable
