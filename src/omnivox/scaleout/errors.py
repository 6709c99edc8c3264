"""The scale-out backend's failure, importable without the Redis client."""

from __future__ import annotations


class CoordinationUnavailableError(Exception):
    """Redis did not answer: a turn cannot be ordered against the other servers' turns."""
