"""Telegram: Bot API webhooks in, ``sendMessage`` out.

Inbound: Telegram POSTs an ``Update`` to ``/webhooks/{workspace}/telegram`` with the secret set
by ``setWebhook(secret_token=...)`` in ``X-Telegram-Bot-Api-Secret-Token``, compared in constant
time. Text messages become turns, and so do photos, videos, documents and voice messages (read
by their caption, or said so without one: ``base.files_only``); stickers, locations and other
update types are acknowledged and ignored.
In a private chat the customer is the chat; in a group or supergroup each member is their own
customer (``from.id``) and the reply goes to the group (``reply_to``); only the group messages
meant for the bot are answered (:mod:`omnivox.channels.telegram_groups`), unless the workspace
sets ``groups: all``. ``/start`` (what Telegram
sends when someone opens the bot, perhaps with a deep-link payload) is read as "Hello", the
payload kept in the metadata; any other command is read as its words (``/talk_to_agent`` as
"talk to agent", ``/agent@AcmeBot`` as "agent"). The provider message id
is ``<chat id>:<message id>`` (message ids are per chat), so a redelivered update is stored once.
Outbound: ``POST {api_base}/bot<token>/sendMessage`` as plain text (no parse mode: nothing in an
answer can break Telegram's markup parser), citations as "Source: title (url)" lines, split at
4,096 characters.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

import httpx

from omnivox.channels.base import Capabilities, ChannelError, files_only, plain_messages
from omnivox.channels.provider_api import call, refused
from omnivox.channels.telegram_groups import addressed, bot_id, mention_pattern, without_mention
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, OutboundMessage, Reply

MAX_CHARS = 4096
SECRET_HEADER = "x-telegram-bot-api-secret-token"
GROUPS = ("group", "supergroup")
# files a customer sends; a GIF comes as both animation and document (the first is kept)
MEDIA = ("photo", "animation", "video", "video_note", "document", "audio", "voice")
START = re.compile(r"/start(?:@\w+)?(?:\s+(.*))?", re.DOTALL)
# any other command (``/agent``, ``/order_status@AcmeBot 123``) is read as its words
COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?", re.DOTALL)


@dataclass(frozen=True, slots=True)
class TelegramRequest:
    """A webhook call: the workspace, its headers and the parsed JSON body."""

    workspace_id: str
    headers: dict[str, str]
    body: Any


class TelegramChannel:
    """Adapter for one workspace's Telegram bot."""

    name = "telegram"
    capabilities = Capabilities(
        max_length=MAX_CHARS,
        markup="plain",
        guidance="Plain text for a Telegram chat: short paragraphs, no Markdown.",
        outbox=True,
    )

    def __init__(
        self,
        bot_token: str,
        secret_token: str,
        api_base: str,
        timeout_s: float = 10.0,
        *,
        bot_username: str = "",
        every_group_message: bool = False,
    ) -> None:
        self.secret_token = secret_token
        self._me = bot_id(bot_token)
        self._mention = mention_pattern(bot_username)
        self._every_group_message = every_group_message
        self._client = httpx.AsyncClient(
            base_url=f"{api_base.rstrip('/')}/bot{bot_token}", timeout=timeout_s
        )

    async def verify(self, request: TelegramRequest) -> None:
        """The secret header must match, compared in constant time."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret_token.encode()):
            raise ChannelError(401, "bad_signature", "missing or wrong Telegram secret token")

    async def parse(self, request: TelegramRequest) -> list[InboundMessage]:
        """A text message or a file as one inbound message; anything else as none."""
        update = request.body
        message = update.get("message") if isinstance(update, dict) else None
        if not isinstance(message, dict) or (found := _content(message)) is None:
            return []
        text, meta = found
        chat = message.get("chat")
        chat = chat if isinstance(chat, dict) else {}
        chat_id = chat.get("id")
        message_id = message.get("message_id")
        if not _integer(chat_id) or not _integer(message_id):
            raise ChannelError(
                400, "malformed_update", "a message needs an integer chat.id and message_id"
            )
        sender = message.get("from") or {}
        if not isinstance(sender, dict):
            raise ChannelError(400, "malformed_update", "message.from must be an object")
        parts = (sender.get("first_name"), sender.get("last_name"))
        name = " ".join(part for part in parts if isinstance(part, str) and part)
        meta["update_id"] = update.get("update_id")
        customer, reply_to = str(chat_id), None
        if chat.get("type") in GROUPS:  # each member is a customer; the group hears the reply
            if not _integer(sender.get("id")):
                raise ChannelError(
                    400, "malformed_update", "a group message needs an integer from.id"
                )
            if not self._every_group_message:
                if not addressed(message, text, self._me, self._mention):
                    return []  # the members talking among themselves
                text = without_mention(text, self._mention) or "Hello"
            customer, reply_to = str(sender["id"]), str(chat_id)
        if start := START.fullmatch(text.strip()):  # opening the bot is a greeting, not a question
            text, meta["start"] = "Hello", start.group(1)
        elif command := COMMAND.fullmatch(text.strip()):  # /talk_to_agent@AcmeBot: its words
            meta["command"] = command.group(1)
            text = " ".join([command.group(1).replace("_", " "), command.group(2) or ""]).strip()
        return [
            InboundMessage(
                workspace_id=request.workspace_id,
                channel=self.name,
                sender=CustomerRef(customer, name or None),
                text=text,
                provider_message_id=f"{chat_id}:{message_id}",
                metadata={"telegram": meta},
                reply_to=reply_to,
            )
        ]

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """Plain text with source lines, in pieces of at most 4,096 characters."""
        return plain_messages(self.name, reply, recipient, MAX_CHARS)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """``sendMessage``; a refusal is a failed receipt with Telegram's description.

        Retryable on 429, 5xx and connection errors.
        """
        body = {"chat_id": message.recipient, "text": message.text}
        result = await call(self._client, self.name, "/sendMessage", json=body)
        if isinstance(result, DeliveryReceipt):
            return result
        status, data, wait = result.status, result.data, result.retry_after_s
        if status >= 400 or not data.get("ok"):
            asked = (data.get("parameters") or {}).get("retry_after")  # the Bot API's own
            wait = float(asked) if isinstance(asked, int | float) else wait
            return refused(self.name, status, data.get("description"), retry_after_s=wait)
        sent = data.get("result") or {}
        # message ids count per chat (every private chat's first reply is 2): the chat is part
        # of the id, as for inbound messages, or the second chat's reply would clash
        sent_id = sent.get("message_id")
        return DeliveryReceipt(
            self.name, "sent", f"{message.recipient}:{sent_id}" if sent_id is not None else None
        )

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()


def _content(message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A message's text and what it came with; None for one that is not answered.

    A photo, video, document, audio or voice message is read by its caption (without one:
    ``base.files_only``); stickers, locations, contacts and polls are not answered.
    """
    text = message.get("text")
    if isinstance(text, str):
        return text, {}
    kind = next((kind for kind in MEDIA if kind in message), None)
    if kind is None:
        return None
    file = message[kind]  # a photo is a list of sizes, without a name
    name = file.get("file_name") if isinstance(file, dict) else None
    name = name if isinstance(name, str) and name else None
    caption = message.get("caption")
    caption = caption.strip() if isinstance(caption, str) else ""
    found = {"type": kind, "name": name}
    return caption or files_only([name or kind]), {"attachments": [found]}


def _integer(value: object) -> bool:
    """A JSON integer (Telegram's ids are; ``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)
