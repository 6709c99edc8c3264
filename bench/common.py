"""Helpers shared by the benchmarks: percentiles, a server subprocess, RESULTS.md."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
# the benches' REST key, seeded into their workspace (seed.api_keys) like the demo's tour key
BENCH_KEY = "ovx_00000000bead_bench-key-not-a-secret"
AUTH = {"Authorization": f"Bearer {BENCH_KEY}"}
# the environment the bench was started with, before importing omnivox set its defaults in it
# (GOMP_SPINCOUNT): each server sets its own, so that a baseline tree runs with its own default
LAUNCH_ENV = dict(os.environ)
assert "omnivox" not in sys.modules, "import common before omnivox (LAUNCH_ENV)"


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def machine() -> str:
    """CPU model, cores and Python, for the results file."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def free_port() -> int:
    """An unused port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(
    workdir: Path,
    providers: list[dict[str, object]],
    max_tokens: int,
    knowledge_paths: list[str] | None = None,
    grounding: bool = True,
    channels: dict[str, object] | None = None,
    smtp_listen: str = "off",
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """``omnivox serve`` in a subprocess with one workspace and this provider chain.

    ``env`` adds to the server's environment (``PYTHONPATH`` to run another source tree).
    """
    port = free_port()
    config = {
        "data_dir": str(workdir / "var"),
        "log_level": "warning",
        "server": {"host": "127.0.0.1", "port": port, "smtp_listen": smtp_listen},
        "llm": {"providers": providers, "max_tokens": max_tokens, "temperature": 0.0},
        "guardrails": {"grounding": grounding},
        "workspaces": [
            {
                "id": "acme",
                "name": "Acme Outfitters",
                "persona": {"name": "Juniper", "brand": "Acme Outfitters"},
                "knowledge_paths": knowledge_paths or [],
                "channels": channels or {},
                # benches send hundreds of messages a minute from one sender on purpose
                "limits": {
                    "per_customer_per_minute": 100_000,
                    "per_workspace_per_minute": 100_000,
                    "webchat_per_address_per_minute": 100_000,
                },
                "seed": {"api_keys": [{"name": "bench", "role": "admin", "key": BENCH_KEY}]},
            }
        ],
    }
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "omnivox.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnivox", "serve", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**LAUNCH_ENV, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def append_results(title: str, command: str, lines: list[str]) -> None:
    """Append one dated section to bench/RESULTS.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [
        f"\n## {title} — {stamp}",
        "",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        "",
        *lines,
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(block))


def report(title: str, lines: list[str], *, append: bool) -> None:
    """Print ``lines``; with ``append``, add them to RESULTS.md with the command that ran."""
    print("\n".join(lines))
    if append:
        command = f"python bench/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:])
        append_results(title, command.strip(), lines)


def row(label: str, times: Sequence[float]) -> str:
    """One results-table row: p50, p95, n."""
    return f"| {label} | {pct(times, 50):.1f} | {pct(times, 95):.1f} | {len(times)} |"


async def rest_conversation(
    client: httpx.AsyncClient, url: str, customer: str, rounds: int
) -> list[float]:
    """The REST baseline: ``rounds`` questions from one customer, each timed to its reply (ms)."""
    times = []
    for n in range(rounds):
        body = {
            "workspace": "acme",
            "customer": {"id": customer},
            "text": f"What is your return policy? ({n})",
        }
        started = time.perf_counter()
        (await client.post(f"{url}/api/v1/messages", json=body)).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times
