"""Which group messages are meant for the bot, and the text the assistant reads."""

from __future__ import annotations

from typing import Any

import pytest

from omnivox.channels.telegram_groups import addressed, bot_id, mention_pattern, without_mention

ME = 123456
MENTION = mention_pattern("@AcmeHelpBot")


def test_the_bot_id_is_the_tokens_number() -> None:
    assert bot_id("123456:ABC-def") == ME
    assert bot_id("not-a-token") is None


@pytest.mark.parametrize(
    ("text", "reply_from", "meant"),
    [
        ("@AcmeHelpBot when do you open?", None, True),
        ("when do you open, @acmehelpbot?", None, True),
        ("when do you open?", ME, True),  # a reply to the bot's message
        ("when do you open?", 555, False),  # a reply to someone else
        ("when do you open?", None, False),
        ("mail me at x@AcmeHelpBot.example", None, False),  # not a mention: part of a word
        ("@AcmeHelpBots are great", None, False),
        ("/start", None, True),
        ("/start@AcmeHelpBot ref-1", None, True),
        ("/help@AcmeHelpBot", None, True),
        ("/help", None, False),  # a command to every bot of the group
        ("/help@OtherBot", None, False),
    ],
)
def test_what_is_meant_for_the_bot(text: str, reply_from: int | None, meant: bool) -> None:
    message: dict[str, Any] = {"text": text}
    if reply_from is not None:
        message["reply_to_message"] = {"message_id": 1, "from": {"id": reply_from}}
    assert addressed(message, text, ME, MENTION) is meant


def test_without_a_username_only_replies_and_start_are_meant_for_the_bot() -> None:
    assert not addressed({}, "@AcmeHelpBot hi", ME, mention_pattern(""))
    assert addressed({}, "/start", ME, None)
    reply = {"reply_to_message": {"from": {"id": ME}}}
    assert addressed(reply, "hi", ME, None)


def test_the_mention_is_taken_out_of_the_question() -> None:
    assert without_mention("@AcmeHelpBot, when do you open?", MENTION) == "when do you open?"
    assert without_mention("when do you open @ACMEHELPBOT", MENTION) == "when do you open"
    assert without_mention("@AcmeHelpBot", MENTION) == ""
    assert without_mention("plain", None) == "plain"
