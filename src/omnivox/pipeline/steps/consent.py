"""consent: SMS STOP/START keywords become consent decisions, not conversation turns."""

from __future__ import annotations

from omnivox.identity.consent import PURPOSES, ConsentStore, sms_keyword
from omnivox.pipeline.context import TurnContext


class ConsentKeywords:
    """Record a keyword's decision for both purposes on SMS and end the turn silently."""

    name = "consent"
    finishing = False

    def __init__(self, consents: ConsentStore) -> None:
        self.consents = consents

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Halt without a reply (the carrier answers keywords itself)."""
        granted = sms_keyword(ctx.inbound.channel, ctx.inbound.text)
        if granted is None or ctx.customer_id is None:
            return ctx
        source = f"sms keyword {ctx.inbound.text.strip().upper()}"
        for purpose in PURPOSES:
            await self.consents.record(
                ctx.workspace.id, ctx.customer_id, purpose, "sms", granted, source
            )
        ctx.halt("consent_granted" if granted else "consent_withdrawn")
        return ctx
