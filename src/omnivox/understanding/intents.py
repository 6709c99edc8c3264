"""Intent classification with calibrated confidence and out-of-scope detection.

Features: the bundled MiniLM sentence embedding (meaning) next to TF-IDF word 1-2-grams and
character 2-5-grams (the exact words customers use: "top up", "PIN", "ACM-"), fed to one
multinomial logistic regression. On BANKING77 the text features add ~1 point of accuracy
over the embedding alone (bench/intents.py, bench/RESULTS.md). The regression's probabilities
are then blended with a nearest-example distribution (a softmax over each intent's highest
cosine to its own training examples): the regression draws one straight boundary per intent,
the nearest example remembers the odd phrasing a boundary leaves on the wrong side. The blend
added ~0.4 points of 5-fold cross-validated accuracy on BANKING77 train, in every fold
(bench/intents_cv.py).

Out of scope: a message is out of scope when the model predicts the ``oos`` class (training
rows labelled ``oos``, if any), or when its *scope score* falls below the threshold. The score
is ``sqrt(probability) x cosine to the nearest training example of the predicted intent``: the
probability alone is overconfident far from the data (a softmax always picks someone), the
nearest-neighbour cosine alone ignores how the classes compete. The threshold is tuned on a
validation split (CLINC150 ``val``) by :func:`omnivox.understanding.evaluation.best_threshold`.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from omnivox.knowledge.embeddings import Embedder, Vectors

OOS = "oos"
MODEL_VERSION = 3  # bump when features or training change: cached models are then retrained
# Scale of the embedding block next to the TF-IDF blocks, and the inverse regularisation:
# chosen on a 10% validation split of BANKING77 train (weights 0.5-4, C 3-30; bench/RESULTS.md)
# and confirmed by 5-fold cross-validation on all of train (bench/intents_cv.py).
EMBEDDING_WEIGHT = 2.0
# Share of the nearest-example distribution in the blend, and its softmax temperature (cosines
# of 0.02 apart are a factor e): chosen jointly by 5-fold cross-validation on BANKING77 train
# (blend 0-0.5 x temperature 0.01-0.1; bench/intents_cv.py, bench/RESULTS.md).
NEIGHBOUR_BLEND = 0.3
NEIGHBOUR_TEMPERATURE = 0.02


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled training or test message."""

    text: str
    intent: str


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    """The best intent (None when out of scope), its probability and the scope score."""

    intent: str | None
    confidence: float
    scope_score: float
    candidates: tuple[tuple[str, float], ...]

    @property
    def out_of_scope(self) -> bool:
        """True when no configured intent fits."""
        return self.intent is None


@dataclass
class TrainedIntents:
    """What training produces; pickled under the data dir, keyed by the data's hash."""

    classes: list[str]
    word: TfidfVectorizer
    chars: TfidfVectorizer
    model: LogisticRegression | None  # None when there is only one class
    neighbours: Vectors  # the training examples' embeddings, grouped by class in ``classes`` order
    starts: npt.NDArray[np.int64]  # where each class's rows begin in ``neighbours``


