"""Cross-validated choice of the intent classifier's settings on BANKING77 train.

The classifier (omnivox.understanding.intents) puts the MiniLM sentence embedding, scaled by
EMBEDDING_WEIGHT, next to TF-IDF word and character n-grams in one logistic regression, and
blends its probabilities with a nearest-example distribution (NEIGHBOUR_BLEND of it, softmax
temperature NEIGHBOUR_TEMPERATURE). This script scores every (weight, blend, temperature) by
stratified k-fold cross-validation on BANKING77 train only (test is never read), with the
product's own features, model settings and blend, and prints the mean fold accuracy of each
weight unblended and of the best combinations. The product keeps the best mean.

Data: ../shared/datasets/banking77/train.csv.
Usage: python bench/intents_cv.py [--weights 1,2,3] [--blends 0,0.2,0.3,0.4,0.5]
       [--temperatures 0.01,0.02,0.05] [--c 10] [--folds 5] [--no-append]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, report

from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.threads import limit_blas_threads
from omnivox.understanding.examples import read_csv
from omnivox.understanding.intents import (
    EMBEDDING_WEIGHT,
    NEIGHBOUR_BLEND,
    NEIGHBOUR_TEMPERATURE,
    blend_neighbours,
    features,
    fit_vectorizers,
    group_by_class,
    nearest_by_class,
)

DATA = ROOT.parent / "shared" / "datasets"


Setting = tuple[float, float, float]  # embedding weight, blend share, temperature


def floats(text: str) -> list[float]:
    """A comma-separated list of numbers."""
    return [float(x) for x in text.split(",")]


def fold_accuracies(
    texts: list[str], labels: np.ndarray, vectors: np.ndarray, args: argparse.Namespace
) -> dict[Setting, list[float]]:
    """Accuracy of every setting on every held-out fold (vectorizers fitted per fold)."""
    scores: dict[Setting, list[float]] = {}
    classes = np.unique(labels).tolist()
    splits = StratifiedKFold(args.folds, shuffle=True, random_state=0).split(texts, labels)
    for k, (train, held) in enumerate(splits):
        fit_texts = [texts[i] for i in train]
        held_texts = [texts[i] for i in held]
        word, chars = fit_vectorizers(fit_texts)
        neighbours, starts = group_by_class(vectors[train], labels[train], classes)
        nearest = nearest_by_class(vectors[held], neighbours, starts)
        for w in floats(args.weights):
            started = time.perf_counter()
            model = LogisticRegression(C=args.c, max_iter=3000)
            model.fit(features(vectors[train], word, chars, fit_texts, w), labels[train])
            probs = model.predict_proba(features(vectors[held], word, chars, held_texts, w))
            for share in floats(args.blends):
                for temperature in floats(args.temperatures) if share else [0.0]:
                    mixed = blend_neighbours(probs, nearest, share, temperature) if share else probs
                    hit = model.classes_[mixed.argmax(axis=1)] == labels[held]
                    scores.setdefault((w, share, temperature), []).append(float(hit.mean()))
            print(
                f"fold {k} weight {w}: unblended {scores[(w, 0.0, 0.0)][-1]:.4f} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    return scores


def table(scores: dict[Setting, list[float]], top: int) -> list[str]:
    """Each weight unblended, then the ``top`` best settings."""
    mean = {s: float(np.mean(a)) for s, a in scores.items()}
    plain = [s for s in scores if s[1] == 0.0]
    best = sorted((s for s in scores if s[1] > 0.0), key=lambda s: -mean[s])[:top]
    lines = [
        "| embedding weight | blend | temperature | mean accuracy | sd | folds |",
        "|---|---|---|---|---|---|",
    ]
    for w, share, temperature in [*plain, *best]:
        a = scores[(w, share, temperature)]
        lines.append(
            f"| {w} | {share} | {temperature or '-'} | {np.mean(a):.4f} | {np.std(a):.4f} | "
            f"{', '.join(f'{x:.4f}' for x in a)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="1,2,3", help="embedding weights to try")
    parser.add_argument("--blends", default="0,0.2,0.3,0.4,0.5", help="nearest-example shares")
    parser.add_argument("--temperatures", default="0.01,0.02,0.05", help="softmax temperatures")
    parser.add_argument("--top", type=int, default=8, help="blended settings to list")
    parser.add_argument("--c", type=float, default=10.0, help="logistic regression C")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    limit_blas_threads()
    rows = read_csv(DATA / "banking77" / "train.csv")
    texts = [r.text for r in rows]
    labels = np.array([r.intent for r in rows])
    vectors = MiniLMEmbedder(batch_size=64).embed(texts)
    scores = fold_accuracies(texts, labels, vectors, args)
    best = max(scores, key=lambda s: float(np.mean(scores[s])))
    product = (EMBEDDING_WEIGHT, NEIGHBOUR_BLEND, NEIGHBOUR_TEMPERATURE)
    lines = [
        *table(scores, args.top),
        "",
        f"BANKING77 train only ({len(texts)} rows), stratified folds (seed 0), logistic "
        f"regression C={args.c}; best (weight, blend, temperature) {best}, mean "
        f"{np.mean(scores[best]):.4f} (the product uses {product}).",
    ]
    report(
        "Intent classifier settings, cross-validated (issue 4)", lines, append=not args.no_append
    )


if __name__ == "__main__":
    main()
