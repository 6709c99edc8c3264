"""Retrieval quality and speed of the knowledge base on public data sets.

doc2dial (273 public-service documents, 3,225 dev user turns): recall@1/5/10 and MRR of the
gold document and of the passage holding the gold span, for the last user turn alone and for
history-aware queries (the last three user turns; the last six messages, with and without the
turn also searched alone as the product does). "Subject changed": each conversation's first
question asked at the end of another conversation about another document (530 queries), which
the conversation's history can only mislead. StackFAQ (125 FAQ entries, 1,249
paraphrased queries), ingested as FAQ entries (JSONL question/answer lines, the product's FAQ
scoring) and, for comparison, as documents titled by their question: recall@1/5 and MRR, for all
queries and for two halves split by entry
(StackFAQ has no dev split: settings may be chosen on the even entries' queries and reported on
the odd ones'). Ingest throughput (chunks/s), query latency
p50/p95, and search latency p95 on a 10,000-chunk index.

Data: ../shared/datasets (dev/validation splits; nothing here is tuned on a test split).
Usage: python bench/retrieval.py [--limit N] [--chunk-words N] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, append_results, pct

from omnivox.knowledge.index import HybridIndex
from omnivox.knowledge.retriever import contextual_query
from omnivox.knowledge.service import best_of
from omnivox.services import build_knowledge
from omnivox.settings import validate_settings
from omnivox.storage.db import Database
from omnivox.storage.repositories import Store
from omnivox.types import HistoryItem

DATA = ROOT.parent / "shared" / "datasets"
_WORD = re.compile(r"\w+")


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


async def make_kb(tmp: Path, args: argparse.Namespace) -> Any:
    knowledge = {
        "chunk_words": args.chunk_words,
        "fusion": args.fusion,
        "dense_weight": args.dense_weight,
        "bm25_weight": args.bm25_weight,
        "match_titles": not args.no_titles,
        "faq_question_weight": args.faq_question_weight,
        "faq_bm25_weight": args.faq_bm25_weight,
    }
    if args.embedder_url:
        knowledge["embedder"] = {
            "type": "openai_compat",
            "base_url": args.embedder_url,
            "model": args.embedder_model,
            "api_key": os.environ.get("OMNIVOX_BENCH_EMBEDDER_KEY") or None,
            "query_prefix": args.query_prefix,
            "document_prefix": args.document_prefix,
        }
    settings = validate_settings(
        {
            "data_dir": str(tmp),
            "knowledge": knowledge,
            "workspaces": [{"id": "bench", "name": "Bench"}],
        }
    )
    db = Database(settings.database_url)
    await db.migrate()
    await Store(db).ensure_workspace("bench", "Bench")
    return build_knowledge(settings, db), db


def add_kb_arguments(parser: argparse.ArgumentParser) -> None:
    """The knowledge settings a run can change (bench/answers.py uses them too)."""
    parser.add_argument("--chunk-words", type=int, default=120)
    parser.add_argument("--fusion", choices=("linear", "rrf"), default="linear")
    parser.add_argument("--dense-weight", type=float, default=1.0)
    parser.add_argument(
        "--bm25-weight", type=float, default=None, help="default: 0.5 linear, 1.0 rrf"
    )
    parser.add_argument("--no-titles", action="store_true", help="do not match document titles")
    parser.add_argument(
        "--faq-question-weight",
        type=float,
        default=0.7,
        help="share of a FAQ entry's vector score that is its question's cosine",
    )
    parser.add_argument(
        "--faq-bm25-weight", type=float, default=0.1, help="BM25 weight of FAQ entries' chunks"
    )
    parser.add_argument(
        "--embedder-url",
        default=None,
        help="an OpenAI-compatible embeddings server's base URL (key: $OMNIVOX_BENCH_EMBEDDER_KEY);"
        " default: the bundled MiniLM",
    )
    parser.add_argument("--embedder-model", default="", help="the model it serves")
    parser.add_argument("--query-prefix", default="", help="e.g. 'query: ' for E5")
    parser.add_argument("--document-prefix", default="", help="e.g. 'passage: ' for E5")
    parser.add_argument(
        "--question-lead",
        type=float,
        default=0.1,
        help="lead of the latest message searched alone over the in-context search",
    )


def baseline_embedding_rate(limit_docs: int = 60) -> tuple[float, float]:
    """The issue's baseline, measured in this run: 200-word windows, plain encode()."""
    from sentence_transformers import SentenceTransformer

    from omnivox.knowledge.embeddings import bundled_model_dir

    docs = [json.loads(x) for x in (DATA / "doc2dial/kb_docs.jsonl").read_text().splitlines()]
    windows = []
    for doc in docs[:limit_docs]:
        tokens = doc["text"].split()
        windows += [" ".join(tokens[i : i + 200]) for i in range(0, len(tokens), 200)]
    model = SentenceTransformer(str(bundled_model_dir()), device="cpu")
    model.encode(["warm up"])
    t0 = time.perf_counter()
    model.encode(windows, batch_size=32)
    seconds = time.perf_counter() - t0
    return len(windows) / seconds, sum(len(w.split()) for w in windows) / seconds


