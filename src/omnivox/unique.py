"""Checks the settings share: names in a list, or values across lists, must not repeat."""

from __future__ import annotations

from collections.abc import Iterable


def unique(names: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming the names that repeat (``what`` says what they are)."""
    seen = list(names)
    dupes = sorted({n for n in seen if seen.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(dupes)}")


def first_repeat(keyed: Iterable[tuple[str, str]]) -> tuple[str, str, str] | None:
    """(value, key of its first place, key of its repeat) for the first value that repeats.

    ``keyed`` is (value, config key) pairs, such as every workspace's support addresses.
    """
    first: dict[str, str] = {}
    for value, key in keyed:
        if value in first:
            return value, first[value], key
        first[value] = key
    return None
