"""guard_input: what the model may see of the customer's text.

Personal data becomes placeholders before any model call (``privacy.redact``): the message,
the recent history, the summary and the profile facts, with the customer's own name, email and
phone recognised too (:mod:`omnivox.privacy`). The turn keeps the vault of what it replaced, so
the reply can be given back the customer's own details. Instructions planted in documents are
screened at retrieval (:mod:`omnivox.guardrails.injection`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from omnivox.pipeline.context import TurnContext
from omnivox.privacy.vault import Vault
from omnivox.storage.memory import name_values
from omnivox.storage.repositories import Store


def redact_memory(ctx: TurnContext, vault: Vault, known: list[tuple[str, str]]) -> None:
    """Placeholders for personal data in ``ctx``'s history, summary and profile facts."""
    ctx.history = [replace(h, text=vault.redact(h.text, known)) for h in ctx.history]
    ctx.summary = vault.redact(ctx.summary, known)
    ctx.facts = {k: vault.redact(v, known) for k, v in ctx.facts.items()}


class GuardInput:
    """Sets ``model_text`` (and redacts memory) for the model."""

    name = "guard_input"
    finishing = False

    def __init__(self, store: Store | None = None, key: Callable[[], bytes] | None = None) -> None:
        self.store = store
        self.key = key

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Redact, or copy the inbound text when redaction is off."""
        vault = self.vault(ctx)
        if vault is None:
            ctx.model_text = ctx.inbound.text
            return ctx
        known = ctx.known if ctx.known is not None else await self._known(ctx)
        ctx.model_text = vault.redact(ctx.inbound.text, known)
        redact_memory(ctx, vault, known)
        ctx.vault = vault
        return ctx

    def vault(self, ctx: TurnContext) -> Vault | None:
        """A new vault for ``ctx`` (its conversation, else its turn); None: redaction is off."""
        if self.store is None or self.key is None:
            return None
        scope = ctx.conversation_id or ctx.turn_id
        return Vault(self.key(), scope, ctx.workspace.understanding.phone_region)

    async def _known(self, ctx: TurnContext) -> list[tuple[str, str]]:
        """Profile values when the conversation's memory did not bring them."""
        assert self.store is not None
        if ctx.customer_created or ctx.customer_id is None:  # all we know is what they sent
            sender = ctx.inbound.sender
            known = name_values(sender.name)  # "Carla here" on the first turn too
            return known + [
                (k, v) for k, v in (("EMAIL", sender.email), ("PHONE", sender.phone)) if v
            ]
        return await self.store.known_values(ctx.customer_id)