def doc_rank(hits: list[Any], gold: str) -> int | None:
    """1-based rank of the gold document among the distinct documents of the hits."""
    order: list[str] = []
    for hit in hits:
        if hit.chunk.source_id not in order:
            order.append(hit.chunk.source_id)
    return order.index(gold) + 1 if gold in order else None


def passage_rank(hits: list[Any], gold: str, span: set[str]) -> int | None:
    """1-based rank of the first chunk of the gold document holding half the span's words."""
    for n, hit in enumerate(hits, start=1):
        if hit.chunk.source_id == gold and len(span & words(hit.chunk.text)) >= 0.5 * len(span):
            return n
    return None


def summary(found: list[int | None], ks: tuple[int, ...]) -> dict[str, float]:
    out = {
        f"recall@{k}": sum(1 for r in found if r is not None and r <= k) / len(found) for k in ks
    }
    out["mrr"] = sum(1 / r for r in found if r is not None) / len(found)
    return out


Query = tuple[str, list[HistoryItem], str, str]  # question, earlier messages, gold doc, span
MODES = (  # label, earlier messages both sides?, how many, the question searched alone too?
    ("last user turn", False, 0, False),
    ("last 3 user turns", False, 2, False),
    ("last 6 messages + turn, in context only", True, 6, False),
    ("last 6 messages + turn, and the turn alone (product default)", True, 6, True),
)


def as_history(messages: list[dict[str, str]]) -> list[HistoryItem]:
    return [
        HistoryItem("in" if m["role"] == "user" else "out", m["text"], "bench") for m in messages
    ]


def doc2dial_turns(limit: int | None) -> tuple[list[Query], list[Query]]:
    """Every dev turn in its conversation; and every conversation's first question asked
    at the end of another conversation about another document (a change of subject)."""
    turns = [json.loads(x) for x in (DATA / "doc2dial/turns_dev.jsonl").read_text().splitlines()]
    turns = turns[:limit] if limit else turns
    each = [
        (t["history"][-1]["text"], as_history(t["history"][:-1]), t["gold_doc_id"], t["gold_span"])
        for t in turns
    ]
    ends = list({t["dial_id"]: t for t in turns}.values())  # each conversation's last turn
    switched = []
    for i, first in enumerate(t for t in turns if len(t["history"]) == 1):
        j = i + 1
        while ends[j % len(ends)]["gold_doc_id"] == first["gold_doc_id"]:
            j += 1
        end = ends[j % len(ends)]
        reply = [{"role": "agent", "text": end["agent_response"]}] if end["agent_response"] else []
        question = first["history"][0]["text"]
        switched.append(
            (question, as_history(end["history"] + reply), first["gold_doc_id"], first["gold_span"])
        )
    return each, switched


