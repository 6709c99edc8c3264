"""Without ``redis.url`` a server is on its own: in-memory backends, and no Redis client loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from omnivox.bus.peers import NoPeers
from omnivox.locks.memory import MemoryKeyedLock
from omnivox.ratelimit import MemoryWindows
from omnivox.services import build_services
from tests.conftest import ROOT, make_settings


def test_one_server_keeps_everything_in_memory(tmp_path: Path) -> None:
    services = build_services(make_settings(tmp_path))
    coord = services.coordination
    assert coord.backend == "memory" and coord.pinger is None
    assert isinstance(coord.locks, MemoryKeyedLock)
    assert isinstance(coord.windows, MemoryWindows)
    assert isinstance(coord.peers, NoPeers)
    assert services.turns.windows is coord.windows


def test_the_redis_client_is_imported_only_when_configured(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from omnivox.app import create_app\n"
        "from omnivox.settings import load_settings\n"
        f"settings = load_settings({str(ROOT / 'examples/acme/omnivox.yaml')!r})\n"
        "create_app(settings)\n"
        "print('redis' in sys.modules)\n"
    )
    env = {"OMNIVOX_DATA_DIR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin"}
    alone = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert alone.stdout.split()[-1] == "False", alone.stderr
    env["OMNIVOX_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    shared = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert shared.stdout.split()[-1] == "True", shared.stderr
