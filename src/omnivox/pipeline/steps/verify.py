"""verify: identifiers proven inside the conversation.

"My phone number is +1 555 010 0142" (or "my email is …", "you can reach me at …", or just
the address when the assistant's last message asked for one) starts a verification: a code goes
to that number or address and the assistant says so. Only such first-person claims do: a
message that merely mentions a number ("I called 1-800-555-0199", "is 303-555-0188 your Denver
store?") is answered as usual. A message that is just the six-digit code confirms it while a
code is waiting for this customer (or for a profile merged into them since it was asked for);
the identifier is linked, and when it belonged to a known profile this customer is merged into
it, so from the next message on the assistant knows who it is talking to. Typing an address
alone never reveals anything: every claim is answered the same way, and only the code proves
it. Proving the identifier of another known profile merges nothing: the conversation goes to a
person, who decides.

No verification starts when the message asks for a person ("get me a manager! My email is …",
"have someone call me, my number is …", "call me back on …"): the address is where the person
should reach the customer, so route hands off, the handoff's reasons say a callback address was
left, and its packet holds the address (:mod:`omnivox.handoff.callback`). Nor on
the phone (voice): a caller cannot type a six-digit code there. A refusal is told in the
customer's words: a technical cause (a relay not configured, a provider's error) goes to the
log, never into the reply.
"""

from __future__ import annotations

import re

from omnivox.handoff.callback import phone_in
from omnivox.handoff.desk import HandoffDesk
from omnivox.identity.phones import numbers_in, whole_number
from omnivox.identity.verification import NAMES, VerificationError, Verifier
from omnivox.logs import get_logger
from omnivox.pipeline.context import HANDED_OFF, TurnContext
from omnivox.storage.repositories import Store
from omnivox.types import HistoryItem, Reply
from omnivox.understanding.handoff_request import asks_for_person, asks_to_be_called

log = get_logger(__name__)

