"""Per-key locks that keep each conversation's turns in order."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class KeyedLock(Protocol):
    """``async with lock.hold(key):`` runs one holder per key at a time."""

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Context manager that holds ``key`` exclusively."""
        ...
