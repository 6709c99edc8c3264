"""How fast llama.cpp reads a turn's new tokens after the tokens it already holds, by attention.

A conversation's turn reads only what is new in its prompt (the passages and the question,
~200-260 tokens with the Acme knowledge base) after the history the model already holds; each new
token attends to everything before it, so the reading slows as the conversation grows. The
bundled model (the product's weights, ``llm.providers[].weights``) is loaded twice, with
llama.cpp's plain attention and with its fused ("flash") attention
(``llm.providers[].flash_attn``), and both read the same ``--new-tokens`` of the Acme help
pages after holding 0, 400 and 1,100 of them, in alternating rounds so the machine's drift
hits both alike. Answer quality with each: ``bench/answers.py --no-flash-attn``.

Usage: python bench/attention.py [--rounds N] [--new-tokens N] [--no-append]
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
    parser.add_argument("--new-tokens", type=int, default=250)
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
        tokens = sample_tokens(models["plain"], max(HELD) + args.new_tokens)
        times: dict[tuple[str, int], list[float]] = {(m, h): [] for m in MODES for h in HELD}
        for n in range(args.rounds):
            order = list(MODES) if n % 2 == 0 else list(MODES)[::-1]
            for held in HELD:
                for mode in order:
                    times[mode, held].append(read_ms(models[mode], tokens, held, args.new_tokens))
    lines = [
        "| tokens held | plain, median ms | fused, median ms | fused / plain | fused, ms a token |",
        "|---|---|---|---|---|",
    ]
    for held in HELD:
        plain, fused = pct(times["plain", held], 50), pct(times["fused", held], 50)
        lines.append(
            f"| {held} | {plain:.0f} | {fused:.0f} | {fused / plain:.2f} | "
            f"{fused / args.new_tokens:.2f} |"
        )
    lines += [
        "",
        f"{args.new_tokens} new tokens of the Acme help pages read after the tokens held; "
        f"medians of {args.rounds} alternating rounds; weights {settings.weights}, "
        f"n_ctx {settings.n_ctx}, llama.cpp threads: all cores; SmolLM2-135M-Instruct.",
    ]
    report("Prompt reading by attention (issue 2)", lines, append=not args.no_append)


if __name__ == "__main__":
    main()
