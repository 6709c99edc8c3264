"""Where the pipeline's own time goes: per-step Server-Timing of REST turns, one at a time.

Starts ``omnivox serve`` with the extractive provider (no model time to speak of;
``--provider llamacpp`` for the bundled model), no knowledge base and no grounding, like
``bench/turn_latency.py``'s overhead rows, and sends ``--turns`` REST messages one after
another. At the end the script prints, for every pipeline step, p50 and p95 of its
``Server-Timing`` duration, and the overhead (client round trip minus ``generate``) p50/p95.

Two kinds of turn: ``new`` (every message from a new customer: identify creates a customer,
attach a conversation) and ``returning`` (one customer keeps writing, with ``--gap-ms`` between
messages).

``--baseline-src DIR`` runs the same measurement against another source tree (for instance
``git worktree add /tmp/old REV`` then ``--baseline-src /tmp/old/src``) in the same run,
alternating rounds between the two servers, so the figures compare on equal terms on a noisy
machine. The ratio column is this tree's p50 over the baseline's.

``--env KEY=VALUE`` sets a variable for this tree's server only: with ``--baseline-src src`` it
measures that variable alone (for instance ``GOMP_SPINCOUNT``, llama.cpp's OpenMP spinning).

With two servers on one machine, a round pauses ``--settle-s`` after each server's share: with
the bundled model, a returning customer's conversation is folded into its summary in the
background (every tenth turn, seconds of model time), and a fold running beside the other
server's turns made some of them take seconds (two llama.cpp processes on 2 cores).

Usage: python bench/overhead.py [--turns 200] [--rounds 4] [--baseline-src DIR] [--env K=V]
       [--provider extractive|llamacpp] [--settle-s 5] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import AUTH, ROOT, pct, report, server
from turn_latency import QUESTIONS  # the same Acme questions as the turn latency rows

Timings = dict[str, list[float]]


async def turns(url: str, count: int, kind: str, gap_s: float, offset: int) -> Timings:
    """``count`` REST turns one at a time; per-step and overhead durations in ms."""
    out: Timings = {}
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
        for i in range(count):
            customer = f"new-{offset + i}" if kind == "new" else "returning"
            body = {
                "workspace": "acme",
                "customer": {"id": customer},
                "text": QUESTIONS[i % len(QUESTIONS)],
            }
            if gap_s:
                await asyncio.sleep(gap_s)
            started = time.perf_counter()
            response = await client.post("/api/v1/messages", json=body)
            took = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            for part in response.headers["Server-Timing"].split(","):
                name, _, dur = part.strip().partition(";dur=")
                out.setdefault(name, []).append(float(dur))
            out.setdefault("overhead", []).append(took - out["generate"][-1])
    return out


def merge(into: Timings, more: Timings) -> None:
    """Append ``more``'s samples to ``into``."""
    for key, values in more.items():
        into.setdefault(key, []).extend(values)


def table(kind: str, ours: Timings, base: Timings | None) -> list[str]:
    """One markdown table: overhead and total first, then steps by p50, slowest first."""
    head = "| step | p50 | p95 |" + (" baseline p50 | baseline p95 | p50 ratio |" if base else "")
    lines = [f"**{kind} customers** (ms)", "", head, "|---" * (6 if base else 3) + "|"]
    steps = sorted(
        (k for k in ours if k not in ("overhead", "total")), key=lambda k: -pct(ours[k], 50)
    )
    for key in ["overhead", "total", *steps]:
        cells = f"| {key} | {pct(ours[key], 50):.2f} | {pct(ours[key], 95):.2f} |"
        if base is not None and key in base:
            b50 = pct(base[key], 50)
            ratio = f"{pct(ours[key], 50) / b50:.2f}" if b50 > 0.05 else "-"  # too small to say
            cells += f" {b50:.2f} | {pct(base[key], 95):.2f} | {ratio} |"
        lines.append(cells)
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=200, help="turns per kind and server")
    parser.add_argument("--rounds", type=int, default=4, help="alternations between servers")
    parser.add_argument("--gap-ms", type=float, default=0.0, help="pause before each message")
    parser.add_argument("--baseline-src", type=Path, help="another tree's src/ to compare with")
    parser.add_argument(
        "--settle-s",
        type=float,
        default=5.0,
        help="pause after each server's share of a round, so that its background work (a "
        "memory fold) does not run beside the other server's turns",
    )
    parser.add_argument(
        "--provider",
        choices=("extractive", "llamacpp"),
        default="extractive",
        help="llamacpp: the bundled model answers (its hand-offs count as overhead)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for this tree's server only (repeatable); with "
        "--baseline-src src, the variable's effect alone",
    )
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    sources = {"ours": ROOT / "src"}
    if args.baseline_src:
        sources["baseline"] = args.baseline_src.resolve()
    results: dict[str, dict[str, Timings]] = {n: {"new": {}, "returning": {}} for n in sources}
    per_round = max(args.turns // args.rounds, 1)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        urls = {
            name: stack.enter_context(
                server(
                    Path(tmp) / name,
                    [{"type": args.provider}],
                    64,
                    grounding=False,
                    env={"PYTHONPATH": str(src), **(extra if name == "ours" else {})},
                )
            )
            for name, src in sources.items()
        }
        for url in urls.values():  # warm: first requests load the small models
            asyncio.run(turns(url, 20, "new", 0.0, 10_000))
        for r in range(args.rounds):
            for kind in ("new", "returning"):
                for name, url in urls.items():
                    got = asyncio.run(turns(url, per_round, kind, args.gap_ms / 1000, r * 1000))
                    merge(results[name][kind], got)
                    time.sleep(args.settle_s if len(urls) > 1 else 0.0)
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    base = results.get("baseline")
    lines = [
        *table("new", results["ours"]["new"], base["new"] if base else None),
        *table("returning", results["ours"]["returning"], base["returning"] if base else None),
        f"{per_round * args.rounds} REST turns per kind and server, one at a time, "
        f"{args.provider} provider, no knowledge base, gap {args.gap_ms:g} ms"
        + (f"; this tree's server with {' '.join(args.env)}" if args.env else "")
        + (f"; baseline: {args.baseline_src}, alternating rounds." if base else "."),
    ]
    report("Pipeline overhead by step (issue 2)", lines, append=not args.no_append)


if __name__ == "__main__":
    main()
