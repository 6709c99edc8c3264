"""How fast llama.cpp reads new tokens after the tokens it already holds, by attention.

A conversation's turn reads only what is new in its prompt after the history the model already
holds: the passages and the question (~200-260 tokens with the Acme knowledge base), or only the
question when a draft's passages were read ahead (~20); then it writes the answer one token at a
time. Each new token attends to everything before it, so all of this slows as the conversation
grows. The bundled model (the product's weights, ``llm.providers[].weights``) is loaded twice,
with llama.cpp's plain attention and with its fused ("flash") attention
(``llm.providers[].flash_attn``), and both read the same 250, 24 and 1 tokens of the Acme help
pages (1: one written token's step) after holding 0, 400 and 1,100 of them, in alternating
rounds so the machine's drift hits both alike. Answer quality with each:
``bench/answers.py --no-flash-attn``.

Usage: python bench/attention.py [--rounds N] [--no-append]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pct, report
from weights import sample_tokens

from omnivox.llm.llama_weights import reencoded
from omnivox.llm.llamacpp import bundled_model_path
from omnivox.settings import LlamaCppSettings

HELD = (0, 400, 1100)
NEW = (250, 24, 1)
MODES = {"plain": False, "fused": True}


def read_ms(llm: Any, tokens: list[int], held: int, new: int) -> float:
    """ms to read ``tokens[held:held + new]`` with ``tokens[:held]`` already read."""
    llm.reset()
    if held:
        llm.eval(tokens[:held])
    started = time.perf_counter()
    llm.eval(tokens[held : held + new])
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    from llama_cpp import Llama

    settings = LlamaCppSettings(type="llamacpp")
    with tempfile.TemporaryDirectory() as tmp:
        path = reencoded(bundled_model_path(), Path(tmp), settings.weights)
        models = {
            mode: Llama(model_path=str(path), n_ctx=settings.n_ctx, flash_attn=on, verbose=False)
            for mode, on in MODES.items()
        }
        tokens = sample_tokens(models["plain"], max(HELD) + max(NEW))
        times: dict[tuple[str, int, int], list[float]] = {
            (m, h, n): [] for m in MODES for h in HELD for n in NEW
        }
        for r in range(args.rounds):
            order = list(MODES) if r % 2 == 0 else list(MODES)[::-1]
            for held in HELD:
                for new in NEW:
                    for mode in order:
                        ms = read_ms(models[mode], tokens, held, new)
                        times[mode, held, new].append(ms)
    lines = [
        "| tokens held | new tokens | plain, median ms | fused, median ms | fused / plain |",
        "|---|---|---|---|---|",
    ]
    for held in HELD:
        for new in NEW:
            plain, fused = pct(times["plain", held, new], 50), pct(times["fused", held, new], 50)
            lines.append(f"| {held} | {new} | {plain:.1f} | {fused:.1f} | {fused / plain:.2f} |")
    lines += [
        "",
        f"New tokens of the Acme help pages read after the tokens held (1: one written token's "
        f"step); medians of {args.rounds} alternating rounds; weights {settings.weights}, "
        f"n_ctx {settings.n_ctx}, llama.cpp threads: all cores; SmolLM2-135M-Instruct.",
    ]
    report("Prompt reading by attention (issue 2)", lines, append=not args.no_append)


if __name__ == "__main__":
    main()
