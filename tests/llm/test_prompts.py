from __future__ import annotations

from pathlib import Path

from omnivox.llm.prompts import ChannelGuidance, PromptBuilder
from omnivox.settings import PersonaSettings
from omnivox.types import HistoryItem, Passage

PERSONA = PersonaSettings(
    name="Juniper",
    brand="Acme Outfitters",
    voice="Warm.",
    preferred_terms={"cheap": "affordable"},
    avoided_terms=["no problem"],
)


def test_system_prompt_carries_persona_channel_and_history() -> None:
    messages = PromptBuilder().build(
        persona=PERSONA,
        channel=ChannelGuidance("sms", "Plain text, short."),
        question="Hi?",
        history=[
            HistoryItem("in", "hello", "sms"),
            HistoryItem("out", "Hi! How can I help?", "sms"),
        ],
    )
    system = messages[0].content
    assert "You are Juniper, the customer-service assistant of Acme Outfitters." in system
    assert 'Say "affordable" rather than "cheap".' in system
    assert "Never say: no problem." in system
    assert "Channel: sms. Plain text, short." in system
    assert "do not invent policies" in system  # the honesty instruction, passages or not
    assert [(m.role, m.content) for m in messages[1:]] == [
        ("user", "hello"),
        ("assistant", "Hi! How can I help?"),
        ("user", "Hi?"),
    ]


def test_workspace_can_override_a_template(tmp_path: Path) -> None:
    (tmp_path / "system.j2").write_text("Custom for {{ persona.name }} on {{ channel.name }}.")
    messages = PromptBuilder(tmp_path).build(
        persona=PERSONA, channel=ChannelGuidance("api", ""), question="q"
    )
    assert messages[0].content == "Custom for Juniper on api."


def test_passages_come_last_with_the_question_so_the_prompt_start_is_stable() -> None:
    history = [HistoryItem("in", "hello", "webchat"), HistoryItem("out", "Hi!", "webchat")]
    channel = ChannelGuidance("webchat", "Short.")
    with_passages = PromptBuilder().build(
        persona=PERSONA,
        channel=channel,
        question="How long do returns take?",
        history=history,
        passages=[Passage("returns.md", "Returns", "Return within 60 days.", 0.9)],
    )
    without = PromptBuilder().build(
        persona=PERSONA, channel=channel, question="Other?", history=history
    )
    assert with_passages[:-1] == without[:-1]  # system prompt and history do not depend on them
    assert with_passages[-1].content == (
        "Passages:\n[1] Returns: Return within 60 days.\n\nQuestion: How long do returns take?"
    )
    assert without[-1].content == "Other?"