def data_hash(examples: Sequence[Example], embedder_name: str, c: float) -> str:
    """Hash of everything training depends on."""
    digest = hashlib.sha256()
    header = {
        "v": MODEL_VERSION,
        "embedder": embedder_name,
        "c": c,
        "w": EMBEDDING_WEIGHT,
        "sklearn": version("scikit-learn"),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for ex in examples:
        digest.update(f"{ex.intent}\t{ex.text}\n".encode())
    return digest.hexdigest()[:24]


class IntentClassifier:
    """Train once, then classify single messages in a few milliseconds."""

    def __init__(self, embedder: Embedder, threshold: float, c: float = 10.0) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.c = c
        self.trained: TrainedIntents | None = None

    @property
    def intents(self) -> list[str]:
        """The in-scope intents the model knows."""
        return [c for c in self.trained.classes if c != OOS] if self.trained else []

    def fit(self, examples: Sequence[Example], cache_dir: Path | None = None) -> bool:
        """Train (or load the cached model for exactly this data). True if loaded from cache."""
        path = None
        if cache_dir is not None:
            path = cache_dir / f"intents-{data_hash(examples, self.embedder.name, self.c)}.pkl"
            if path.exists():
                with path.open("rb") as handle:  # our own file, written below
                    self.trained = pickle.load(handle)
                return True
        self.trained = self._train(examples)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")  # concurrent trainers never share
            with tmp.open("wb") as handle:
                pickle.dump(self.trained, handle)
            tmp.replace(path)
        return False

    def _train(self, examples: Sequence[Example]) -> TrainedIntents:
        if not examples:
            raise ValueError("no intent examples to train on")
        texts = [ex.text for ex in examples]
        labels = np.array([ex.intent for ex in examples])
        vectors = self.embedder.embed(texts)
        word, chars = fit_vectorizers(texts)
        classes = sorted(set(labels.tolist()))
        model = None
        if len(classes) > 1:
            model = LogisticRegression(C=self.c, max_iter=3000)
            model.fit(features(vectors, word, chars, texts), labels)
            classes = [str(c) for c in model.classes_]
        neighbours, starts = group_by_class(vectors, labels, classes)
        return TrainedIntents(classes, word, chars, model, neighbours, starts)

    def predict(self, text: str) -> IntentPrediction:
        """Classify one message."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[IntentPrediction]:
        """Classify many messages at once (faster per message)."""
        if self.trained is None:
            raise RuntimeError("the intent classifier is not trained")
        trained = self.trained
        cleaned = [text.strip() or "." for text in texts]
        vectors = self.embedder.embed(cleaned)
        nearest = nearest_by_class(vectors, trained.neighbours, trained.starts)
        if trained.model is None:
            probs = np.ones((len(cleaned), 1), dtype=np.float64)
        else:
            probs = trained.model.predict_proba(
                features(vectors, trained.word, trained.chars, cleaned)
            )
        blended = blend_neighbours(probs, nearest)
        return [self._decide(*rows) for rows in zip(blended, probs, nearest, strict=True)]

    def _decide(self, blended: Any, probs: Any, nearest: Any) -> IntentPrediction:
        """The blend picks the intent; the regression's own probability scores the scope."""
        assert self.trained is not None
        order = np.argsort(-blended)[:3]
        candidates = tuple((self.trained.classes[i], round(float(blended[i]), 4)) for i in order)
        best, confidence = candidates[0]
        closest = max(float(nearest[order[0]]), 0.0)
        score = float(np.sqrt(probs[order[0]]) * closest) if best != OOS else 0.0
        intent = best if best != OOS and score >= self.threshold else None
        return IntentPrediction(intent, confidence, round(score, 4), candidates)


def group_by_class(
    vectors: Vectors, labels: npt.NDArray[Any], classes: Sequence[str]
) -> tuple[Vectors, npt.NDArray[np.int64]]:
    """``vectors`` reordered class by class (``classes`` order), and where each class begins."""
    grouped = [np.flatnonzero(labels == c) for c in classes]
    starts = np.cumsum([0] + [len(g) for g in grouped[:-1]]).astype(np.int64)
    return vectors[np.concatenate(grouped)], starts


def nearest_by_class(
    vectors: Vectors, neighbours: Vectors, starts: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Each row's highest cosine to each class's examples (``neighbours`` grouped at ``starts``)."""
    return np.maximum.reduceat(vectors @ neighbours.T, starts, axis=1)


def blend_neighbours(
    probs: npt.NDArray[np.float64],
    nearest: npt.NDArray[np.float32],
    share: float = NEIGHBOUR_BLEND,
    temperature: float = NEIGHBOUR_TEMPERATURE,
) -> npt.NDArray[np.float64]:
    """``probs`` blended with the softmax of the nearest-example cosines (``share`` of it)."""
    scaled = np.exp((nearest - nearest.max(axis=1, keepdims=True)) / temperature)
    mixed = (1 - share) * probs + share * scaled / scaled.sum(axis=1, keepdims=True)
    return np.asarray(mixed, dtype=np.float64)


def fit_vectorizers(texts: Sequence[str]) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    """The word 1-2-gram and character 2-5-gram TF-IDF vectorizers, fitted on ``texts``."""
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    # rare character n-grams only bloat a large model; a small one needs all it can get
    min_df = 2 if len(texts) >= 1000 else 1
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=min_df
    )
    word.fit(texts)
    chars.fit(texts)
    return word, chars


def features(
    vectors: Vectors,
    word: TfidfVectorizer,
    chars: TfidfVectorizer,
    texts: Sequence[str],
    weight: float = EMBEDDING_WEIGHT,
) -> Any:
    """The classifier's input: the embedding block scaled by ``weight``, then both TF-IDF blocks."""
    dense = csr_matrix(vectors * weight)
    return hstack([dense, word.transform(texts), chars.transform(texts)]).tocsr()
