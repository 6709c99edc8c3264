"""One call to a provider's send API, with the failure rules every channel shares.

A connection error, a 429 or a 5xx is a retryable failure: the outbox tries again later, not
before the provider's ``Retry-After`` when it sends one. Any other refusal is final. A request
that was sent but got no answer (a read timeout, a dropped connection) is final too: the
provider may have sent the message, and a customer is better missing one message than getting
it twice (the outbox's rule). The channel decides from the JSON whether the call succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from omnivox.types import DeliveryReceipt


@dataclass(frozen=True, slots=True)
class Answered:
    """The provider's answer: HTTP status, JSON object, and how long it asked us to wait."""

    status: int
    data: dict[str, Any]
    retry_after_s: float | None = None


async def call(
    client: httpx.AsyncClient, channel: str, path: str, **kwargs: Any
) -> Answered | DeliveryReceipt:
    """POST ``path``; the answer or, on a connection error, a retryable receipt."""
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
    wait = retry_after(response.headers.get("retry-after"))
    return Answered(response.status_code, data if isinstance(data, dict) else {}, wait)


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (seconds or an HTTP date), if it is valid."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def refused(
    channel: str,
    status: int,
    error: object,
    retryable: bool = False,
    retry_after_s: float | None = None,
) -> DeliveryReceipt:
    """A failed receipt: retryable on 429 and 5xx (or when the channel says so)."""
    transient = retryable or status == 429 or status >= 500
    return DeliveryReceipt(
        channel,
        "failed",
        error=str(error or f"HTTP {status}"),
        retryable=transient,
        retry_after_s=retry_after_s if transient else None,
    )
