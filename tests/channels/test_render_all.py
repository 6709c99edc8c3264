"""One canonical reply rendered by every channel, each by its declared capabilities."""

from __future__ import annotations

from typing import Any

import pytest

from omnivox.channels.api import ApiChannel
from omnivox.channels.config import EmailSettings
from omnivox.channels.mail.channel import EmailChannel
from omnivox.channels.messenger import MessengerChannel
from omnivox.channels.slack import SlackChannel
from omnivox.channels.telegram import TelegramChannel
from omnivox.channels.twilio_sms import TwilioSmsChannel
from omnivox.channels.twilio_voice import TwilioVoiceChannel
from omnivox.channels.webchat import WebChatChannel
from omnivox.channels.whatsapp import WhatsAppChannel
from omnivox.types import Citation, Reply

REPLY = Reply(
    "**You have 60 days** to return unworn items [1]. Start at "
    "[acme.example/returns](https://acme.example/returns) — مرحبا 👋 zero\u200bwidth.",
    (
        Citation(
            "returns.md",
            "Returns & Exchanges",
            "Return within 60 days.",
            "https://acme.example/returns",
        ),
    ),
)
CHANNELS: list[Any] = [
    ApiChannel(),
    WebChatChannel(4000),
    TelegramChannel("1:t", "s", "http://unused"),
    SlackChannel("s", "xoxb", "http://unused"),
    TwilioSmsChannel("AC1", "t", "http://unused", 5),
    MessengerChannel("s", "v", "t", "http://unused", "v19.0", 5),
    WhatsAppChannel("s", "v", "t", "http://unused", "v19.0", 5),
    TwilioVoiceChannel("AC1", "t", "http://unused", 5),
    EmailChannel("acme", EmailSettings(addresses=["support@acme.example"]), "Acme", "Juniper"),
]


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
def test_every_channel_renders_the_same_reply_natively(channel: Any) -> None:
    messages = channel.render(REPLY, "recipient-1")
    assert messages and all(m.channel == channel.name for m in messages)
    assert all(m.recipient == "recipient-1" for m in messages)
    text = "\n".join(m.text for m in messages)
    assert all(len(m.text) <= channel.capabilities.max_length for m in messages)
    assert "مرحبا 👋 zero\u200bwidth" in text  # right-to-left, emoji and zero-width kept
    markup = channel.capabilities.markup
    if markup == "markdown":  # the model's own Markdown, citations structured beside it
        assert (
            text == REPLY.text and messages[0].payload["citations"][0]["source_id"] == "returns.md"
        )
    elif markup == "ssml":  # spoken: no markup, no URLs, no sources read out
        assert "**" not in text and "http" not in text and "Source" not in text
    elif markup == "whatsapp":  # *bold*, bare URLs (WhatsApp links them)
        assert "*You have 60 days*" in text and "**" not in text
        assert "acme.example/returns: https://acme.example/returns" in text
        assert "Source: Returns & Exchanges https://acme.example/returns" in text
    elif markup == "html":  # email: plain-text body plus an HTML alternative, sources as links
        html = messages[0].payload["channel_data"]["html"]
        assert "**" not in text and "[1] Returns & Exchanges <https://acme.example/returns>" in text
        assert "<strong>You have 60 days</strong>" in html
        assert '<a href="https://acme.example/returns" rel="noopener noreferrer">' in html
        assert "مرحبا 👋 zero\u200bwidth" in html
    elif markup == "mrkdwn":
        assert (
            "*You have 60 days*" in text
            and "<https://acme.example/returns|acme.example/returns>" in text
        )
        assert "Source: <https://acme.example/returns|Returns &amp; Exchanges>" in text
    else:  # plain text: no Markdown left, URLs whole, sources spelled out
        assert "**" not in text and "](" not in text
        if channel.name == "webchat":  # the widget lists citations itself
            assert messages[0].payload["citations"][0]["url"] == "https://acme.example/returns"
        else:
            assert "Source: Returns & Exchanges (https://acme.example/returns)" in text
