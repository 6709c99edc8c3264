"""One message -> language, intent, sentiment, entities and "asks for a person"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from omnivox.knowledge.embeddings import Embedder
from omnivox.settings import ConfigError
from omnivox.understanding.config import INTENT_NAME, IntentSpec, UnderstandingSettings
from omnivox.understanding.entities import Entity, EntityExtractor
from omnivox.understanding.examples import read_csv, workspace_examples
from omnivox.understanding.handoff_request import asks_for_person
from omnivox.understanding.intents import OOS, IntentClassifier, IntentPrediction
from omnivox.understanding.language import Language, LanguageDetector
from omnivox.understanding.sentiment import Sentiment, SentimentAnalyzer


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything understood about one message."""

    language: Language
    sentiment: Sentiment
    entities: tuple[Entity, ...]
    intent: IntentPrediction | None
    wants_person: bool

    def as_metadata(self) -> dict[str, Any]:
        """The form stored on the message (``metadata.nlu``) and read back for trends."""
        intent = self.intent
        return {
            "language": self.language.code,
            "language_reliable": self.language.reliable,
            "sentiment": self.sentiment.score,
            "sentiment_label": self.sentiment.label,
            "intent": intent.intent if intent else None,
            "confidence": intent.confidence if intent else None,
            "scope_score": intent.scope_score if intent else None,
            "out_of_scope": intent.out_of_scope if intent else None,
            "wants_person": self.wants_person,
            "entities": [e.as_dict() for e in self.entities],
        }


@dataclass
class WorkspaceUnderstanding:
    """The classifiers of one workspace. ``train`` must run before ``analyze`` uses intents."""

    settings: UnderstandingSettings
    embedder: Embedder
    sentiment: SentimentAnalyzer
    csv_path: Path | None = None
    specs: dict[str, IntentSpec] = field(default_factory=dict)
    classifier: IntentClassifier | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.specs = {spec.name: spec for spec in s.intents}
        self.extractor = EntityExtractor(s.order_pattern, s.phone_region)
        self.language = LanguageDetector(s.language, s.languages)

    @property
    def has_intents(self) -> bool:
        """True when the workspace defines any intent."""
        return bool(self.settings.intents or self.csv_path)

    def train(self, cache_dir: Path | None) -> bool:
        """Train (or load from cache) the intent classifier. True if it came from the cache."""
        if not self.has_intents:
            return False
        csv_rows = read_csv(self.csv_path) if self.csv_path else []
        examples = workspace_examples(self.settings.intents, csv_rows)
        for name in sorted({ex.intent for ex in csv_rows} - self.specs.keys() - {OOS}):
            if not INTENT_NAME.fullmatch(name):
                raise ConfigError(
                    str(self.csv_path),
                    "intents_csv",
                    f"intent names of lower-case letters, digits and _ (got {name!r})",
                )
            self.specs[name] = IntentSpec(name=name)
        classifier = IntentClassifier(
            self.embedder, self.settings.oos_threshold, self.settings.classifier_c
        )
        cached = classifier.fit(examples, cache_dir)
        self.classifier = classifier
        return cached

    def warm_up(self) -> None:
        """Load the language and sentiment models now, not on the first message."""
        self.language.detect("warming up the language detector")
        self.sentiment.score("warming up")

    def analyze(
        self, text: str, now: datetime | None = None, language_hint: str | None = None
    ) -> Analysis:
        """Understand one message.

        Blocking: ~0.2 ms without an intent classifier (after :meth:`warm_up`), a few ms with
        one (run that in a worker thread).
        """
        intent = self.classifier.predict(text) if self.classifier else None
        return Analysis(
            language=self.language.detect(text, fallback=language_hint),
            sentiment=self.sentiment.score(text),
            entities=tuple(self.extractor.extract(text, now)),
            intent=intent,
            wants_person=asks_for_person(text),
        )

    def describe(self, names: Sequence[str]) -> list[str]:
        """Human descriptions of intents (for clarifying questions)."""
        out = []
        for name in names:
            spec = self.specs.get(name)
            out.append(spec.description if spec and spec.description else name.replace("_", " "))
        return out
