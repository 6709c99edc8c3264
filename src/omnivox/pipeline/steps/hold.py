"""hold: while a person holds the conversation the bot stays silent.

A customer's message to a conversation in the ``human`` state is stored (attach did that) and
shown live in the console; the turn ends here without a reply (on a phone call, where silence
is not an option, with one sentence saying a person has the request).
"""

from __future__ import annotations

from omnivox.handoff.bus import ConsoleBus
from omnivox.pipeline.context import HELD_FOR_AGENT, TurnContext
from omnivox.types import Reply

ON_HOLD = "A member of our team has your request and will get back to you."


class Hold:
    """End the turn silently when people hold the conversation."""

    name = "hold"
    finishing = False

    def __init__(self, bus: ConsoleBus) -> None:
        self.bus = bus

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Halt (no reply) and tell the consoles about the message."""
        if ctx.message is None or not ctx.message.metadata.get("held"):
            return ctx
        self.bus.publish(
            ctx.workspace.id,
            {
                "type": "message",
                "conversation_id": ctx.conversation_id,
                "channel": ctx.inbound.channel,
                "text": ctx.inbound.text,
            },
        )
        if ctx.channel.capabilities.markup == "ssml":  # a live call cannot stay silent
            ctx.halt(HELD_FOR_AGENT, Reply(ON_HOLD))
        else:
            ctx.halt(HELD_FOR_AGENT)
        return ctx
