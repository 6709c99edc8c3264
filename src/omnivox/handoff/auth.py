"""Agents' passwords (argon2id) and console sessions (an HMAC-signed, expiring cookie)."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

COOKIE = "omnivox_console"
SESSION_TTL_S = 8 * 3600
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash (with its own salt and parameters)."""
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches; a malformed hash is a mismatch."""
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def password_matches(stored: str | None, password: str) -> bool:
    """:func:`check_password` in a worker thread: argon2id takes tens of milliseconds.

    With no stored hash (no such agent) a throwaway hash is checked instead and the answer is
    False, so an unknown email takes as long as a wrong password and does not tell itself apart.
    """
    if stored is None:
        await asyncio.to_thread(lambda: check_password(_throwaway_hash(), password))
        return False
    return await asyncio.to_thread(check_password, stored, password)


@functools.cache
def _throwaway_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def sign(key: bytes, purpose: str, value: str) -> str:
    """A URL-safe HMAC-SHA256 of ``value`` for one ``purpose`` (sessions, rating links)."""
    digest = hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Session:
    """Who the cookie says is logged in (and since when, in ms), or why it is not valid."""

    agent_id: str | None
    problem: str | None = None
    issued_ms: int = 0


class Sessions:
    """Issues and checks ``agent_id.expires.issued_ms.signature`` cookies.

    The signature makes a cookie unforgeable; whether the agent logged out since it was issued
    is the console's check (``agents.signed_out_at``), so logging out ends every session.
    """

    def __init__(self, key: bytes, ttl_s: int = SESSION_TTL_S) -> None:
        self.key = key
        self.ttl_s = ttl_s

    def _sign(self, payload: str) -> str:
        return sign(self.key, "console", payload)

    def issue(self, agent_id: str, now: float | None = None) -> str:
        """A cookie value for the agent, valid for ``ttl_s``."""
        at = now or time.time()
        payload = f"{agent_id}.{int(at + self.ttl_s)}.{int(at * 1000)}"
        return f"{payload}.{self._sign(payload)}"

    def check(self, cookie: str | None, now: float | None = None) -> Session:
        """The agent a cookie names, or a problem (missing, forged, expired)."""
        if not cookie:
            return Session(None, "not logged in")
        payload, _, signature = cookie.rpartition(".")
        if not payload or not hmac.compare_digest(self._sign(payload), signature):
            return Session(None, "not a valid session")
        agent_id, expires, issued = [*payload.split("."), "", ""][:3]
        if not (expires.isdigit() and issued.isdigit()) or int(expires) < (now or time.time()):
            return Session(None, "the session expired; log in again")
        return Session(agent_id, issued_ms=int(issued))
