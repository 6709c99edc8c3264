"""Language of a message (py3langid), with an honest fallback for text too short to tell.

"ok", "thx" or an emoji say nothing about a language: below ``min_letters`` letters, or when the
identifier is unsure, the message keeps the conversation's language (or the workspace default)
and is marked ``reliable=False``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "sv": "Swedish", "da": "Danish", "no": "Norwegian",
    "fi": "Finnish", "pl": "Polish", "cs": "Czech", "tr": "Turkish", "ru": "Russian",
    "uk": "Ukrainian", "ar": "Arabic", "he": "Hebrew", "hi": "Hindi", "zh": "Chinese",
    "ja": "Japanese", "ko": "Korean", "vi": "Vietnamese", "id": "Indonesian", "el": "Greek",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Language:
    """An ISO 639-1 code, the identifier's probability, and whether to trust it."""

    code: str
    probability: float
    reliable: bool

    @property
    def name(self) -> str:
        """English name of the language (the code when unknown)."""
        return NAMES.get(self.code, self.code)


class LanguageDetector:
    """py3langid with normalised probabilities, optionally limited to some languages."""

    def __init__(
        self,
        default: str = "en",
        languages: Sequence[str] = (),
        min_letters: int = 12,
        min_probability: float = 0.9,
    ) -> None:
        self.default = default
        self.languages = tuple(languages)
        self.min_letters = min_letters
        self.min_probability = min_probability
        self._identifier: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                if self.languages:
                    identifier.set_languages(list(self.languages))
                self._identifier = identifier
            return self._identifier

    def detect(self, text: str, fallback: str | None = None) -> Language:
        """The message's language; ``fallback`` (else the default) when it cannot be told."""
        keep = fallback or self.default
        if sum(ch.isalpha() for ch in text) < self.min_letters:
            return Language(keep, 0.0, False)
        code, probability = self._load().classify(text)
        probability = float(probability)
        if probability < self.min_probability:
            return Language(keep, round(probability, 4), False)
        return Language(str(code), round(probability, 4), True)
