"""render: the channel-neutral reply -> the channel's own messages (pure)."""

from __future__ import annotations

from dataclasses import replace

from omnivox.channels.base import ThreadedRenderer
from omnivox.identity.kinds import continuity_lead
from omnivox.pipeline.context import TurnContext


class Render:
    """Ask the channel adapter to render the reply."""

    name = "render"
    finishing = True

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set ``outbound`` (nothing for a duplicate: it was answered already)."""
        if ctx.reply is not None and ctx.duplicate_of is None:
            recipient = ctx.inbound.reply_to or ctx.inbound.sender.address
            if ctx.resumed_from:  # say that this continues the conversation from elsewhere
                lead = continuity_lead(ctx.resumed_from)
                ctx.reply = replace(ctx.reply, text=f"{lead} {ctx.reply.text}")
            if ctx.inbound.metadata.get("truncated"):  # cut to server.max_text_chars
                read = f"{len(ctx.inbound.text):,}"
                note = f"(Your message was long: I read its first {read} characters.)"
                ctx.reply = replace(ctx.reply, text=f"{note} {ctx.reply.text}")
            if isinstance(ctx.channel, ThreadedRenderer):
                ctx.outbound = ctx.channel.render_in_thread(ctx.reply, recipient, ctx.inbound)
            else:
                ctx.outbound = ctx.channel.render(ctx.reply, recipient)
        return ctx
