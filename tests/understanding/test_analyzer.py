"""The whole understanding of one message, including input nobody should send but people do."""

from __future__ import annotations

import pytest

from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.understanding.analyzer import WorkspaceUnderstanding
from omnivox.understanding.config import UnderstandingSettings
from omnivox.understanding.sentiment import SentimentAnalyzer

SETTINGS = UnderstandingSettings.model_validate(
    {
        "order_pattern": r"ACM-\d{6}",
        "intents": [
            {"name": "order_status", "examples": ["where is my order", "track my parcel"]},
            {"name": "returns", "examples": ["how do I return this", "refund please"]},
        ],
    }
)


@pytest.fixture(scope="module")
def nlu() -> WorkspaceUnderstanding:
    understanding = WorkspaceUnderstanding(SETTINGS, MiniLMEmbedder(), SentimentAnalyzer())
    understanding.train(None)
    return understanding


@pytest.mark.parametrize(
    "text",
    [
        "",
        "🙂🙂🙂",
        "ü" * 4000,
        "where is my order " * 222,
        "Где мой заказ ACM-482193? 我的订单在哪里 where is it",
        "wh\u200bere\u200c is\u200d my\u2060 or\ufeffder",
        "\u202eredro ym si erehw",
        "\x00\x01 control characters \x7f",
    ],
)
def test_awkward_messages_are_understood_without_error(
    nlu: WorkspaceUnderstanding, text: str
) -> None:
    analysis = nlu.analyze(text)
    metadata = analysis.as_metadata()
    assert set(metadata) >= {"language", "intent", "sentiment", "entities", "wants_person"}
    assert -1.0 <= analysis.sentiment.score <= 1.0
    assert analysis.intent is not None and 0.0 <= analysis.intent.confidence <= 1.0


def test_the_conversation_language_carries_over_short_messages(nlu: WorkspaceUnderstanding) -> None:
    assert nlu.analyze("ok", language_hint="es").language.code == "es"
    mixed = nlu.analyze("Hola, quiero devolver estas botas, me quedan pequeñas")
    assert mixed.language.code == "es" and mixed.language.reliable


def test_entities_come_with_the_analysis(nlu: WorkspaceUnderstanding) -> None:
    analysis = nlu.analyze("Where is my order ACM-482193? It cost $89.50, email me at a@b.co")
    kinds = [e.kind for e in analysis.entities]
    assert kinds == ["order_number", "amount", "email"]
    assert analysis.intent is not None and analysis.intent.intent == "order_status"
