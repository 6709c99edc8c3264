"""Per-key locks that keep each conversation's turns in order."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class KeyedLock(Protocol):
    """``async with lock.hold(key):`` runs one holder per key at a time."""

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Context manager that holds ``key`` exclusively."""
        ...


def customer_key(workspace_id: str, customer_id: str) -> str:
    """The key a customer's turns hold (identify), and an unmerge of the customer too."""
    return f"{workspace_id}:customer:{customer_id}"
