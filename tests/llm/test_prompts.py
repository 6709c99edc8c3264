from __future__ import annotations

from pathlib import Path

from omnivox.llm.prompts import ChannelGuidance, PromptBuilder
from omnivox.settings import PersonaSettings
from omnivox.types import HistoryItem

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
    assert "Do not invent policies" in system  # no passages: the honesty instruction
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