async def ranked(kb: Any, query: Query, mode: tuple[str, bool, int, bool], lead: float) -> Any:
    question, history, _, _ = query
    _, both_sides, earlier, alone = mode
    before = [h for h in history if both_sides or h.direction == "in"]
    text = contextual_query(question, before, earlier)
    return await kb.search("bench", text, 30, alone=question if alone else None, alone_lead=lead)


async def doc2dial(
    kb: Any, each: list[Query], switched: list[Query], lead: float
) -> tuple[list[str], dict[str, list[float]]]:
    lines: list[str] = []
    latencies: dict[str, list[float]] = {m[0]: [] for m in MODES}
    runs = [(mode, "", each) for mode in MODES] + [
        (mode, "subject changed: ", switched) for mode in (MODES[0], *MODES[2:])
    ]
    for mode, prefix, queries in runs:
        doc_ranks: list[int | None] = []
        span_ranks: list[int | None] = []
        for query in queries:
            t0 = time.perf_counter()
            hits = await ranked(kb, query, mode, lead)
            if not prefix:
                latencies[mode[0]].append((time.perf_counter() - t0) * 1000)
            doc_ranks.append(doc_rank(hits, query[2]))
            span_ranks.append(passage_rank(hits, query[2], words(query[3])))
        for name, found in (("gold document", doc_ranks), ("gold-span passage", span_ranks)):
            s = summary(found, (1, 5, 10))
            lines.append(
                f"| doc2dial dev, {prefix}{mode[0]}, {name} | {s['recall@1']:.3f} | "
                f"{s['recall@5']:.3f} | {s['recall@10']:.3f} | {s['mrr']:.3f} | "
                f"{len(found)} |"
            )
            print(lines[-1], flush=True)
    return lines, latencies


def stackfaq_line(entry: dict[str, Any], as_faq: bool) -> str:
    """One JSONL line: a FAQ entry (question and answer), or a document titled by the question."""
    answer = "\n\n".join(entry["answers"])
    if as_faq:
        return json.dumps(
            {"id": f"faq-{entry['faq_id']}", "question": entry["question"], "answer": answer}
        )
    text = entry["question"] + "\n\n" + answer
    return json.dumps({"id": f"faq-{entry['faq_id']}", "title": entry["question"], "text": text})


async def stackfaq(kb: Any, tmp: Path, as_faq: bool) -> list[str]:
    entries = json.loads((DATA / "stackfaq/derived_kb.json").read_text())
    queries = json.loads((DATA / "stackfaq/derived_queries.json").read_text())
    path = tmp / f"stackfaq-{'faq' if as_faq else 'docs'}.jsonl"
    path.write_text("\n".join(stackfaq_line(e, as_faq) for e in entries))
    await kb.ingest("bench", [path])
    shape = "FAQ entries" if as_faq else "documents (no FAQ scoring)"
    found: dict[str, list[int | None]] = {"all": [], "dev": [], "test": []}
    for q in queries:
        hits = await kb.search("bench", q["query"], k=10, filters={})
        rank = doc_rank(hits, f"faq-{q['gold_faq_id']}")
        found["all"].append(rank)
        found["dev" if q["gold_faq_id"] % 2 == 0 else "test"].append(rank)
    lines = []
    for half, label in (
        ("all", "all queries"),
        ("dev", "dev half (even entry ids: tune here)"),
        ("test", "test half (odd entry ids: report)"),
    ):
        s = summary(found[half], (1, 5))
        first = sum(1 for r in found[half] if r == 1)  # the target sits between two counts
        lines.append(
            f"| StackFAQ as {shape}, query alone, gold entry, {label} | {s['recall@1']:.4f} "
            f"({first}) | {s['recall@5']:.3f} | - | {s['mrr']:.3f} | {len(found[half])} |"
        )
        print(lines[-1], flush=True)
    return lines


