"""Proving an identifier: a one-time code sent over the identifier's own channel.

A customer claims an email address or phone number (in a conversation or through the API). A
six-digit code goes to that address over the workspace's email or SMS channel; typing it back
proves the customer holds it. Then the identifier is linked to the customer, and when it already
belonged to another profile the claimer's profile is merged into that one (the evidence is the
verification). An emailed code to an address no other profile holds also carries a signed
link, whose page confirms the same with a button (a POST: opening a link changes nothing); a
merge always takes the typed code, which binds the mailbox to the conversation that asked.

Whether an address belongs to a customer is never told to the claimer: every claim is answered
the same way (a code is sent, and counted), and only who proves it learns more. Proving an
identifier of another *known* customer (one with a proven email or phone of their own: two
people may share a number) merges nothing: the code is spent and the conflict is left to an
agent (``conflict``).

Refused with a clear error and no change: an unknown or malformed address, an identifier the
customer already holds, more than ``MAX_STARTS`` codes an hour for a customer, ``MAX_PER_ADDRESS``
an hour (``MAX_PER_ADDRESS_PER_DAY`` a day) to an address or the workspace's
``limits.verification_codes_per_hour`` (of which customers first seen less than a day ago
share half, so throwaway profiles cannot use up the rest), a wrong code (after
``MAX_ATTEMPTS`` the code is locked), an expired code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeGuard

import phonenumbers

from omnivox import events
from omnivox.bus import EventRecord, EventSink
from omnivox.identity.phones import whole_number
from omnivox.ids import new_id
from omnivox.storage.identities import CodeLimits, IdentityStore, MergeError, Owner
from omnivox.storage.models import Verification
from omnivox.types import DeliveryReceipt, aware, utcnow

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_STARTS = 3  # codes per customer per hour
MAX_PER_ADDRESS = 3  # codes to one email or phone per hour, whoever asks
MAX_PER_ADDRESS_PER_DAY = 10  # and per day: no one is mailed 3 codes every hour
PER_WORKSPACE = 30  # codes per workspace per hour (limits.verification_codes_per_hour)
KNOWN_KINDS = ("email", "phone")
NAMES = {"phone": "phone number", "email": "email address"}
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
SendCode = Callable[[str, str, str, str], Awaitable[DeliveryReceipt | None]]


class VerificationError(Exception):
    """A refused claim or code; ``status`` is the HTTP status, ``code`` a stable name."""

    def __init__(self, status: int, code: str, message: str, other: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.other = other  # a conflict: the profile that holds the identifier


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """What a link's page shows before its button is pressed."""

    kind: str
    sent_to: str  # masked


@dataclass(frozen=True, slots=True)
class Started:
    """A code on its way."""

    verification_id: str
    kind: str
    sent_to: str  # masked
    expires_at: str


@dataclass(frozen=True, slots=True)
class Linked:
    """An identifier proven; ``customer_id`` is where the customer now lives."""

    kind: str
    address: str
    customer_id: str
    merged_from: str | None


def normalize(kind: str, address: str, region: str = "US") -> str:
    """The canonical form of a claimed email or phone, or VerificationError (400).

    A phone is E.164, read for ``region`` when it has no country code: only a whole number
    (with its area code; a leading "00" dials abroad where ``region`` dials out otherwise, see
    :mod:`omnivox.identity.phones`), so "555-0100" is refused, not made ``+15550100``.
    """
    if kind == "email":
        address = address.strip().lower()
        if _EMAIL.match(address):
            return address
    elif kind == "phone":
        number = whole_number(address, region)  # "555-0100" in the US is none: no area code
        if number is not None:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    else:
        raise VerificationError(400, "unknown_kind", f"cannot verify a {kind!r}: email or phone")
    raise VerificationError(400, "invalid_address", f"{address!r} is not a valid {kind}")


