"""Messages a stop left stored but unanswered are answered when a server starts.

Webhooks and mail are acknowledged once their message is stored, so a provider does not send
again a message whose turn a crash or a kill cut short after the store: nobody would answer
it. On start, each server looks for customer messages of the last ``server.recover_minutes``
minutes (15) with no reply, in conversations the bot still answers, and runs their turns
again. Each turn finds its message stored (the same provider id), sees no reply, and answers
it as it would a provider's retry (``attach``). Turns of one customer run one at a time, also
across servers with Redis, and a turn that finds a reply written meanwhile stops: servers
starting together answer a message once. Left alone: phone calls (the caller hung up), SMS
STOP/START (no answer is due), messages people hold, channels no longer configured, and a
message the customer wrote another after (that one was answered, or is the one recovered): an
answer to it would come after the later one's, from an older memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from omnivox.channels.base import ChannelAdapter
from omnivox.handoff.replies import as_inbound
from omnivox.identity.consent import sms_keyword
from omnivox.logs import get_logger
from omnivox.storage.repositories import Store, StoredMessage
from omnivox.turns import TurnService
from omnivox.types import utcnow

log = get_logger(__name__)
ChannelFor = Callable[[str, str], ChannelAdapter[Any] | None]


async def recover(store: Store, turns: TurnService, channel_for: ChannelFor, minutes: int) -> int:
    """Answer what the last stop left unanswered; how many messages were run again."""
    if minutes <= 0:
        return 0
    found = await store.unanswered(utcnow() - timedelta(minutes=minutes))
    again = 0
    for workspace_id, message in found:
        channel = channel_for(workspace_id, message.channel)
        if channel is None or not _due(message):
            continue
        latest = await store.last_inbound(message.conversation_id)
        if latest is not None and latest.id != message.id:  # the customer wrote since
            log.info("turn.recovery_superseded", message_id=message.id)
            continue
        inbound = replace(
            as_inbound(workspace_id, message), provider_message_id=message.provider_message_id
        )
        log.info("turn.recovered", message_id=message.id, channel=message.channel)
        try:
            await turns.handle(inbound, channel, admitted=True)
        except Exception as exc:  # one message must not keep the others unanswered
            log.error("turn.recovery_failed", message_id=message.id, error=repr(exc))
            continue
        again += 1
    return again


def _due(message: StoredMessage) -> bool:
    """Whether an answer is due (held, STOP/START, unknown sender or no provider id: no).

    The provider id makes running the message again find it stored instead of storing it twice.
    """
    sender = (message.metadata.get("sender") or {}).get("address")
    keyword = sms_keyword(message.channel, message.text)
    known = bool(sender and message.provider_message_id)
    return known and not message.metadata.get("held") and keyword is None