_CODE = re.compile(r"^\s*(?:(?:my\s+)?code\s*(?:is|:)?\s*)?(\d{6})\s*[.!]?\s*$", re.I)
_KIND = r"(?:(?:mobile|cell|phone)(?:\s+(?:number|no\.?|#))?|number|e-?mail(?:\s+address)?)"
_MY = r"\bmy\s+(?:(?:new|current|personal|work|own)\s+)?" + _KIND
# the address follows the claim at once: "my number is X", "my email: X", "reach me at X", "call
# me back on X", "give me a call at X"
_CLAIM = re.compile(
    rf"(?:{_MY}\s*(?:is|=|:|-)?|\b(?:(?:reach|contact|text|call|ring|phone|email|e-mail)\s+me"
    r"|give\s+me\s+a\s+(?:call|ring))(?:\s+back)?\s+(?:at|on))\s*",
    re.I,
)
# or it comes first: "X is my number"
_CLAIM_AFTER = re.compile(rf"^\s*(?P<address>\S+(?:\s+\S+){{0,4}}?)\s+is\s+{_MY}\s*[.!]?\s*$", re.I)
# a bare address answering the assistant's question: "it's X", "sure, X"
_ANSWER = re.compile(
    r"^\s*(?:(?:sure|yes|yeah|ok(?:ay)?)\b[,.!]?\s*)?(?:(?:it'?s|it\s+is|that'?s|here)\b:?\s*)?"
    r"(?P<address>.+?)\s*[.!]?\s*$",
    re.I,
)
# a sentence asking something ("is my number X on file?") is answered, not a claim
_QUESTION = re.compile(
    r"(?:^|[.!?\n]\s*)(?:is|are|was|do|does|did|can|could|would|will|should|what|where|which|"
    r"why|how|who|whose)\b[^.!?\n]*$",
    re.I,
)
_ASKS = re.compile(r"\b(?:e-?mail|phone|mobile|cell|number)\b[^?]*\?", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
REDACTED = "[verification code]"


def claimed(text: str, region: str, asked: bool = False) -> tuple[str, str] | None:
    """(kind, address) when the message claims the sender's own email or phone.

    A claim is first person, with the address right after it ("my number is X", "you can
    reach me at X") or before it ("X is my email"); ``asked``: the assistant's last message
    asked for an email or phone, so a message that is only an address ("it's X") claims it.
    A phone is a whole number, with its area code (:mod:`omnivox.identity.phones`): "555-0100"
    claims nothing.
    """
    if len(text.split()) > 25:
        return None
    for claim in _CLAIM.finditer(text):
        if _QUESTION.search(text[: claim.start()]):
            continue
        found = _address_at(text[claim.end() :], region)
        if found:
            return found
    after = _CLAIM_AFTER.match(text)
    if after:
        return _address_at(after.group("address"), region, whole=True)
    answer = _ANSWER.match(text) if asked else None
    return _address_at(answer.group("address"), region, whole=True) if answer else None


def _address_at(text: str, region: str, *, whole: bool = False) -> tuple[str, str] | None:
    """The email or phone ``text`` begins with (``whole``: that ``text`` is, and no more)."""
    email = _EMAIL.match(text)
    if email and (not whole or email.end() == len(text)):
        return "email", email.group(0)
    start, written = next(numbers_in(text, region), (0, ""))  # "0044 …" too, as "+44 …"
    if not written or text[:start].strip(" \t(") != "":
        return None
    if whole and text[start + len(written) :].strip(" )") != "":
        return None
    if whole_number(written, region) is None:  # "555-0100": no area code, no number
        return None
    return "phone", written


def left_with(text: str, region: str) -> tuple[str, str] | None:
    """The first phone or email in a request to be called back, in any wording or language.

    "Rappelez-moi au 06 12 34 56 78", "Call me tomorrow, 415 555 0100", "Please call me back.
    0044 20 7946 0958": the address is where the person should call, though no claim ("my number
    is …") says so; an order number or a date is not one (:func:`phone_in`). None otherwise.
    """
    if not asks_to_be_called(text):
        return None
    found: list[tuple[int, str, str]] = []
    email = _EMAIL.search(text)
    if email:
        found.append((email.start(), "email", email.group(0)))
    phone = phone_in(text, region)
    if phone is not None:
        found.append((phone[0], "phone", phone[1]))
    return min(found)[1:] if found else None


def asked_for_address(history: list[HistoryItem]) -> bool:
    """Whether the assistant's last message asked the customer for an email or phone."""
    return bool(history) and history[-1].direction == "out" and bool(_ASKS.search(history[-1].text))


class Verify:
    """Start or confirm a verification when the message is a claim or a code."""

    name = "verify"
    finishing = False

    def __init__(self, verifier: Verifier, store: Store, desk: HandoffDesk | None = None) -> None:
        self.verifier = verifier
        self.store = store
        self.desk = desk

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
            region = ws.understanding.phone_region
            claim = claimed(ctx.inbound.text, region, asked_for_address(ctx.history))
            if claim is None:  # "Rappelez-moi au 06 12 34 56 78": where to call, not a claim
                ctx.callback = left_with(ctx.inbound.text, region)
                return ctx
            if asks_for_person(ctx.inbound.text):
                ctx.callback = claim  # route hands off; the person calls or writes back
                return ctx
            if ctx.inbound.channel == "voice":
                return ctx  # no keypad entry of a six-digit code on a call: answer as usual
            started = await self.verifier.start(
                ws.id,
                ctx.customer_id,
                *claim,
                region=region,
                public_url=ws.channels.public_url,
                per_workspace=ws.limits.verification_codes_per_hour,
            )
        except VerificationError as exc:
            if exc.code in ("no_channel", "already_linked", "invalid_address") and not code:
                return ctx  # nothing to prove here: answer the message as usual
            if exc.code == "conflict" and code:
                await self._conflict(ctx, exc)
                return ctx
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

    async def _conflict(self, ctx: TurnContext, exc: VerificationError) -> None:
        """The customer proved an identifier of another known profile: a person decides."""
        said = (
            "Thank you, that code is right. It belongs to another customer profile of ours, so "
            "I haven't linked anything."
        )
        if self.desk is None:
            ctx.halt("verification_conflict", Reply(f"{said} A member of our team can join them."))
            return
        reasons = [
            f"the customer proved an identifier that is on another known profile ({exc.other}): "
            "merge the two profiles if they are the same person"
        ]
        text = await self.desk.open(ctx, reasons)
        ctx.halt(HANDED_OFF, Reply(f"{said} {text}"))


# refusals whose message is written for the customer; any other (a code that could not be sent:
# the relay's or provider's error) is logged and answered with _UNAVAILABLE
_SAFE = frozenset(
    {"too_many_codes", "wrong_code", "expired", "locked", "no_pending_code", "code_required"}
)
_UNAVAILABLE = "I can't send a verification code just now. Please try again later"


def _refusal(exc: VerificationError) -> str:
    if exc.code not in _SAFE:
        log.warning("verify.refused", code=exc.code, error=exc.message)
        return f"Sorry, I couldn't verify that: {_UNAVAILABLE}."
    return f"Sorry, I couldn't verify that: {exc.message}."
