"""The intent classifier: training, cache, confidence, out of scope, awkward input, scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.understanding.evaluation import evaluate, tune_threshold
from omnivox.understanding.intents import (
    OOS,
    Example,
    IntentClassifier,
    blend_neighbours,
    nearest_by_class,
)

TRAIN = [
    *(
        Example(t, "order_status")
        for t in [
            "where is my order",
            "has my package shipped",
            "track my parcel",
            "my order has not arrived",
            "when will my delivery come",
        ]
    ),
    *(
        Example(t, "returns")
        for t in [
            "how do I return an item",
            "what is the return policy",
            "can I send these boots back",
            "I want a refund for my jacket",
            "return window for sale items",
        ]
    ),
    *(
        Example(t, "store_hours")
        for t in [
            "what time do you open",
            "are you open on sunday",
            "store opening hours",
            "when does the shop close today",
            "holiday hours for the store",
        ]
    ),
    Example("what's the capital of France", OOS),
    Example("tell me a joke", OOS),
]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def classifier(embedder: MiniLMEmbedder) -> IntentClassifier:
    clf = IntentClassifier(embedder, threshold=0.35)
    clf.fit(TRAIN)
    return clf


def test_paraphrases_get_their_intent_with_confidence(classifier: IntentClassifier) -> None:
    for text, intent in [
        ("has my parcel been sent yet?", "order_status"),
        ("I'd like to send back a jacket", "returns"),
        ("are you open late on Friday", "store_hours"),
    ]:
        prediction = classifier.predict(text)
        assert prediction.intent == intent, (text, prediction)
        assert 0.0 < prediction.confidence <= 1.0
        assert prediction.candidates[0] == (intent, prediction.confidence)


def test_far_off_messages_are_out_of_scope(classifier: IntentClassifier) -> None:
    for text in ["what's the weather on Mars", "recommend a good pizza recipe"]:
        prediction = classifier.predict(text)
        assert prediction.out_of_scope and prediction.intent is None, (text, prediction)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😀🔥👍",
        "x" * 4000,
        "Где мой заказ? where is my order 我的订单",
        "wh\u200bere\u200d is\u2060 my order",
    ],
)
def test_awkward_input_is_classified_without_error(classifier: IntentClassifier, text: str) -> None:
    prediction = classifier.predict(text)
    assert prediction.scope_score >= 0 and len(prediction.candidates) >= 2


def test_the_model_is_cached_by_a_hash_of_the_data(
    embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    first = IntentClassifier(embedder, threshold=0.35)
    assert first.fit(TRAIN, tmp_path) is False
    again = IntentClassifier(embedder, threshold=0.35)
    assert again.fit(TRAIN, tmp_path) is True
    assert again.predict("track my parcel").intent == "order_status"
    changed = IntentClassifier(embedder, threshold=0.35)
    assert changed.fit([*TRAIN, Example("do you price match", "price_match")], tmp_path) is False
    assert len(list(tmp_path.glob("intents-*.pkl"))) == 2


def test_a_single_intent_still_trains(embedder: MiniLMEmbedder) -> None:
    clf = IntentClassifier(embedder, threshold=0.3)
    clf.fit(
        [Example("where is my order", "order_status"), Example("track my parcel", "order_status")]
    )
    assert clf.predict("where is my package").intent == "order_status"
    assert clf.predict("bake a chocolate cake").out_of_scope


def test_report_counts_unknown_intents_as_out_of_scope(classifier: IntentClassifier) -> None:
    rows = [
        Example("where is my parcel", "order_status"),
        Example("how do I send it back", "returns"),
        Example("when do you open", "store_hours"),
        Example("what's the weather on Mars", "weather"),  # not configured: out of scope
        Example("recommend a pizza recipe", OOS),
    ]
    report = evaluate(classifier, rows)
    assert report.n == 5
    assert report.oos_recall == 1.0 and report.oos_precision == 1.0
    assert report.accuracy == 1.0 and report.macro_f1 == 1.0
    none = evaluate(classifier, rows, threshold=0.0)
    assert none.oos_recall is not None and none.oos_recall < 1.0
    assert none.accuracy < report.accuracy


def test_threshold_tuning_keeps_the_accuracy_asked_for(classifier: IntentClassifier) -> None:
    rows = [
        Example("track my parcel please", "order_status"),
        Example("send back my boots", "returns"),
        Example("sunday opening time", "store_hours"),
        Example("who won the football", OOS),
        Example("write me a poem", OOS),
    ]
    threshold = tune_threshold(classifier, rows, min_in_scope_accuracy=1.0)
    report = evaluate(classifier, rows, threshold)
    assert report.in_scope_accuracy == 1.0
    assert threshold > 0 and (report.oos_recall or 0) > 0


def test_nearest_example_per_intent_and_the_blend() -> None:
    eye = np.eye(3, dtype=np.float32)
    # intent 0 has examples on axes 0 and 1, intent 1 one example on axis 2
    neighbours = np.stack([eye[0], eye[1], eye[2]])
    message = np.array([[0.6, 0.8, 0.0]], np.float32)
    nearest = nearest_by_class(message, neighbours, np.array([0, 2], np.int64))
    assert nearest.tolist() == [[pytest.approx(0.8), pytest.approx(0.0)]]
    # cosines 0.02 apart are a factor e at temperature 0.02
    mixed = blend_neighbours(np.array([[0.6, 0.4]]), np.array([[0.50, 0.52]]), 0.3, 0.02)
    share = np.array([1.0, np.e]) / (1.0 + np.e)
    assert mixed[0] == pytest.approx(0.7 * np.array([0.6, 0.4]) + 0.3 * share)
    assert mixed.sum() == pytest.approx(1.0)
    # a clearly nearer example turns a close call of the regression around
    turned = blend_neighbours(np.array([[0.55, 0.45]]), np.array([[0.40, 0.60]]), 0.3, 0.02)
    assert turned.argmax() == 1
    assert blend_neighbours(np.array([[0.55, 0.45]]), np.array([[0.40, 0.60]]), 0.0).argmax() == 0
