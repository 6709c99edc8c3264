"""Answer quality and the grounding guard on doc2dial dev, and semantic-cache latency.

For each dev turn: history-aware retrieval (top 4 passages), then
- the extractive provider's answer, and
- the bundled local model's answer (SmolLM2-135M through llama.cpp), before and after the
  grounding guard (whose fallback ranks the passages' sentences by similarity to the question;
  the row "fallback by shared words" ranks them as the extractive provider does),
scored by token F1 against the annotated ``gold_span`` (and the agent's reply). Reported:
F1, how often the guard drops the model's sentences, and its verdicts (full/partial/none).
Then, through the REST API of a server on the Acme demo workspace: turn latency of a cache
miss and of a cache hit (a repeated question from a new customer).

Usage: python bench/answers.py [--limit N] [--prompt-words N] [--weights q8_0|f16|shipped]
       [--flash-attn]
       [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import get_args

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import AUTH, ROOT, append_results, pct, server
from retrieval import DATA, add_kb_arguments, as_history, make_kb

from omnivox.guardrails.grounding import GroundingChecker
from omnivox.knowledge.focus import focus
from omnivox.knowledge.retriever import KnowledgeRetriever, contextual_query
from omnivox.llm.base import CompletionRequest
from omnivox.llm.extractive import ExtractiveProvider, best_sentences
from omnivox.llm.llamacpp import LlamaCppProvider
from omnivox.llm.prompts import ChannelGuidance, PromptBuilder
from omnivox.settings import (
    ExtractiveSettings,
    KnowledgeSettings,
    LlamaCppSettings,
    PersonaSettings,
    Weights,
)
from omnivox.text import split_sentences

_TOKEN = re.compile(r"\w+")


def f1(prediction: str, gold: str) -> float:
    """SQuAD-style token F1."""
    pred, ref = _TOKEN.findall(prediction.lower()), _TOKEN.findall(gold.lower())
    common = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if not pred or not ref or not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


async def quality(args: argparse.Namespace, tmp: Path) -> list[str]:
    kb, db = await make_kb(tmp, args)
    await kb.ingest("bench", [DATA / "doc2dial/kb_docs.jsonl"])
    retriever = KnowledgeRetriever(kb, question_lead=args.question_lead)
    extractive = ExtractiveProvider(ExtractiveSettings(type="extractive", max_sentences=2))
    local = LlamaCppProvider(
        LlamaCppSettings(
            type="llamacpp",
            weights=args.weights,
            weights_dir=str(tmp / "models"),
            flash_attn=args.flash_attn,
        )
    )
    checker = GroundingChecker(kb.embedder)
    prompts, persona = PromptBuilder(), PersonaSettings(name="Assistant", brand="the agency")
    turns = [json.loads(x) for x in (DATA / "doc2dial/turns_dev.jsonl").read_text().splitlines()]
    scores: dict[str, list[float]] = collections.defaultdict(list)
    verdicts: collections.Counter[str] = collections.Counter()
    dropped = total = 0
    prompt_tokens: list[int] = []
    model_ms: list[float] = []
    for turn in turns[: args.limit]:
        users = [h["text"] for h in turn["history"] if h["role"] == "user"]
        history = as_history(turn["history"][:-1])
        query = contextual_query(users[-1], history, 6)
        passages = tuple(await retriever.search("bench", query, 4, users[-1]))
        messages = prompts.build(
            persona=persona,
            channel=ChannelGuidance("web", ""),
            question=users[-1],
            history=history[-4:],
            passages=focus(passages, users[-1], args.prompt_words, query),
        )
        request = CompletionRequest(messages, users[-1], passages, max_tokens=96, temperature=0.0)
        ext = (await extractive.complete(request)).text
        started = time.perf_counter()
        answer = await local.complete(request) if passages else None
        if answer:
            model_ms.append((time.perf_counter() - started) * 1000)
        raw = answer.text if answer else ""
        if answer:
            prompt_tokens.append(answer.usage.prompt_tokens)
        result = checker.check(raw, passages)
        total += len(split_sentences(raw))
        dropped += result.total - result.kept
        verdicts[result.verdict] += 1
        # what the guard step sends: the kept sentences, or, when too little survives, the
        # extractive answer ranked by similarity to the question (and nothing without passages)
        fallback = " ".join(best_sentences(users[-1], passages, 2, checker.similarity))
        kept = result.text if result.verdict != "none" else None
        for name, text in (
            ("extractive", ext),
            ("local model, raw", raw),
            ("local model, after the guard", kept or fallback),
            ("local model, after the guard, fallback by shared words", kept or ext),
        ):
            scores[f"{name} vs gold span"].append(f1(text, turn["gold_span"]))
            if turn.get("agent_response"):
                scores[f"{name} vs agent reply"].append(f1(text, turn["agent_response"]))
    await db.close()
    lines = ["| answer | token F1 | n |", "|---|---|---|"]
    lines += [f"| {name} | {sum(v) / len(v):.3f} | {len(v)} |" for name, v in scores.items()]
    lines += [
        "",
        f"grounding guard on the local model: {dropped} of {total} sentences dropped "
        f"({dropped / max(total, 1):.1%}); verdicts "
        + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())),
        f"local model prompt: {sum(prompt_tokens) / max(len(prompt_tokens), 1):.0f} tokens "
        f"on average (passages cut to {args.prompt_words or 'all'} words); weights "
        f"{args.weights}, flash attention {'on' if args.flash_attn else 'off'}, "
        f"{pct(model_ms[1:], 50):.0f} ms an answer (p50, first left out)",
    ]
    return lines


async def cache_latency(url: str, questions: list[str], repeats: int) -> tuple[list[float], ...]:
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=AUTH) as client:

        async def turn(text: str, customer: str) -> float:
            t0 = time.perf_counter()
            response = await client.post(
                "/api/v1/messages",
                json={"workspace": "acme", "customer": {"id": customer}, "text": text},
            )
            response.raise_for_status()
            return (time.perf_counter() - t0) * 1000

        misses = [await turn(q, f"miss-{i}") for i, q in enumerate(questions)]
        hits = [await turn(questions[i % len(questions)], f"hit-{i}") for i in range(repeats)]
    return misses, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=150, help="doc2dial dev turns")
    add_kb_arguments(parser)
    parser.add_argument(
        "--prompt-words",
        type=int,
        default=KnowledgeSettings().prompt_words,
        help="passage words in the model's prompt (0: whole passages)",
    )
    parser.add_argument(
        "--weights",
        choices=get_args(Weights),
        default=LlamaCppSettings(type="llamacpp").weights,
        help="the bundled model's weights (default: the product's)",
    )
    parser.add_argument(
        "--flash-attn", action="store_true", help="llama.cpp's fused attention (product: plain)"
    )
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lines = asyncio.run(quality(args, Path(tmp)))
        for line in lines:
            print(line, flush=True)
        questions = [
            "What is your return window?",
            "How long does standard shipping take?",
            "Do you price match?",
            "How do Trailhead Rewards points work?",
            "Can I rent a tent?",
            "Where is your Denver store?",
        ]
        knowledge = [str(ROOT / "examples/acme/knowledge")]
        with server(Path(tmp) / "srv", [{"type": "extractive"}], 96, knowledge) as url:
            misses, hits = asyncio.run(cache_latency(url, questions, 60))
    lines += [
        f"REST turn, cache miss (extractive, Acme KB): p50 {pct(misses, 50):.1f} ms, "
        f"p95 {pct(misses, 95):.1f} ms (n={len(misses)})",
        f"REST turn, cache hit (same question, new customer): p50 {pct(hits, 50):.1f} ms, "
        f"p95 {pct(hits, 95):.1f} ms (n={len(hits)})",
    ]
    print("\n".join(lines[-2:]))
    if not args.no_append:
        append_results(
            "Answers and grounding (issue 3)",
            "python bench/answers.py " + " ".join(sys.argv[1:]),
            lines,
        )


if __name__ == "__main__":
    main()
