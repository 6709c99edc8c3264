"""One check the settings models share: names in a list must not repeat."""

from __future__ import annotations

from collections.abc import Iterable


def unique(names: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming the names that repeat (``what`` says what they are)."""
    seen = list(names)
    dupes = sorted({n for n in seen if seen.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(dupes)}")
