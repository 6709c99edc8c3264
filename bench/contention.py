"""The bundled model and the embedding model on the same cores: generation while queries embed.

One process loads the bundled chat model (llama.cpp, its OpenMP threads) and the embedding
model (ONNX Runtime) as the server does, and times answers to the Acme questions three ways,
alternating round by round: alone; while another thread embeds a short query every
``--every-ms`` with the product's embedder (ONNX Runtime workers that do not spin); and the
same with ONNX Runtime's default session options (workers spin after each operator). That
second thread stands for what runs beside an answer in a server: a typing visitor's draft
being searched, another visitor's turn. It also times one query embedded while the model is
idle, with each session.

Usage: python bench/contention.py [--turns 24] [--rounds 3] [--every-ms 50] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pct, report
from turn_latency import QUESTIONS, bare_request

from omnivox.knowledge.embeddings import MiniLMEmbedder, load_bundled
from omnivox.llm.llamacpp import LlamaCppProvider
from omnivox.settings import LlamaCppSettings

Embed = Callable[[str], object]
NUMBERS = itertools.count()  # every query text differs: the embedder's cache never answers


def spinning_embed() -> Embed:
    """One query through a session with ONNX Runtime's default spinning workers."""
    session, tokenizer = load_bundled(MiniLMEmbedder().max_seq_length, spinning=True)
    return lambda text: MiniLMEmbedder._encode(session, tokenizer, [text])


def product_embed() -> Embed:
    """One query through the product's embedder (every text is new: no cache hit)."""
    embedder = MiniLMEmbedder()
    return lambda text: embedder.embed([text])


class Beside:
    """A thread that embeds a new query every ``every_s`` until stopped."""

    def __init__(self, embed: Embed, every_s: float) -> None:
        self.embed, self.every_s = embed, every_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.embed(f"how long does shipping take to postcode {next(NUMBERS)} with a parcel")

    def __enter__(self) -> Beside:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


async def answers(provider: LlamaCppProvider, count: int, offset: int) -> list[float]:
    """``count`` answers (64 tokens at most, greedy), each timed in ms."""
    times = []
    for i in range(count):
        request = bare_request(QUESTIONS[(offset + i) % len(QUESTIONS)], 64)
        started = time.perf_counter()
        await provider.complete(request)
        times.append((time.perf_counter() - started) * 1000)
    return times


def lone_embeds(embed: Embed, count: int) -> list[float]:
    """``count`` queries embedded one after another while the model is idle (ms)."""
    times = []
    for _ in range(count):
        text = f"can I return boots bought {next(NUMBERS)} days ago"
        started = time.perf_counter()
        embed(text)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=24, help="answers per arm")
    parser.add_argument("--rounds", type=int, default=3, help="alternations between the arms")
    parser.add_argument("--every-ms", type=float, default=50.0, help="one query embedded every")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    embeds = {"product": product_embed(), "spinning": spinning_embed()}
    arms = ["alone", "beside product embedder", "beside default ONNX Runtime options"]
    gen: dict[str, list[float]] = {arm: [] for arm in arms}
    lone: dict[str, list[float]] = {name: [] for name in embeds}
    per_round = max(args.turns // args.rounds, 1)
    with tempfile.TemporaryDirectory() as tmp:
        settings = LlamaCppSettings(type="llamacpp", weights_dir=tmp)
        provider = LlamaCppProvider(settings)
        asyncio.run(answers(provider, 2, 0))  # load and warm
        for fn in embeds.values():
            lone_embeds(fn, 5)
        for r in range(args.rounds):
            offset = r * per_round
            gen["alone"] += asyncio.run(answers(provider, per_round, offset))
            for arm, name in zip(arms[1:], embeds, strict=True):
                with Beside(embeds[name], args.every_ms / 1000):
                    gen[arm] += asyncio.run(answers(provider, per_round, offset))
                lone[name] += lone_embeds(embeds[name], 40)
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    base = pct(gen["alone"], 50)
    lines = [
        "| measurement (ms) | p50 | p95 | max | p50 / alone | n |",
        "|---|---|---|---|---|---|",
    ]
    for arm, times in gen.items():
        lines.append(
            f"| answer, {arm} | {pct(times, 50):.0f} | {pct(times, 95):.0f} | "
            f"{max(times):.0f} | {pct(times, 50) / base:.2f} | {len(times)} |"
        )
    for name, times in lone.items():
        lines.append(
            f"| one query embedded, model idle, {name} session | {pct(times, 50):.1f} | "
            f"{pct(times, 95):.1f} | {float(np.max(times)):.1f} | - | {len(times)} |"
        )
    lines += [
        "",
        f"Bundled model, product weights ({settings.weights}), 64 tokens at most, greedy; the "
        f"thread beside it embeds a new query every {args.every_ms:g} ms; "
        f"{args.rounds} alternating rounds. Every query text is new.",
    ]
    report("Chat model and embedder sharing the cores (issue 2)", lines, append=not args.no_append)


if __name__ == "__main__":
    main()
