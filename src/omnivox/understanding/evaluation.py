"""Scoring an intent classifier on labelled rows, and tuning its out-of-scope threshold.

A row whose intent is ``oos`` or not one the classifier knows is an out-of-scope row: the right
answer for it is "out of scope". Accuracy counts every row; macro-F1 averages the F1 of the
in-scope intents present in the rows; out-of-scope precision and recall treat "out of scope" as
the positive class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from omnivox.understanding.intents import OOS, Example, IntentClassifier, IntentPrediction


@dataclass(frozen=True, slots=True)
class Report:
    """Figures for one labelled set."""

    n: int
    accuracy: float
    macro_f1: float
    in_scope_accuracy: float | None
    oos_precision: float | None
    oos_recall: float | None
    confused: tuple[tuple[str, str, int], ...]
    threshold: float

    def as_dict(self) -> dict[str, object]:
        """The JSON form printed by ``omnivox nlu test --json``."""
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "in_scope_accuracy": self.in_scope_accuracy,
            "oos_precision": self.oos_precision,
            "oos_recall": self.oos_recall,
            "threshold": self.threshold,
            "confused": [{"gold": g, "predicted": p, "count": n} for g, p, n in self.confused],
        }


def gold_labels(classifier: IntentClassifier, rows: Sequence[Example]) -> list[str]:
    """Each row's expected label: its intent, or ``oos`` when the classifier does not know it."""
    known = set(classifier.intents)
    return [row.intent if row.intent in known else OOS for row in rows]


def label_at(prediction: IntentPrediction, threshold: float) -> str:
    """The label a prediction gets at some threshold (re-thresholding without re-running)."""
    best = prediction.candidates[0][0]
    if best == OOS or prediction.scope_score < threshold:
        return OOS
    return best


def score(
    gold: Sequence[str], predicted: Sequence[str], threshold: float, top_confused: int = 5
) -> Report:
    """Compute the report from gold and predicted labels."""
    n = len(gold)
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    in_scope = [(g, p) for g, p in zip(gold, predicted, strict=True) if g != OOS]
    oos_gold = sum(g == OOS for g in gold)
    oos_pred = sum(p == OOS for p in predicted)
    oos_hit = sum(g == OOS and p == OOS for g, p in zip(gold, predicted, strict=True))
    confused = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    return Report(
        n=n,
        accuracy=_ratio(correct, n) or 0.0,
        macro_f1=_macro_f1(gold, predicted),
        in_scope_accuracy=_ratio(sum(g == p for g, p in in_scope), len(in_scope)),
        oos_precision=_ratio(oos_hit, oos_pred) if oos_gold else None,
        oos_recall=_ratio(oos_hit, oos_gold),
        confused=tuple((g, p, c) for (g, p), c in confused.most_common(top_confused)),
        threshold=threshold,
    )


def evaluate(
    classifier: IntentClassifier, rows: Sequence[Example], threshold: float | None = None
) -> Report:
    """Classify ``rows`` and score them (at the classifier's threshold unless one is given)."""
    at = classifier.threshold if threshold is None else threshold
    predictions = classifier.predict_many([row.text for row in rows])
    return score(gold_labels(classifier, rows), [label_at(p, at) for p in predictions], at)


def tune_threshold(
    classifier: IntentClassifier, rows: Sequence[Example], min_in_scope_accuracy: float
) -> float:
    """The threshold with the best out-of-scope recall at enough in-scope accuracy on ``rows``."""
    predictions = classifier.predict_many([row.text for row in rows])
    return best_threshold(gold_labels(classifier, rows), predictions, min_in_scope_accuracy)


def best_threshold(
    gold: Sequence[str], predictions: Sequence[IntentPrediction], min_in_scope_accuracy: float
) -> float:
    """The threshold with the best out-of-scope recall at enough in-scope accuracy.

    Enough: at least ``min_in_scope_accuracy``. 0 (no out-of-scope detection) when no threshold
    keeps that accuracy.
    """
    scores = np.array([p.scope_score for p in predictions], dtype=np.float64)
    # 400 quantiles are fine-grained enough and keep tuning fast on thousands of rows
    candidates = sorted({round(float(q), 4) for q in np.quantile(scores, np.linspace(0, 1, 400))})
    best, best_recall = 0.0, -1.0
    for threshold in [0.0, *candidates]:
        report = score(gold, [label_at(p, threshold) for p in predictions], threshold)
        accuracy = report.in_scope_accuracy or 0.0
        recall = report.oos_recall or 0.0
        if accuracy >= min_in_scope_accuracy and recall > best_recall:
            best, best_recall = threshold, recall
    return best


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    labels = sorted({g for g in gold if g != OOS})
    if not labels:
        return 0.0
    total = 0.0
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        total += 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return round(total / len(labels), 4)
