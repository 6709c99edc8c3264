"""An agent's reply, delivered on the customer's current channel like the bot's.

The reply answers the conversation's latest customer message: it goes back on that message's
channel, to its sender, through the channel's own renderer (SMS segments, email threading and
HTML, WhatsApp's window) and the deliver step (outbox row first, consent, retries). Outside
WhatsApp's 24-hour window an agent sends an approved template instead, through the same step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from omnivox.channels.base import ChannelAdapter
from omnivox.channels.whatsapp import (
    Template,
    TemplateError,
    WhatsAppChannel,
    check_template,
    template_data,
    template_text,
)
from omnivox.ids import new_id
from omnivox.pipeline.context import TurnContext
from omnivox.pipeline.steps.deliver import Deliver
from omnivox.pipeline.steps.render import Render
from omnivox.settings import WorkspaceSettings
from omnivox.storage.handoffs import HandoffError, HandoffView
from omnivox.storage.repositories import Store, StoredMessage
from omnivox.types import CustomerRef, InboundMessage, OutboundMessage, Reply

ChannelFor = Callable[[str, str], ChannelAdapter[Any] | None]


def as_inbound(workspace_id: str, message: StoredMessage) -> InboundMessage:
    """A stored customer message as the inbound message it was (sender, thread, metadata)."""
    sender = message.metadata.get("sender") or {}
    return InboundMessage(
        workspace_id=workspace_id,
        channel=message.channel,
        sender=CustomerRef(str(sender.get("address", "")), sender.get("name")),
        text=message.text,
        received_at=message.created_at,
        metadata=message.metadata,
        reply_to=message.metadata.get("reply_to"),
    )


class AgentReplies:
    """Sends an agent's text to the customer of a handoff."""

    def __init__(self, store: Store, deliver: Deliver, channel_for: ChannelFor) -> None:
        self.store = store
        self.deliver = deliver
        self.channel_for = channel_for

    async def send(
        self,
        ws: WorkspaceSettings,
        handoff: HandoffView,
        agent_id: str,
        text: str,
        extra: dict[str, Any] | None = None,
    ) -> StoredMessage:
        """Render and deliver ``text``; the stored outbound message (HandoffError if none).

        ``extra`` goes into each rendered message's payload (web chat: rating buttons).
        """
        last = await self.store.last_inbound(handoff.conversation_id)
        ctx = await self._context(ws, handoff, agent_id, text, last)
        ctx = await Render()(ctx)
        payload = {"from_agent": True, **(extra or {})}
        ctx.outbound = [replace(m, payload={**m.payload, **payload}) for m in ctx.outbound]
        return await self._deliver(ctx)

    async def send_template(
        self,
        ws: WorkspaceSettings,
        handoff: HandoffView,
        agent_id: str,
        name: str,
        params: list[str],
    ) -> StoredMessage:
        """Deliver WhatsApp template ``name`` with its body ``params``: the stored message.

        Its text is the template in a readable form (:func:`template_text`), its
        ``channel_data`` the template (how a retry sends it again). Refused with nothing stored
        as :meth:`check_template` refuses. Templates may go out whether or not the 24-hour
        window is open.
        """
        template = await self.check_template(ws, handoff, name, params)
        last = await self.store.last_inbound(handoff.conversation_id)
        text = template_text(template, params)
        ctx = await self._context(ws, handoff, agent_id, text, last)
        recipient = ctx.inbound.reply_to or ctx.inbound.sender.address
        payload = {"from_agent": True, "channel_data": template_data(template, params)}
        ctx.outbound = [OutboundMessage("whatsapp", recipient, text, payload)]
        return await self._deliver(ctx)

    async def check_template(
        self, ws: WorkspaceSettings, handoff: HandoffView, name: str, params: list[str]
    ) -> Template:
        """The WhatsApp template ``name`` if it can go to the handoff's customer with ``params``.

        HandoffError (4xx) when the customer's latest message is not a WhatsApp one (409), the
        channel is off (409), or the template is not configured or the parameters do not fit
        it (422, :func:`omnivox.channels.whatsapp.check_template`).
        """
        last = await self.store.last_inbound(handoff.conversation_id)
        if last is None or last.channel != "whatsapp":
            where = last.channel if last else "no channel"
            raise HandoffError(
                409,
                "not_whatsapp",
                f"templates are WhatsApp's, and the customer's latest message came by {where}",
            )
        channel = self.channel_for(ws.id, "whatsapp")
        if not isinstance(channel, WhatsAppChannel):
            raise HandoffError(409, "channel_off", "the whatsapp channel is not enabled")
        try:
            return check_template(channel.templates, name, params)
        except TemplateError as exc:
            raise HandoffError(422, "bad_template", f"{exc}; nothing was sent") from exc

    async def _context(
        self,
        ws: WorkspaceSettings,
        handoff: HandoffView,
        agent_id: str,
        text: str,
        last: StoredMessage | None,
    ) -> TurnContext:
        """A turn answering ``last``, the conversation's latest customer message, with text."""
        if last is None or not (last.metadata.get("sender") or {}).get("address"):
            raise HandoffError(409, "no_recipient", "the customer has no message to answer")
        inbound = as_inbound(ws.id, last)
        # the bot's note on a message it read only in part is not the agent's to repeat
        inbound = replace(inbound, metadata=_without(inbound.metadata, "truncated"))
        if last.channel == "voice":  # a call cannot be rung back with text: answer by SMS
            inbound = self._by_sms(ws, inbound)
        channel = self.channel_for(ws.id, inbound.channel)
        if channel is None:
            raise HandoffError(409, "channel_off", f"the {inbound.channel} channel is not enabled")
        ctx = TurnContext(inbound=inbound, workspace=ws, channel=channel, turn_id=new_id("turn"))
        ctx.customer_id, ctx.conversation_id, ctx.message = (
            handoff.customer_id,
            handoff.conversation_id,
            last,
        )
        ctx.reply = Reply(text, provider=f"agent:{agent_id}")
        return ctx

    async def _deliver(self, ctx: TurnContext) -> StoredMessage:
        """Deliver ``ctx.outbound``; the first stored message, or HandoffError when refused."""
        ctx = await self.deliver(ctx)
        if not ctx.delivered:
            raise HandoffError(409, "not_sent", "nothing could be rendered for this channel")
        failed = next((m for m in ctx.delivered if m.status == "failed"), None)
        if failed is not None:  # stored as failed for the record; the agent must know
            error = (failed.metadata.get("delivery") or {}).get("error") or "refused"
            raise HandoffError(
                502, "not_sent", f"the {ctx.inbound.channel} channel refused it: {error}"
            )
        return ctx.delivered[0]

    def _by_sms(self, ws: WorkspaceSettings, inbound: InboundMessage) -> InboundMessage:
        """A caller's message as if texted to the number they called (see :func:`by_sms`)."""
        texted = by_sms(ws.id, inbound, self.channel_for)
        if texted is None:
            raise HandoffError(
                409,
                "caller_unreachable",
                "a caller hears answers only during the call; with Twilio SMS enabled and the "
                "number called known, replies go to the caller by text",
            )
        return texted


def by_sms(
    workspace_id: str, inbound: InboundMessage, channel_for: ChannelFor
) -> InboundMessage | None:
    """A caller's message as if texted to the number they called, where a person's reply goes.

    The voice channel answers only inside the call's own HTTP response: a reply written later
    would be stored as sent and reach nobody. None when the caller cannot be texted: no SMS
    channel, or the number called unknown.
    """
    ours = (inbound.metadata.get("twilio") or {}).get("to")
    if not ours or channel_for(workspace_id, "sms") is None:
        return None
    return replace(inbound, channel="sms", reply_to=f"{inbound.sender.address}|{ours}")


def _without(metadata: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k != key}