def mask(kind: str, address: str) -> str:
    """An address shown back to the customer without revealing it (j•••@example.com)."""
    if kind == "email":
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    return f"{address[:2]} ••• {address[-4:]}"


class Verifier:
    """Starts and confirms verifications, links identifiers, merges profiles."""

    def __init__(
        self,
        store: IdentityStore,
        send_code: SendCode,
        key: Callable[[], bytes],
        events_sink: EventSink,
    ) -> None:
        self.store = store
        self.send_code = send_code
        self._key_source = key
        self._key: bytes | None = None
        self.events = events_sink

    @property
    def key(self) -> bytes:
        """The signing key, loaded on first use (it may be a file under the data dir)."""
        if self._key is None:
            self._key = self._key_source()
        return self._key

    def _hash(self, verification_id: str, code: str) -> str:
        return hmac.new(self.key, f"{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()

    async def start(
        self,
        workspace_id: str,
        customer_id: str,
        kind: str,
        address: str,
        *,
        region: str = "US",
        public_url: str = "",
        per_workspace: int = PER_WORKSPACE,
    ) -> Started:
        """Check the claim, store a code, send it; VerificationError when refused.

        Whoever holds the address, the answer is the same (a code goes to it): an address
        another profile holds is only found out by proving it. With a ``public_url`` an
        emailed code also carries a signed link, unless confirming would merge profiles.
        """
        address = normalize(kind, address, region)
        owner = await self.store.owner(workspace_id, kind, address)
        if owner is not None and owner.verified and owner.customer_id == customer_id:
            raise VerificationError(409, "already_linked", f"this {kind} is already yours")
        code = f"{secrets.randbelow(1_000_000):06d}"
        verification = Verification(
            id=new_id("ver"),
            workspace_id=workspace_id,
            customer_id=customer_id,
            kind=kind,
            address=address,
            status="pending",
            attempts=0,
            expires_at=utcnow() + CODE_TTL,
            created_at=utcnow(),
        )
        verification.code_hash = self._hash(verification.id, code)
        link = None
        if kind == "email" and public_url and not _merges(owner, customer_id):
            link = f"{public_url.rstrip('/')}/verify/{self.link_token(verification.id)}"
        # stored (and counted) before it is sent: concurrent requests cannot all pass the limit
        newcomers = (per_workspace + 1) // 2  # half the workspace's codes, rounded up
        limits = CodeLimits(
            MAX_STARTS, MAX_PER_ADDRESS, per_workspace, MAX_PER_ADDRESS_PER_DAY, newcomers
        )
        over = await self.store.add_verification(verification, limits)
        if over is not None:
            raise self._refused(workspace_id, 429, "too_many_codes", _TOO_MANY[over].format(kind))
        receipt = await self.send_code(workspace_id, kind, address, code_text(code, link))
        if receipt is None or receipt.status == "failed":
            await self.store.forget_verification(verification.id)
        if receipt is None:
            raise VerificationError(
                422, "no_channel", f"this workspace has no channel that can send a code to a {kind}"
            )
        if receipt.status == "failed":
            raise VerificationError(502, "not_sent", f"the code could not be sent: {receipt.error}")
        self._emit(events.IDENTITY_CODE_SENT, workspace_id, verification, {})
        expires = verification.expires_at.isoformat()
        return Started(verification.id, kind, mask(kind, address), expires)

    async def confirm(self, workspace_id: str, customer_id: str, code: str) -> Linked:
        """Check a typed code against the customer's pending one; link (and merge) on success.

        The pending code may have been asked for by a profile merged into this one since.
        """
        verification = await self.store.current_verification(workspace_id, customer_id)
        if verification is None or verification.status not in ("pending", "locked"):
            raise VerificationError(404, "no_pending_code", "no code is waiting; ask for a new one")
        if verification.status == "locked":
            raise VerificationError(429, "locked", "too many wrong codes; ask for a new one later")
        if aware(verification.expires_at) <= utcnow():
            raise VerificationError(410, "expired", "the code has expired; ask for a new one")
        # each try is counted before its code is compared (one conditional UPDATE), so
        # concurrent guesses compare at most MAX_ATTEMPTS codes between them
        attempts = await self.store.take_attempt(verification.id, MAX_ATTEMPTS)
        if attempts is None:  # used or locked by a concurrent try since it was read
            now = await self.store.verification(verification.id)
            if now is not None and now.status != "locked":
                raise VerificationError(404, "no_pending_code", "this code was already used")
            raise VerificationError(429, "locked", "too many wrong codes; ask for a new one later")
        given = self._hash(verification.id, code.strip())
        if hmac.compare_digest(given, verification.code_hash):
            return await self._link(verification, "code")
        if attempts >= MAX_ATTEMPTS:
            await self.store.settle_verification(verification.id, "locked")
            raise self._refused(
                workspace_id, 429, "locked", "too many wrong codes; ask for a new one later"
            )
        left = MAX_ATTEMPTS - attempts
        raise VerificationError(400, "wrong_code", f"that code is not right ({left} tries left)")

    async def expects_code(self, workspace_id: str, customer_id: str) -> bool:
        """Whether a six-digit message now is one of our codes (never to reach a prompt).

        A code is pending for this customer or a profile merged into it since it was asked
        for, or one was sent within a code's lifetime (a used code typed again).
        """
        verification = await self.store.current_verification(workspace_id, customer_id)
        if verification is None:
            return False
        recent = aware(verification.created_at) > utcnow() - CODE_TTL
        return verification.status == "pending" or recent

    async def check_link(self, token: str) -> LinkCheck:
        """What the signed link of a code email would confirm; VerificationError when it can't.

        Opening the link calls only this: the page's button (:meth:`confirm_link`) confirms.
        """
        verification = await self._linkable(token)
        return LinkCheck(verification.kind, mask(verification.kind, verification.address))

    async def confirm_link(self, token: str) -> Linked:
        """The signed link's button: proves the address when that merges no profiles."""
        return await self._link(await self._linkable(token), "link")

    async def _linkable(self, token: str) -> Verification:
        verification_id = self.check_token(token)
        verification = await self.store.verification(verification_id)
        if verification is None or verification.status != "pending":
            raise VerificationError(404, "no_pending_code", "this link was used or replaced")
        if aware(verification.expires_at) <= utcnow():
            raise VerificationError(410, "expired", "the link has expired; ask for a new code")
        claimer = await self.store.resolve_merged(
            verification.workspace_id, verification.customer_id
        )
        owner = await self.store.owner(
            verification.workspace_id, verification.kind, verification.address
        )
        if _merges(owner, claimer):
            raise VerificationError(409, "code_required", CODE_REQUIRED)
        return verification

    def link_token(self, verification_id: str) -> str:
        """A URL-safe token naming the verification, signed with the server key."""
        sig = hmac.new(self.key, f"link:{verification_id}".encode(), hashlib.sha256).digest()
        return f"{verification_id}.{base64.urlsafe_b64encode(sig[:18]).decode()}"

    def check_token(self, token: str) -> str:
        """The verification id of a genuine token, or VerificationError (403)."""
        verification_id, _, _ = token.partition(".")
        # bytes: compare_digest refuses a str with characters beyond ASCII (a 500, not a 403)
        if not hmac.compare_digest(self.link_token(verification_id).encode(), token.encode()):
            raise VerificationError(403, "bad_signature", "this link is not valid")
        return verification_id

    async def _link(self, verification: Verification, method: str) -> Linked:
        ws = verification.workspace_id
        # the claimer may have been merged into another profile since the code was sent
        claimer = await self.store.resolve_merged(ws, verification.customer_id)
        kind = verification.kind
        owner = await self.store.owner(ws, kind, verification.address)
        if owner is not None and owner.verified and owner.customer_id == claimer:
            raise VerificationError(409, "already_linked", f"this {kind} is already yours")
        if _merges(owner, claimer):
            if method == "link":  # a link binds no conversation to the mailbox
                raise VerificationError(409, "code_required", CODE_REQUIRED)
            if is_known(await self.store.verified_kinds(ws, claimer)):
                raise await self._conflict(verification, claimer, owner.customer_id)
        evidence = {"verification": verification.id, "method": method}
        if not await self.store.settle_verification(verification.id, "verified"):
            raise VerificationError(404, "no_pending_code", "this code was used or replaced")
        if _merges(owner, claimer):
            try:
                await self.store.merge(ws, claimer, owner.customer_id, evidence)
            except MergeError as exc:  # a concurrent merge: the code is spent, nothing linked
                raise VerificationError(exc.status, exc.code, exc.message) from None
            linked = Linked(verification.kind, verification.address, owner.customer_id, claimer)
        else:
            await self.store.link(ws, claimer, verification.kind, verification.address, method)
            linked = Linked(verification.kind, verification.address, claimer, None)
        self._emit(events.IDENTITY_VERIFIED, ws, verification, {"merged_from": linked.merged_from})
        return linked

    async def _conflict(
        self, verification: Verification, claimer: str, owner: str
    ) -> VerificationError:
        """Two known profiles, one identifier: spend the code, merge nothing; the ``conflict``.

        The claimer has proven the identifier, so saying that another profile holds it tells
        them nothing they could not know; an agent decides whether to merge (the pipeline
        hands the conversation over, the API's caller gets the 409).
        """
        if not await self.store.settle_verification(verification.id, "conflict"):
            raise VerificationError(404, "no_pending_code", "this code was used or replaced")
        kind = verification.kind
        ws = verification.workspace_id
        detail = {"verification": verification.id, "customer": claimer, "other": owner}
        self.events.emit(
            EventRecord(
                events.IDENTITY_REFUSED, workspace_id=ws, payload={"code": "conflict", **detail}
            )
        )
        return VerificationError(
            409,
            "conflict",
            f"this {kind} is proven, but it is on another customer profile; "
            "nothing was linked, and a person will check whether the two are the same",
            other=owner,
        )

    def _refused(
        self, workspace_id: str, status: int, code: str, message: str
    ) -> VerificationError:
        self.events.emit(
            EventRecord(events.IDENTITY_REFUSED, workspace_id=workspace_id, payload={"code": code})
        )
        return VerificationError(status, code, message)

    def _emit(
        self, kind: str, workspace_id: str, v: Verification, extra: dict[str, object]
    ) -> None:
        payload = {"verification": v.id, "customer": v.customer_id, "kind": v.kind, **extra}
        self.events.emit(EventRecord(kind, workspace_id=workspace_id, payload=payload))


CODE_REQUIRED = (
    "this address is already on a customer profile, so only the code can link it: type the "
    "code from the email in the conversation that asked for it"
)
_TOO_MANY = {
    "customer": "too many codes asked for; try in an hour",
    "address": "too many codes were sent to this {} lately; try in an hour",
    "address_day": "too many codes were sent to this {} today; try tomorrow",
    "workspace": "too many codes are being sent just now; try again in an hour",
    "newcomers": "too many codes are being sent just now; try again in an hour",
}


def _merges(owner: Owner | None, claimer: str) -> TypeGuard[Owner]:
    """Whether proving the identifier would join the claimer to another (proven) profile."""
    return owner is not None and owner.verified and owner.customer_id != claimer


def is_known(kinds: set[str]) -> bool:
    """Whether a profile has proven an email or phone of its own (it is somebody known)."""
    return any(k in kinds for k in KNOWN_KINDS)


def code_text(code: str, link: str | None = None) -> str:
    """The message carrying a code (and, by email, the one-click link)."""
    text = f"Your verification code is {code}. It expires in 10 minutes. Never share it."
    if link is None:
        return text
    return f"{text}\n\nIf you asked for it, you can also confirm on this page: {link}"
