"""One call to a provider's send API, with the failure rules every channel shares.

A connection error, a 429 or a 5xx is a retryable failure (the outbox tries again later); any
other refusal is final. A request that was sent but got no answer (a read timeout, a dropped
connection) is final too: the provider may have sent the message, and a customer is better
missing one message than getting it twice (the outbox's rule). The channel decides from the
JSON whether the call succeeded.
"""

from __future__ import annotations

from typing import Any

import httpx

from omnivox.types import DeliveryReceipt


async def call(
    client: httpx.AsyncClient, channel: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, Any]] | DeliveryReceipt:
    """POST ``path``; (status, JSON object) or, on a connection error, a retryable receipt."""
    try:
        response = await client.post(path, **kwargs)
    except (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
        error = f"no answer after the request was sent ({exc!r}); not retried: it may be sent"
        return DeliveryReceipt(channel, "failed", error=error, retryable=False)
    except httpx.TransportError as exc:  # never reached the provider: safe to try again
        return DeliveryReceipt(channel, "failed", error=repr(exc), retryable=True)
    try:
        data = response.json()
    except ValueError:
        data = {}
    return response.status_code, data if isinstance(data, dict) else {}


def refused(channel: str, status: int, error: object, retryable: bool = False) -> DeliveryReceipt:
    """A failed receipt: retryable on 429 and 5xx (or when the channel says so)."""
    transient = retryable or status == 429 or status >= 500
    return DeliveryReceipt(
        channel, "failed", error=str(error or f"HTTP {status}"), retryable=transient
    )
