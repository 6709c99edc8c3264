"""The server's signing key (verification codes, signed links).

``server.secret_key`` when set; otherwise a random key created once in
``<data-dir>/secret.key`` (mode 0600) and reused, so links survive a restart.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def stored_key(data_dir: str) -> bytes | None:
    """The key kept in ``<data_dir>/secret.key``, if there is one (even when one is configured).

    Erasure records were keyed with the signing key until 2026-12-05: one made before
    ``server.secret_key`` was set is found under this one.
    """
    path = Path(data_dir) / "secret.key"
    return path.read_bytes().strip() if path.exists() else None


def load_or_create_key(data_dir: str, configured: str = "") -> bytes:
    """The configured key, or the one stored under ``data_dir`` (created on first use)."""
    if configured:
        return configured.encode()
    path = Path(data_dir) / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
