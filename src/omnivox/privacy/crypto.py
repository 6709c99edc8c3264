"""Encryption at rest: AES-256-GCM with a key id on every value, and a key ring.

A value is stored as ``enc:v1:<key id>:<base64(nonce || ciphertext || tag)>``; a value without
the prefix is legacy plaintext (read as is, encrypted by the next ``omnivox keys rotate``). The
key ring holds every key ever used (to read) and one primary (to write). It comes from
``OMNIVOX_KEYRING`` (JSON ``{"primary": id, "keys": {id: base64 key}}``, for a secret manager)
or from ``<data-dir>/keys.json`` (mode 0600), created with a fresh key on first use.

The ring is process-wide because SQLAlchemy column types are: rings installed by several
servers in one process (tests) add their keys, and the last installed primary writes.

Values that must be found by equality (identity addresses) also get a *blind index*: an
HMAC-SHA256 of the value under a key derived from the primary key. A lookup computes the index
under every key in the ring (and the no-key index used while encryption is off), so rows
indexed before a rotation are found until ``omnivox keys rotate`` re-indexes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc:v1:"
ENV = "OMNIVOX_KEYRING"
INDEX_LABEL = b"omnivox:blind-index:v1"


class UnknownKeyError(Exception):
    """A value names a key this ring does not hold."""


@dataclass
class KeyRing:
    """Keys by id; ``primary`` encrypts."""

    keys: dict[str, bytes] = field(default_factory=dict)
    primary: str | None = None

    def encrypt(self, plaintext: str) -> str:
        """The stored form of ``plaintext`` under the primary key."""
        if self.primary is None:
            return plaintext
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.keys[self.primary]).encrypt(nonce, plaintext.encode(), None)
        return f"{PREFIX}{self.primary}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str) -> str:
        """The plaintext of a stored value (legacy plaintext is returned as is)."""
        if not stored.startswith(PREFIX):
            return stored
        kid, _, blob = stored[len(PREFIX) :].partition(":")
        key = self.keys.get(kid)
        if key is None:
            raise UnknownKeyError(f"no key {kid!r} in the key ring (was keys.json replaced?)")
        raw = base64.b64decode(blob)
        return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode()

    def index(self, value: str) -> str:
        """The blind index of ``value`` under the primary key (hex)."""
        return _index(self.keys[self.primary] if self.primary else None, value)

    def indexes(self, value: str) -> list[str]:
        """Every index ``value`` may be stored under: one per key, and the no-key one."""
        return [_index(key, value) for key in self.keys.values()] + [_index(None, value)]

    def key_id(self, stored: str) -> str | None:
        """The key a stored value was encrypted with (None for plaintext)."""
        return stored[len(PREFIX) :].partition(":")[0] if stored.startswith(PREFIX) else None

    def add(self, other: KeyRing) -> None:
        """Take ``other``'s keys and primary."""
        self.keys.update(other.keys)
        self.primary = other.primary or self.primary


RING = KeyRing()  # the process-wide ring the column types use


def _index(key: bytes | None, value: str) -> str:
    derived = hmac.new(key, INDEX_LABEL, hashlib.sha256).digest() if key else INDEX_LABEL
    return hmac.new(derived, value.encode(), hashlib.sha256).hexdigest()


def new_key_id() -> str:
    """A fresh key id."""
    return "k" + secrets.token_hex(4)


def load_ring(data_dir: str, environ: dict[str, str] | None = None) -> KeyRing:
    """The ring from ``OMNIVOX_KEYRING`` or ``<data_dir>/keys.json`` (created when missing)."""
    env = os.environ if environ is None else environ
    if env.get(ENV):
        return _parse(json.loads(env[ENV]))
    path = Path(data_dir) / "keys.json"
    if not path.exists():
        kid = new_key_id()
        save_ring(path, KeyRing({kid: AESGCM.generate_key(bit_length=256)}, kid))
    return _parse(json.loads(path.read_text()))


def save_ring(path: Path, ring: KeyRing) -> None:
    """Write ``keys.json`` (0600), replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "primary": ring.primary,
        "keys": {k: base64.b64encode(v).decode() for k, v in ring.keys.items()},
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    tmp.replace(path)


def _parse(data: dict[str, object]) -> KeyRing:
    keys = data.get("keys")
    if not isinstance(keys, dict) or not keys:
        raise ValueError("a key ring needs {'primary': id, 'keys': {id: base64 key}}")
    ring = KeyRing({str(k): base64.b64decode(str(v)) for k, v in keys.items()})
    primary = str(data.get("primary") or next(iter(ring.keys)))
    if primary not in ring.keys:
        raise ValueError(f"the primary key {primary!r} is not in the ring")
    ring.primary = primary
    return ring


def install(ring: KeyRing) -> None:
    """Make ``ring``'s keys readable and its primary the writer, process-wide."""
    RING.add(ring)
