"""Prompt assembly from Jinja2 templates; a workspace may override any template by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from omnivox.llm.base import ChatMessage
from omnivox.settings import PersonaSettings
from omnivox.types import HistoryItem, Passage

PACKAGE_PROMPTS = Path(__file__).with_name("prompts")


@dataclass(frozen=True, slots=True)
class ChannelGuidance:
    """How answers should look on a channel, told to the model."""

    name: str
    guidance: str


class PromptBuilder:
    """Renders ``system.j2`` and ``question.j2`` and lays out the chat messages.

    What changes every turn (the passages found for this question) comes last, with the
    question: the system prompt and the history before it stay the same from turn to turn, so a
    model's KV cache or a provider's prompt cache reuses them (docs/identity.md#memory).
    """

    def __init__(self, override_dir: Path | None = None) -> None:
        search = [str(override_dir)] if override_dir else []
        self._env = Environment(
            loader=FileSystemLoader([*search, str(PACKAGE_PROMPTS)]),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )

    def render(self, name: str, **values: object) -> str:
        """Render the template ``name`` (the workspace's own if it has one), stripped."""
        return self._env.get_template(name).render(**values).strip()

    def build(
        self,
        *,
        persona: PersonaSettings,
        channel: ChannelGuidance,
        question: str,
        history: Sequence[HistoryItem] = (),
        passages: Sequence[Passage] = (),
        language: str | None = None,
        resumed_from: str | None = None,
        summary: str = "",
        facts: Mapping[str, str] | None = None,
    ) -> tuple[ChatMessage, ...]:
        """System prompt, then the conversation so far, then the question with its passages.

        ``language`` (an English language name) asks for the reply in the customer's language;
        None keeps the persona's own. ``resumed_from`` names the channel the conversation
        started on when the customer has moved to this one. ``summary`` is the rolling summary
        of turns older than ``history``; ``facts`` a few things known about the customer.
        """
        system = (
            self._env.get_template("system.j2")
            .render(
                persona=persona,
                channel=channel,
                passages=list(passages),  # for overrides written when passages lived here
                language=language,
                resumed_from=resumed_from,
                summary=summary,
                facts=dict(facts or {}),
            )
            .strip()
        )
        messages = [ChatMessage("system", system)]
        for item in history:
            messages.append(
                ChatMessage("user" if item.direction == "in" else "assistant", item.text)
            )
        last = self._env.get_template("question.j2").render(
            question=question, passages=list(passages)
        )
        messages.append(ChatMessage("user", last.strip()))
        return tuple(messages)
