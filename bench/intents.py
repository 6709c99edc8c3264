"""Intent classification quality and speed on public data sets.

BANKING77: train on train.csv (10,003), report accuracy, macro-F1 and calibration (expected
calibration error of the confidence) on test.csv (3,080), closed set (no out-of-scope there).
CLINC150 (data_full.json): train on train + oos_train, tune the out-of-scope threshold on
val + oos_val (the best out-of-scope recall that keeps val in-scope accuracy >= --min-accuracy),
then report test + oos_test at that one threshold: in-scope accuracy, out-of-scope recall and
precision. Latency: p50/p95 of classifying one new message (embedding included).

Data: ../shared/datasets. Nothing is tuned on a test split.
Usage: python bench/intents.py [--min-accuracy 0.95] [--latency-n 300] [--no-append]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, append_results, pct

from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.threads import limit_blas_threads
from omnivox.understanding.evaluation import evaluate, tune_threshold
from omnivox.understanding.examples import read_csv
from omnivox.understanding.intents import (
    EMBEDDING_WEIGHT,
    NEIGHBOUR_BLEND,
    NEIGHBOUR_TEMPERATURE,
    Example,
    IntentClassifier,
)

DATA = ROOT.parent / "shared" / "datasets"


def clinc(split: str) -> list[Example]:
    """One CLINC150 split (``oos_<split>`` rows labelled ``oos``)."""
    data = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    return [Example(t, label) for t, label in data[split] + data[f"oos_{split}"]]


def calibration_error(classifier: IntentClassifier, rows: Sequence[Example]) -> float:
    """Expected calibration error of the top-1 probability (10 equal-width bins)."""
    predictions = classifier.predict_many([r.text for r in rows])
    conf = np.array([p.candidates[0][1] for p in predictions])
    right = np.array(
        [p.candidates[0][0] == r.intent for p, r in zip(predictions, rows, strict=True)]
    )
    ece = 0.0
    for lo in np.linspace(0, 0.9, 10):
        mask = (conf > lo) & (conf <= lo + 0.1)
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - right[mask].mean())
    return float(ece)


def banking(embedder: MiniLMEmbedder) -> tuple[list[str], IntentClassifier]:
    """Train on BANKING77 train, score test closed-set."""
    train = read_csv(DATA / "banking77" / "train.csv")
    test = read_csv(DATA / "banking77" / "test.csv")
    clf = IntentClassifier(embedder, threshold=0.0)
    started = time.perf_counter()
    clf.fit(train)
    fit_s = time.perf_counter() - started
    report = evaluate(clf, test)
    ece = calibration_error(clf, test)
    print(f"BANKING77 accuracy {report.accuracy:.4f} macro-F1 {report.macro_f1:.4f} ECE {ece:.4f}")
    return [
        f"| BANKING77 test (train -> test), closed set | {report.accuracy:.4f} | "
        f"{report.macro_f1:.4f} | - | - | - | {report.n} |",
        f"BANKING77: trained on {len(train)} examples in {fit_s:.1f} s; expected calibration "
        f"error of the confidence on test: {ece:.4f}.",
    ], clf


def clinc150(embedder: MiniLMEmbedder, min_accuracy: float) -> tuple[list[str], IntentClassifier]:
    """Train on CLINC150 train(+oos), tune the threshold on val, report test."""
    clf = IntentClassifier(embedder, threshold=0.0)
    clf.fit(clinc("train"))
    threshold = tune_threshold(clf, clinc("val"), min_accuracy)
    val = evaluate(clf, clinc("val"), threshold)
    test = evaluate(clf, clinc("test"), threshold)
    closed = evaluate(clf, clinc("test"), 0.0)
    print(
        f"CLINC150 threshold {threshold:.4f}: in-scope {test.in_scope_accuracy} "
        f"oos recall {test.oos_recall} precision {test.oos_precision}"
    )
    return [
        f"| CLINC150 val, threshold tuned here ({threshold:.4f}) | {val.accuracy:.4f} | "
        f"{val.macro_f1:.4f} | {val.in_scope_accuracy} | {val.oos_recall} | {val.oos_precision} "
        f"| {val.n} |",
        f"| CLINC150 test at that threshold | {test.accuracy:.4f} | {test.macro_f1:.4f} | "
        f"{test.in_scope_accuracy} | {test.oos_recall} | {test.oos_precision} | {test.n} |",
        f"| CLINC150 test, no threshold (oos class only) | {closed.accuracy:.4f} | "
        f"{closed.macro_f1:.4f} | {closed.in_scope_accuracy} | {closed.oos_recall} | "
        f"{closed.oos_precision} | {closed.n} |",
    ], clf


def latency(clf: IntentClassifier, texts: Sequence[str]) -> str:
    """p50/p95 of one-message classification, embedding included (the texts were only ever
    embedded in batches, which bypass the one-text memo)."""
    times = []
    for text in texts:
        started = time.perf_counter()
        clf.predict(text)
        times.append((time.perf_counter() - started) * 1000)
    line = (
        f"one-message classification (CLINC150 model, 151 classes, embedding included), "
        f"n={len(times)}: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms"
    )
    print(line)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min-accuracy", type=float, default=0.95)
    parser.add_argument("--latency-n", type=int, default=300)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    limit_blas_threads()  # as the server does (omnivox.services.build_services)
    embedder = MiniLMEmbedder(batch_size=64)
    lines = [
        "| data, split | accuracy | macro-F1 | in-scope acc. | oos recall | oos precision | n |",
        "|---|---|---|---|---|---|---|",
    ]
    bank_lines, _ = banking(embedder)
    clinc_lines, clf = clinc150(embedder, args.min_accuracy)
    lines = [*lines, bank_lines[0], *clinc_lines, "", bank_lines[1]]
    tests = [row.text for row in clinc("test")][: args.latency_n]
    lines.append(latency(clf, tests))
    lines.append(
        f"Model: all-MiniLM-L6-v2 (bundled) x{EMBEDDING_WEIGHT} + TF-IDF word 1-2-grams + char "
        f"2-5-grams, logistic regression C={clf.c}, blended {NEIGHBOUR_BLEND} with the "
        f"nearest-example softmax (temperature {NEIGHBOUR_TEMPERATURE}); scope score sqrt(p of "
        f"the regression) x cosine to the nearest example of the predicted intent; "
        f"threshold: best val out-of-scope recall at val in-scope accuracy >= {args.min_accuracy}."
    )
    if not args.no_append:
        append_results(
            "Intents (issue 4)", "python bench/intents.py " + " ".join(sys.argv[1:]), lines
        )


if __name__ == "__main__":
    main()
