"""Column types that store values encrypted (:mod:`omnivox.privacy.crypto`).

``EncryptedText`` keeps a string column a string; ``EncryptedJSON`` keeps a JSON column JSON
(the ciphertext is a JSON string), so neither needs a schema change and plaintext rows written
before encryption still read.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from omnivox.privacy.crypto import RING


class EncryptedText(TypeDecorator[str]):
    """A text column encrypted with the key ring's primary key."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Encrypt on the way in."""
        return None if value is None else RING.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        """Decrypt on the way out."""
        return None if value is None else RING.decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON column whose document is stored encrypted (as one JSON string)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Serialize, then encrypt."""
        if value is None or RING.primary is None:
            return value
        return RING.encrypt(json.dumps(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """Decrypt and parse; a legacy (plaintext) document is returned as is."""
        if isinstance(value, str) and value.startswith("enc:v1:"):
            return json.loads(RING.decrypt(value))
        return value
