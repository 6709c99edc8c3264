"""How many turns this process is running: background work waits until there are none.

The prepare step reads ahead for a conversation only while no turn is in progress, so the
work it does in a quiet moment never delays a customer who is waiting for an answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Activity:
    """Counts turns in progress (used on the event loop; read from the model's thread)."""

    def __init__(self) -> None:
        self._running = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Count a turn while the block runs."""
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1

    def busy(self) -> bool:
        """True while any turn is in progress."""
        return self._running > 0
