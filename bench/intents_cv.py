"""Cross-validated choice of the intent classifier's embedding weight on BANKING77 train.

The classifier (omnivox.understanding.intents) puts the MiniLM sentence embedding, scaled by
EMBEDDING_WEIGHT, next to TF-IDF word and character n-grams in one logistic regression. This
script scores each candidate weight by stratified k-fold cross-validation on BANKING77 train
only (test is never read), with the product's own features and model settings, and prints the
mean fold accuracy per weight. The product keeps the weight with the best mean.

Data: ../shared/datasets/banking77/train.csv.
Usage: python bench/intents_cv.py [--weights 0.5,1,2,3,4] [--c 10] [--folds 5] [--no-append]
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
from omnivox.understanding.intents import EMBEDDING_WEIGHT, features, fit_vectorizers

DATA = ROOT.parent / "shared" / "datasets"


def fold_accuracies(
    texts: list[str], labels: np.ndarray, vectors: np.ndarray, args: argparse.Namespace
) -> dict[float, list[float]]:
    """Accuracy of every weight on every held-out fold (vectorizers fitted per fold)."""
    weights = [float(w) for w in args.weights.split(",")]
    scores: dict[float, list[float]] = {w: [] for w in weights}
    splits = StratifiedKFold(args.folds, shuffle=True, random_state=0).split(texts, labels)
    for k, (train, held) in enumerate(splits):
        fit_texts = [texts[i] for i in train]
        held_texts = [texts[i] for i in held]
        word, chars = fit_vectorizers(fit_texts)
        for w in weights:
            started = time.perf_counter()
            model = LogisticRegression(C=args.c, max_iter=3000)
            model.fit(features(vectors[train], word, chars, fit_texts, w), labels[train])
            predicted = model.predict(features(vectors[held], word, chars, held_texts, w))
            scores[w].append(float((predicted == labels[held]).mean()))
            print(
                f"fold {k} weight {w}: {scores[w][-1]:.4f} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="0.5,1,2,3,4", help="comma-separated candidates")
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
    best = max(scores, key=lambda w: float(np.mean(scores[w])))
    lines = [
        f"| embedding weight | mean accuracy ({args.folds} folds) | sd | folds |",
        "|---|---|---|---|",
        *(
            f"| {w} | {np.mean(a):.4f} | {np.std(a):.4f} | {', '.join(f'{x:.4f}' for x in a)} |"
            for w, a in scores.items()
        ),
        "",
        f"BANKING77 train only ({len(texts)} rows), stratified folds (seed 0), logistic "
        f"regression C={args.c}; best weight {best} (the product uses {EMBEDDING_WEIGHT}).",
    ]
    report("Intent embedding weight, cross-validated (issue 4)", lines, append=not args.no_append)


if __name__ == "__main__":
    main()
