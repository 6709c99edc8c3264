"""The turn service's rate limits, on a fake clock: what counts, what is exempt, isolation."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from omnivox.locks.memory import MemoryKeyedLock
from omnivox.ratelimit import MemoryWindows
from omnivox.turns import RateLimitedError, TurnService
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import make_settings

LIMITS = {"per_customer_per_minute": 3, "per_workspace_per_minute": 5}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sink:
    def emit(self, record: Any) -> None:
        pass


def service(tmp_path: Path, clock: Clock, **limits: int) -> TurnService:
    workspaces = [
        {"id": ws, "name": ws, "limits": {**LIMITS, **limits}} for ws in ("acme", "globex")
    ]
    return TurnService(
        make_settings(tmp_path, workspaces=workspaces),
        Sink(),  # type: ignore[arg-type]
        MemoryKeyedLock(),
        [],
        windows=MemoryWindows(clock=clock, max_keys=50),
    )


def message(
    sender: str, text: str = "hello", workspace: str = "acme", channel: str = "api"
) -> InboundMessage:
    return InboundMessage(workspace, channel, CustomerRef(sender), text)


async def test_a_message_the_workspace_refuses_does_not_count_for_its_customer(
    tmp_path: Path,
) -> None:
    clock = Clock()
    turns = service(tmp_path, clock)
    for n in range(5):
        await turns.handle(message(f"crowd-{n}"), None)  # type: ignore[arg-type]
    clock.now += 30
    for _ in range(3):
        with pytest.raises(RateLimitedError, match="to this service"):
            await turns.handle(message("victim"), None)  # type: ignore[arg-type]
    clock.now += 31  # the crowd's minute is over; the victim was never served
    for _ in range(3):
        await turns.handle(message("victim"), None)  # type: ignore[arg-type]


async def test_an_sms_stop_is_never_rate_limited(tmp_path: Path) -> None:
    turns = service(tmp_path, Clock())
    for _ in range(3):
        await turns.handle(message("+15550100142", channel="sms"), None)  # type: ignore[arg-type]
    with pytest.raises(RateLimitedError):
        await turns.handle(message("+15550100142", channel="sms"), None)  # type: ignore[arg-type]
    await turns.handle(message("+15550100142", "STOP", channel="sms"), None)  # type: ignore[arg-type]


async def test_a_flood_in_one_workspace_does_not_free_anothers_customers(tmp_path: Path) -> None:
    turns = service(tmp_path, Clock())
    for _ in range(3):
        await turns.handle(message("limited"), None)  # type: ignore[arg-type]
    for n in range(200):  # far beyond the limiters' 50 keys, all refused but five
        with contextlib.suppress(RateLimitedError):
            await turns.handle(message(f"flood-{n}", workspace="globex"), None)  # type: ignore[arg-type]
    with pytest.raises(RateLimitedError, match="from you"):
        await turns.handle(message("limited"), None)  # type: ignore[arg-type]


async def test_a_retry_of_the_same_provider_message_counts_once(tmp_path: Path) -> None:
    """A webhook answered 503 (not stored yet, Redis faltering) after its message was admitted:
    the provider's retry of that message takes no second slot of the customer's minute."""
    turns = service(tmp_path, Clock())

    def sent(provider_id: str) -> InboundMessage:
        return InboundMessage(
            "acme", "telegram", CustomerRef("42"), "hello", provider_message_id=provider_id
        )

    await turns.admit(sent("42:101"))
    await turns.admit(sent("42:101"))  # the retry: was counted again
    await turns.admit(sent("42:102"))
    await turns.admit(sent("42:103"))  # was refused: four counted of three
    await turns.admit(sent("42:101"))  # a late retry of an admitted one, the minute full
    with pytest.raises(RateLimitedError, match="from you"):
        await turns.admit(sent("42:104"))


async def test_a_web_chat_client_cannot_escape_its_address_limit_with_new_ipv6_addresses(
    tmp_path: Path,
) -> None:
    """An IPv6 client holds a whole /64: each new address (and visitor id) was a fresh minute.
    An IPv4-mapped address counts as the IPv4 one."""
    turns = service(tmp_path, Clock(), webchat_per_address_per_minute=2)

    async def chat(visitor: str, address: str) -> None:
        await turns.admit(message(visitor, channel="webchat"), client_address=address)

    await chat("v1", "2001:db8:1:2::1")
    await chat("v2", "2001:DB8:1:2:ffff::7")
    with pytest.raises(RateLimitedError, match="from your network"):
        await chat("v3", "2001:db8:1:2:abcd::9")
    await chat("v4", "2001:db8:1:3::1")  # another /64: another subscriber
    await chat("v5", "::ffff:192.0.2.1")
    await chat("v6", "192.0.2.1")
    with pytest.raises(RateLimitedError, match="from your network"):
        await chat("v7", "::ffff:192.0.2.1")
