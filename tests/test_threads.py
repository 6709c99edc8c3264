"""Process-wide thread settings: OpenMP's spin after a parallel region (omnivox.threads)."""

from __future__ import annotations

import os
import subprocess
import sys

# libgomp reads GOMP_SPINCOUNT once, when it loads: importing omnivox must set it before
# llama_cpp (or faiss) is imported, and a value the operator set must win
PROBE = "import omnivox, os; import llama_cpp; print(os.environ['GOMP_SPINCOUNT'])"


def _spincount(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_importing_omnivox_shortens_openmps_spin() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    assert _spincount(env) == "30000"


def test_an_operators_spin_count_is_kept() -> None:
    assert _spincount({**os.environ, "GOMP_SPINCOUNT": "INFINITY"}) == "INFINITY"
