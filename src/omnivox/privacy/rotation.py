"""Key rotation: a new primary key, and every encrypted value re-encrypted with it.

``rotate`` adds a key, makes it primary and saves the ring *before* touching rows, so old
values stay readable throughout. Rows are re-encrypted in batches, each committed on its own;
an interrupted run is finished by ``resume`` (the same work with the current primary). Legacy
plaintext rows are encrypted on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, cast, select
from sqlalchemy.orm.attributes import flag_modified

from omnivox.privacy.crypto import PREFIX, RING, KeyRing, new_key_id, save_ring
from omnivox.storage.db import Database
from omnivox.storage.encrypted import EncryptedJSON, EncryptedText
from omnivox.storage.models import Base, Identity


def _encrypted_columns() -> tuple[tuple[Any, str], ...]:
    """(model, attribute) of every column stored encrypted, identities' addresses last.

    Found from the models' column types, so a new encrypted column is rotated too (the
    knowledge base's chunk metadata was missed by a hand-kept list until 2026-12-05, and
    removing an old key then broke search).
    """
    found = [
        (mapper.class_, prop.key)
        for mapper in Base.registry.mappers
        for prop in mapper.column_attrs
        if isinstance(prop.columns[0].type, EncryptedText | EncryptedJSON)
    ]
    # rewriting an address also re-computes its blind index under the primary key
    return tuple(sorted(found, key=lambda c: (c[0] is Identity, c[0].__tablename__, c[1])))


ENCRYPTED: tuple[tuple[Any, str], ...] = _encrypted_columns()


def new_primary(ring: KeyRing, path: Path) -> str:
    """Add a fresh key as primary and save the ring; returns its id."""
    kid = new_key_id()
    ring.keys[kid] = AESGCM.generate_key(bit_length=256)
    ring.primary = kid
    save_ring(path, ring)
    return kid


async def resume(
    db: Database, batch: int = 500, progress: Callable[[str, int], None] | None = None
) -> int:
    """Re-encrypt every value not yet under the primary key; returns how many rows changed."""
    assert RING.primary is not None, "no key ring installed"
    marker = f"%{PREFIX}{RING.primary}:%"
    changed = 0
    for model, attribute in ENCRYPTED:
        column = getattr(model, attribute)
        while True:
            async with db.sessions.begin() as session:
                rows = list(
                    (
                        await session.execute(
                            select(model)
                            .where(column.is_not(None), cast(column, String).not_like(marker))
                            .limit(batch)
                        )
                    ).scalars()
                )
                for row in rows:
                    flag_modified(row, attribute)  # written back under the primary key
            changed += len(rows)
            if progress is not None and rows:
                progress(f"{model.__tablename__}.{attribute}", len(rows))
            if len(rows) < batch:
                break
    return changed


async def index_identities(db: Database, batch: int = 500) -> int:
    """Give identities stored before blind indexes their index and ciphertext (at start)."""
    changed = 0
    while True:
        async with db.sessions.begin() as session:
            rows = list(
                (
                    await session.execute(
                        select(Identity).where(Identity.address_hash.is_(None)).limit(batch)
                    )
                ).scalars()
            )
            for row in rows:
                flag_modified(row, "address")
        changed += len(rows)
        if len(rows) < batch:
            return changed
