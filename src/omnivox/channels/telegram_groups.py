"""Which Telegram group messages are meant for the bot.

A bot in a group whose privacy mode is off (or that is an admin) receives every message of the
group: answering each one would talk over the members' own conversation. A message is meant for
the bot when it is a reply to one of the bot's messages, mentions the bot's ``@username``, or is
a command to it (``/help@AcmeBot``, or ``/start`` after a deep link). The mention is taken out
of the text the assistant reads ("@AcmeBot when do you open?" asks "when do you open?").
"""

from __future__ import annotations

import re
from typing import Any


def bot_id(token: str) -> int | None:
    """The bot's user id: the number before the colon of its token (``123456:ABC...``)."""
    head = token.split(":", 1)[0]
    return int(head) if head.isdigit() else None


def mention_pattern(username: str) -> re.Pattern[str] | None:
    """``@username`` as a whole word, any case (None without a username)."""
    name = username.lstrip("@")
    return re.compile(rf"(?<![\w@])@{re.escape(name)}\b[,:]?", re.IGNORECASE) if name else None


def addressed(
    message: dict[str, Any], text: str, me: int | None, mention: re.Pattern[str] | None
) -> bool:
    """True when the group ``message`` (whose text or caption is ``text``) is for the bot."""
    replied = message.get("reply_to_message")
    if isinstance(replied, dict) and me is not None:
        author = replied.get("from")
        if isinstance(author, dict) and author.get("id") == me:
            return True
    if mention is not None and mention.search(text):
        return True
    return _command_to_me(text, mention)


def _command_to_me(text: str, mention: re.Pattern[str] | None) -> bool:
    """``/start`` (a deep link opens the bot), or any command naming this bot."""
    command = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    if not command.startswith("/"):
        return False
    name, _, target = command.partition("@")
    if not target:
        return name == "/start"
    return mention is not None and bool(mention.fullmatch("@" + target))


def without_mention(text: str, mention: re.Pattern[str] | None) -> str:
    """``text`` with the bot's mentions taken out (spacing tidied)."""
    if mention is None:
        return text
    return " ".join(mention.sub(" ", text).split())
