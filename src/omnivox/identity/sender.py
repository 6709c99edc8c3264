"""Sends verification codes over the workspace's own channels: SMS for phones, email for email.

A code is a transactional message, not a conversation message: it is sent straight through the
channel (not stored in a conversation), and only the fact that it was sent is recorded
(``identity.code_sent``; never the code).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnivox.channels.base import ChannelAdapter
from omnivox.channels.mail.channel import EmailChannel
from omnivox.types import DeliveryReceipt, OutboundMessage, Reply

SUBJECT = "Your verification code"


class CodeSender:
    """``send(workspace, kind, address, text)``: None when no channel can reach that kind."""

    def __init__(
        self,
        channels: Mapping[tuple[str, str], ChannelAdapter[Any]],
        sms_from: Mapping[str, str],
    ) -> None:
        self.channels = channels
        self.sms_from = sms_from

    async def __call__(
        self, workspace_id: str, kind: str, address: str, text: str
    ) -> DeliveryReceipt | None:
        """Send ``text`` to ``address``; the channel's receipt, or None if there is none."""
        if kind == "email":
            email = self.channels.get((workspace_id, "email"))
            if not isinstance(email, EmailChannel):
                return None
            [message] = email.render(Reply(text), address)
            data = {**message.payload["channel_data"], "subject": SUBJECT}
            return await email.send(
                OutboundMessage("email", address, message.text, {"channel_data": data})
            )
        sms = self.channels.get((workspace_id, "sms"))
        ours = self.sms_from.get(workspace_id)
        if kind != "phone" or sms is None or not ours:
            return None
        return await sms.send(OutboundMessage("sms", f"{address}|{ours}", text, {}))
