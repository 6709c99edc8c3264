"""verify: identifiers proven inside the conversation.

"My phone number is +1 555 010 0142" (or an email address) starts a verification: a code goes
to that number or address and the assistant says so. A message that is just the six-digit code
confirms it while a code is waiting for this customer (or for a profile merged into them since
it was asked for); the identifier is linked, and when it belonged to a known profile this
customer is merged into it, so from the next message on the assistant knows who it is talking
to. Typing an address alone never reveals anything: only the code proves it.
"""

from __future__ import annotations

import re

import phonenumbers

from omnivox.identity.verification import VerificationError, Verifier
from omnivox.pipeline.context import TurnContext
from omnivox.storage.repositories import Store
from omnivox.types import Reply

_CODE = re.compile(r"^\s*(?:(?:my\s+)?code\s*(?:is|:)?\s*)?(\d{6})\s*[.!]?\s*$", re.I)
_CLAIM = re.compile(
    r"\b(?:my|the)\s+(?:(?:mobile|cell|phone)(?:\s+number)?|number|e-?mail(?:\s+address)?)\b",
    re.I,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NAMES = {"phone": "phone number", "email": "email address"}
REDACTED = "[verification code]"


def claimed(text: str, region: str) -> tuple[str, str] | None:
    """(kind, address) when the message claims the sender's own email or phone."""
    if not _CLAIM.search(text) or len(text.split()) > 25:
        return None
    email = _EMAIL.search(text)
    if email:
        return "email", email.group(0)
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
    match = next(iter(matcher), None)
    return ("phone", match.raw_string) if match else None


class Verify:
    """Start or confirm a verification when the message is a claim or a code."""

    name = "verify"
    finishing = False

    def __init__(self, verifier: Verifier, store: Store) -> None:
        self.verifier = verifier
        self.store = store

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Halt with the answer when this message was about proving an identifier."""
        assert ctx.customer_id is not None
        ws = ctx.workspace
        code = _CODE.match(ctx.inbound.text)
        try:
            if code:
                # a code asked for before a merge is waiting for the profile merged into
                if not await self.verifier.expects_code(ws.id, ctx.customer_id):
                    return ctx
                # the code never reaches history, a prompt, a handoff's summary or suggestion
                ctx.model_text = REDACTED
                if ctx.message is not None:
                    await self.store.redact(ctx.message.id, REDACTED)
                linked = await self.verifier.confirm(ws.id, ctx.customer_id, code.group(1))
                ctx.customer_id = linked.customer_id
                name = NAMES[linked.kind]
                ctx.halt("verified", Reply(f"Thank you, your {name} is verified and linked."))
                return ctx
            claim = claimed(ctx.inbound.text, ws.understanding.phone_region)
            if claim is None:
                return ctx
            started = await self.verifier.start(
                ws.id,
                ctx.customer_id,
                *claim,
                region=ws.understanding.phone_region,
                public_url=ws.channels.public_url,
            )
        except VerificationError as exc:
            if exc.code in ("no_channel", "already_linked", "invalid_address") and not code:
                return ctx  # nothing to prove here: answer the message as usual
            ctx.halt(f"verification_{exc.code}", Reply(_refusal(exc)))
            return ctx
        name = NAMES[started.kind]
        ctx.halt(
            "verification_sent",
            Reply(
                f"To link this {name} to our conversation I've sent a 6-digit code to "
                f"{started.sent_to}. Please type the code here."
            ),
        )
        return ctx


def _refusal(exc: VerificationError) -> str:
    return f"Sorry, I couldn't verify that: {exc.message}."
