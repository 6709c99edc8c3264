"""Intent training data: inline examples from ``omnivox.yaml`` plus an optional CSV file."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from omnivox.settings import ConfigError
from omnivox.understanding.config import IntentSpec
from omnivox.understanding.intents import Example


def read_csv(path: Path, key: str = "intents_csv") -> list[Example]:
    """Rows of a ``text,intent`` CSV (a BANKING77-style ``text,category`` also works)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or ())
            label = "intent" if "intent" in columns else "category"
            if "text" not in columns or label not in columns:
                raise ConfigError(str(path), key, "a CSV with columns text,intent")
            return [
                Example(row["text"].strip(), row[label].strip())
                for row in reader
                if row["text"] and row[label]
            ]
    except OSError as exc:
        raise ConfigError(str(path), key, f"a readable CSV file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), key, "a UTF-8 CSV file (save it as UTF-8)") from None
    except csv.Error as exc:
        raise ConfigError(str(path), key, f"a well-formed CSV file ({exc})") from None


def workspace_examples(specs: Sequence[IntentSpec], csv_rows: Sequence[Example]) -> list[Example]:
    """Inline examples first, then CSV rows (sorted, so the data hash is order-independent)."""
    rows = [Example(text, spec.name) for spec in specs for text in spec.examples]
    rows.extend(csv_rows)
    return sorted(set(rows), key=lambda ex: (ex.intent, ex.text))
