"""Unmerge on SQLite and PostgreSQL: what it gives back, and what it may not race with."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from omnivox.services import Services
from omnivox.storage import audit
from omnivox.storage.identities import IdentityStore, MergeError
from omnivox.storage.models import Event


@pytest.fixture(autouse=True)
def audit_lock_of_this_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh audit lock: the module's binds to the first event loop it is contended on.

    These tests append audit entries concurrently; each test has its own event loop.
    """
    monkeypatch.setattr(audit, "_LOCK", asyncio.Lock())


async def customer(services: Services, address: str) -> str:
    cid, _ = await services.store.resolve_customer("acme", "webchat", address, verified=True)
    return cid


async def kinds_of_events(services: Services) -> list[str]:
    async with services.db.sessions() as session:
        rows = await session.execute(select(Event.type).order_by(Event.id))
        return [r[0] for r in rows]


async def test_two_unmerges_at_once_undo_the_merge_once(services: Services) -> None:
    store = IdentityStore(services.db)
    for n in range(5):  # on PostgreSQL both passed the check before either wrote, every time
        a, b = await customer(services, f"v_twice_a{n}"), await customer(services, f"v_twice_b{n}")
        await store.merge("acme", a, b, {"by": "agent"})
        results = await asyncio.gather(
            store.unmerge("acme", a, {"reason": "x"}),
            store.unmerge("acme", a, {"reason": "y"}),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, MergeError)]
        assert len(refused) == 1 and refused[0].code == "not_merged", results
    assert (await kinds_of_events(services)).count("customer.unmerged") == 5


async def test_an_unmerge_racing_a_merge_of_its_holder_takes_its_rows_back(
    services: Services,
) -> None:
    """A into B; then unmerge A while B is merged into C: A gets its own visitor id back."""
    store = IdentityStore(services.db)
    for n in range(5):
        a, b, c = [await customer(services, f"v_race_{x}{n}") for x in "abc"]
        await store.merge("acme", a, b, {"by": "agent"})
        results = await asyncio.gather(
            store.unmerge("acme", a, {"reason": "two people"}),
            store.merge("acme", b, c, {"by": "agent"}),
            return_exceptions=True,
        )
        assert not [r for r in results if isinstance(r, BaseException)], results
        profile = await store.profile("acme", a)
        assert profile is not None and profile.merged_into is None
        assert await services.store.identity_owner("acme", "webchat", f"v_race_a{n}") == a
        assert await services.store.identity_owner("acme", "webchat", f"v_race_b{n}") == c
