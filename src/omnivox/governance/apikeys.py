"""API keys: ``ovx_<id>_<secret>``, shown once, stored as a SHA-256 hash of the secret.

The secret is 256 random bits, so a plain SHA-256 is as good as a slow password hash here and
costs microseconds per request. A key names one workspace and one role. Checked keys are
remembered for ``CACHE_S`` seconds, so a key revoked from another process (``omnivox keys
revoke``) stops working within that time; revoking through this process takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from omnivox.governance.rbac import Role
from omnivox.storage.db import Database
from omnivox.storage.models import ApiKey
from omnivox.types import utcnow

PREFIX = "ovx_"
CACHE_S = 5.0
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


def secret_hash(secret: str) -> str:
    """The stored form of a key's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed token, else None."""
    if not token.startswith(PREFIX):
        return None
    short, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or len(short) != 12 or not secret or len(secret) > 100:
        return None
    try:
        int(short, 16)
    except ValueError:
        return None
    return f"key_{short}", secret


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid key says is calling: its workspace and role."""

    key_id: str
    workspace_id: str
    role: Role

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"key:{self.key_id}"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as listed (never its secret)."""

    id: str
    workspace_id: str
    role: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal | None
    secret_hash: str
    checked: float


class ApiKeyStore:
    """Create, list, revoke and check keys."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, _Cached] = {}
        self._touched: dict[str, datetime] = {}

    async def create(self, workspace_id: str, role: Role, name: str) -> tuple[KeyInfo, str]:
        """A new key and its token; the token is not stored and cannot be shown again."""
        short = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        row = ApiKey(
            id=f"key_{short}",
            workspace_id=workspace_id,
            role=role.value,
            name=name,
            secret_hash=secret_hash(secret),
            created_at=utcnow(),
        )
        async with self.db.sessions.begin() as session:
            session.add(row)
        return _info(row), f"{PREFIX}{short}_{secret}"

    async def seed(self, workspace_id: str, role: Role, name: str, token: str) -> bool:
        """Store a chosen key if its id is new (a revoked seed stays revoked); True if added."""
        parts = split_token(token)
        if parts is None:
            raise ValueError("not an Omnivox API key")
        key_id, secret = parts
        async with self.db.sessions.begin() as session:
            if await session.get(ApiKey, key_id) is not None:
                return False
            session.add(
                ApiKey(
                    id=key_id,
                    workspace_id=workspace_id,
                    role=role.value,
                    name=name,
                    secret_hash=secret_hash(secret),
                    created_at=utcnow(),
                )
            )
        return True

    async def keys(self, workspace_id: str | None = None) -> list[KeyInfo]:
        """Every key (of one workspace), oldest first, revoked ones included."""
        query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if workspace_id is not None:
            query = query.where(ApiKey.workspace_id == workspace_id)
        async with self.db.sessions() as session:
            return [_info(r) for r in (await session.execute(query)).scalars()]

    async def revoke(self, key_id: str, workspace_id: str | None = None) -> KeyInfo | None:
        """Revoke a key (idempotent); None when there is no such key (in that workspace)."""
        async with self.db.sessions.begin() as session:
            row = await session.get(ApiKey, key_id)
            if row is None or (workspace_id is not None and row.workspace_id != workspace_id):
                return None
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            info = _info(row)
        self._cache.pop(key_id, None)
        return info

    async def check(self, token: str) -> Principal | None:
        """The key's principal when ``token`` is a live key, else None."""
        parts = split_token(token)
        if parts is None:
            return None
        key_id, secret = parts
        cached = self._cache.get(key_id)
        if cached is None or time.monotonic() - cached.checked > CACHE_S:
            cached = await self._load(key_id)
        if cached.principal is None or not hmac.compare_digest(
            cached.secret_hash, secret_hash(secret)
        ):
            return None
        await self._touch(key_id)
        return cached.principal

    async def _load(self, key_id: str) -> _Cached:
        async with self.db.sessions() as session:
            row = await session.get(ApiKey, key_id)
        principal = None
        if row is not None and row.revoked_at is None:
            principal = Principal(row.id, row.workspace_id, Role(row.role))
        # a missing key still gets a hash to compare against, so timing does not tell
        cached = _Cached(principal, row.secret_hash if row else "0" * 64, time.monotonic())
        if row is not None:
            self._cache[key_id] = cached
        return cached

    async def _touch(self, key_id: str) -> None:
        now = utcnow()
        last = self._touched.get(key_id)
        if last is not None and now - last < TOUCH_EVERY:
            return
        self._touched[key_id] = now
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
            )


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        row.id,
        row.workspace_id,
        row.role,
        row.name,
        row.created_at,
        row.last_used_at,
        row.revoked_at,
    )