def scale_latency(
    chunks: list[Any], vectors: Any, embedder: Any, queries: list[Query], lead: float
) -> tuple[list[float], list[float]]:
    """Search latency (query embedding included) on the index grown to 10,000 chunks: the
    message alone, and the product's search (in context and alone: one embedding call for
    both texts, two searches, the better score of each chunk)."""
    reps = -(-10_000 // len(chunks))
    rng = np.random.default_rng(0)
    big = np.concatenate([vectors + rng.normal(0, 0.01, vectors.shape) for _ in range(reps)])
    big = (big / np.linalg.norm(big, axis=1, keepdims=True)).astype(np.float32)[:10_000]
    index = HybridIndex((chunks * reps)[:10_000], big, embed_titles=embedder.embed)
    alone, product = [], []
    for question, history, _, _ in queries:
        t0 = time.perf_counter()
        index.search(embedder.embed_queries([question])[0], question, 5)
        alone.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        text = contextual_query(question, history, 6)
        pair = embedder.embed_queries([text, question])  # as the product
        depth = index.fusion.depth
        both = [
            (index.search(pair[0], text, depth), 0.0),
            (index.search(pair[1], question, depth), lead),
        ]
        best_of(both, 5)
        product.append((time.perf_counter() - t0) * 1000)
    return alone, product


async def main_async(args: argparse.Namespace) -> list[str]:
    lines = ["| data, query, target | R@1 | R@5 | R@10 | MRR | n |", "|---|---|---|---|---|---|"]
    base_chunks, base_words = baseline_embedding_rate()
    with tempfile.TemporaryDirectory() as tmp:
        kb, db = await make_kb(Path(tmp), args)
        kb.embedder.embed_queries(["warm up"])
        report = await kb.ingest("bench", [DATA / "doc2dial/kb_docs.jsonl"])
        chunks, vectors = await kb.store.chunks("bench")
        words_per_s = sum(len(c.text.split()) for c in chunks) / report.seconds
        ingest = (
            f"doc2dial ingest: {report.chunks} chunks in {report.seconds:.1f}s = "
            f"{report.chunks_per_second:.1f} chunks/s, {words_per_s:.0f} words/s (load, "
            f"chunk, embed, store); baseline embedding alone, same run: "
            f"{base_chunks:.1f} chunks/s, {base_words:.0f} words/s -> "
            f"{report.chunks_per_second / base_chunks:.2f}x chunks/s, "
            f"{words_per_s / base_words:.2f}x words/s"
        )
        print(ingest, flush=True)
        each, switched = doc2dial_turns(args.limit)
        found, latencies = await doc2dial(kb, each, switched, args.question_lead)
        lines += found
        big = scale_latency(chunks, vectors, kb.embedder, each[:300], args.question_lead)
        await db.close()
        for as_faq in (True, False):
            faq_kb, faq_db = await make_kb(Path(tmp) / f"faq-{as_faq}", args)
            lines += await stackfaq(faq_kb, Path(tmp), as_faq)
            await faq_db.close()
    lines += [
        "",
        ingest,
        *(
            f"query latency (embed + hybrid search, {len(chunks)} chunks), {label}: "
            f"p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms"
            for label, times in latencies.items()
        ),
        *(
            f"query latency at 10,000 chunks, {label}: "
            f"p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms"
            for label, times in zip(("message alone", "product default"), big, strict=True)
        ),
        f"chunk_words={args.chunk_words}, {args.fusion} fusion, dense weight "
        f"{args.dense_weight}, BM25 weight {args.bm25_weight or 'default'}, titles "
        f"{'off' if args.no_titles else 'matched'}, question lead {args.question_lead}, FAQ "
        f"entries: question weight {args.faq_question_weight}, BM25 weight "
        f"{args.faq_bm25_weight}; "
        f"{kb.embedder.name} ({'bundled' if not args.embedder_url else args.embedder_url}), "
        "BM25 (bm25s, "
        "English stemmer and stopwords) + FAISS flat inner product; doc2dial turns: "
        f"{args.limit or 'all'}.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N doc2dial turns only")
    add_kb_arguments(parser)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    lines = asyncio.run(main_async(args))
    print("\n".join(lines[lines.index("") :]))
    if not args.no_append:
        append_results(
            "Retrieval (issue 3)", "python bench/retrieval.py " + " ".join(sys.argv[1:]), lines
        )


if __name__ == "__main__":
    main()
