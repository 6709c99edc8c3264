"""Verification, merge and unmerge on SQLite and PostgreSQL: the happy path and every refusal.

The code transport is recorded here (what would be sent, to whom); the real SMS and SMTP
transports are exercised by tests/channels/test_journey.py."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from omnivox.identity.verification import (
    MAX_ATTEMPTS,
    MAX_PER_ADDRESS,
    MAX_PER_ADDRESS_PER_DAY,
    MAX_STARTS,
    VerificationError,
    Verifier,
)
from omnivox.services import Services
from omnivox.storage.audit import AuditLog
from omnivox.storage.identities import IdentityStore, MergeError
from omnivox.storage.models import Customer, Event, Identity, Verification
from omnivox.types import DeliveryReceipt, utcnow


@dataclass
class Outbox:
    """Codes the server would send (kind, address, text), recorded; shared by other tests."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    async def __call__(self, ws: str, kind: str, address: str, text: str) -> DeliveryReceipt:
        self.sent.append((kind, address, text))
        return DeliveryReceipt("test", "sent")

    def code(self) -> str:
        """The six-digit code of the last message sent."""
        found = re.search(r"\b(\d{6})\b", self.sent[-1][2])
        assert found is not None
        return found.group(1)

    def link(self, base: str) -> str | None:
        """The path of the verification link under ``base`` in the last message, if any."""
        found = re.search(re.escape(base) + r"(/verify/\S+)", self.sent[-1][2])
        return found.group(1) if found else None


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def verifier(services: Services, outbox: Outbox) -> Verifier:
    return Verifier(IdentityStore(services.db), outbox, lambda: b"k" * 32, services.events)


async def customer(services: Services, address: str, kind: str = "webchat") -> str:
    cid, _ = await services.store.resolve_customer("acme", kind, address, verified=True)
    return cid


async def test_a_proven_new_identifier_is_linked(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    visitor = await customer(services, "v_1")
    started = await verifier.start("acme", visitor, "phone", "(720) 555-0123")
    assert started.sent_to == "+1 ••• 0123" and outbox.sent[0][:2] == ("phone", "+17205550123")
    linked = await verifier.confirm("acme", visitor, outbox.code())
    assert (linked.customer_id, linked.merged_from) == (visitor, None)
    owner = await verifier.store.owner("acme", "phone", "+17205550123")
    assert owner is not None and owner.customer_id == visitor and owner.verified


async def test_proving_a_known_customers_identifier_merges_into_them(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    maya = await services.store.upsert_customer(
        "acme", "cus_1", "Maya", {}, [("email", "maya@example.com")]
    )
    visitor = await customer(services, "v_2")
    await verifier.start("acme", visitor, "email", "Maya@Example.com")
    linked = await verifier.confirm("acme", visitor, outbox.code())
    assert (linked.customer_id, linked.merged_from) == (maya, visitor)
    assert await services.store.identity_owner("acme", "webchat", "v_2") == maya
    profile = await verifier.store.profile("acme", visitor)
    assert profile is not None and profile.merged_into == maya

    undone = await verifier.store.unmerge("acme", visitor, {"reason": "wrong person"})
    assert undone["target"] == maya
    assert await services.store.identity_owner("acme", "webchat", "v_2") == visitor
    async with services.db.sessions() as session:
        kinds = [
            e.type for e in (await session.execute(select(Event).order_by(Event.id))).scalars()
        ]
    assert kinds.count("customer.merged") == 1 and kinds.count("customer.unmerged") == 1
    verdict = await AuditLog(services.db).verify()
    assert verdict.ok and verdict.entries == 2  # the merge and the unmerge, hash-chained


async def test_wrong_codes_lock_the_verification(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    visitor = await customer(services, "v_3")
    await verifier.start("acme", visitor, "phone", "+17205550124")
    right = outbox.code()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for attempt in range(1, MAX_ATTEMPTS):
        with pytest.raises(VerificationError) as error:
            await verifier.confirm("acme", visitor, wrong)
        assert (
            error.value.code == "wrong_code"
            and f"{MAX_ATTEMPTS - attempt} tries left" in error.value.message
        )
    with pytest.raises(VerificationError) as locked:
        await verifier.confirm("acme", visitor, wrong)
    assert (locked.value.status, locked.value.code) == (429, "locked")
    with pytest.raises(VerificationError, match="too many wrong codes"):
        await verifier.confirm("acme", visitor, right)  # even the right code, once locked
    assert await verifier.store.owner("acme", "phone", "+17205550124") is None


async def test_an_expired_code_is_refused(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    visitor = await customer(services, "v_4")
    await verifier.start("acme", visitor, "phone", "+17205550125")
    async with services.db.sessions.begin() as session:
        await session.execute(
            update(Verification).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(VerificationError) as error:
        await verifier.confirm("acme", visitor, outbox.code())
    assert (error.value.status, error.value.code) == (410, "expired")
    assert await verifier.store.owner("acme", "phone", "+17205550125") is None


async def test_a_known_customer_claiming_anothers_phone_is_answered_like_any_claim(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    """Whether an address belongs to a customer is not told to the claimer: a code goes to it
    as to any address (and counts); proving it merges nothing and is left to an agent."""
    holder = await services.store.upsert_customer("acme", "a", "A", {}, [("phone", "+17205550126")])
    other = await services.store.upsert_customer("acme", "b", "B", {}, [("email", "b@example.com")])
    nobodys = await verifier.start("acme", other, "phone", "+1 720 555 0127")
    started = await verifier.start("acme", other, "phone", "+1 720 555 0126")
    assert (started.kind, started.sent_to) == ("phone", "+1 ••• 0126")
    assert type(started) is type(nobodys) and nobodys.sent_to == "+1 ••• 0127"
    assert outbox.sent[-1][:2] == ("phone", "+17205550126")  # sent, and counted
    with pytest.raises(VerificationError) as error:
        await verifier.confirm("acme", other, outbox.code())
    assert (error.value.status, error.value.code, error.value.other) == (409, "conflict", holder)
    owner = await verifier.store.owner("acme", "phone", "+17205550126")
    assert owner is not None and owner.customer_id == holder
    profile = await verifier.store.profile("acme", other)
    assert profile is not None and profile.merged_into is None
    with pytest.raises(VerificationError) as spent:
        await verifier.confirm("acme", other, outbox.code())
    assert spent.value.code == "no_pending_code"
    await services.events.flush()
    async with services.db.sessions() as session:
        refused = [
            e.payload
            for e in (await session.execute(select(Event))).scalars()
            if e.type == "identity.refused"
        ]
    assert refused == [
        {
            "code": "conflict",
            "verification": started.verification_id,
            "customer": other,
            "other": holder,
        }
    ]


@pytest.mark.parametrize(
    ("kind", "address", "code"),
    [
        ("phone", "12", "invalid_address"),
        ("phone", "555-0100", "invalid_address"),  # no area code: was sent to +15550100
        ("email", "not-an-email", "invalid_address"),
        ("fax", "1", "unknown_kind"),
    ],
)
async def test_malformed_claims_are_refused(
    services: Services, verifier: Verifier, outbox: Outbox, kind: str, address: str, code: str
) -> None:
    visitor = await customer(services, "v_5")
    with pytest.raises(VerificationError) as error:
        await verifier.start("acme", visitor, kind, address)
    assert error.value.code == code and outbox.sent == []


async def test_a_leading_00_dials_abroad_where_the_region_dials_out_otherwise(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    visitor = await customer(services, "v_00")
    await verifier.start("acme", visitor, "phone", "0044 20 7946 0958")  # the US dials out: 011
    assert outbox.sent[0][:2] == ("phone", "+442079460958")  # was: refused, invalid_address


async def test_codes_are_limited_per_hour_and_already_linked_is_refused(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    visitor = await customer(services, "v_6")
    for n in range(3):
        await verifier.start("acme", visitor, "phone", f"+1720555013{n}")
    with pytest.raises(VerificationError) as error:
        await verifier.start("acme", visitor, "phone", "+17205550139")
    assert (error.value.status, error.value.code) == (429, "too_many_codes")
    phone_owner = await customer(services, "+17205550140", "phone")
    with pytest.raises(VerificationError) as mine:
        await verifier.start("acme", phone_owner, "phone", "+17205550140")
    assert mine.value.code == "already_linked"


async def test_a_new_code_replaces_the_old_one(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    visitor = await customer(services, "v_7")
    await verifier.start("acme", visitor, "email", "a@example.com")
    first = outbox.code()
    await verifier.start("acme", visitor, "email", "a@example.com")
    second = outbox.code()
    if first != second:
        with pytest.raises(VerificationError):
            await verifier.confirm("acme", visitor, first)
    assert (await verifier.confirm("acme", visitor, second)).address == "a@example.com"


async def test_codes_to_one_address_are_limited_whoever_asks(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    """Eight throwaway senders claiming one number send it MAX_PER_ADDRESS codes, not eight."""
    outcomes = []
    for n in range(8):
        sender = await customer(services, f"v_pump_{n}")
        outcomes.append(await started(verifier, sender, "phone", "+1 720 555 0142"))
    lately = "too many codes were sent to this phone lately; try in an hour"
    assert outcomes == ["sent"] * MAX_PER_ADDRESS + [lately] * (8 - MAX_PER_ADDRESS)
    assert [to for _, to, _ in outbox.sent] == ["+17205550142"] * MAX_PER_ADDRESS
    fresh = await customer(services, "v_pump_other")
    await verifier.start("acme", fresh, "phone", "+1 720 555 0143")  # another number still can


async def started(verifier: Verifier, sender: str, kind: str, address: str) -> str:
    """``sent`` when a code went to ``address``, else why not (the refusal's message)."""
    try:
        await verifier.start("acme", sender, kind, address)
    except VerificationError as error:
        return error.message
    return "sent"


async def sent_hours_ago(services: Services, hours: int) -> None:
    """Every code so far as if sent ``hours`` ago."""
    async with services.db.sessions.begin() as session:
        await session.execute(
            update(Verification).values(created_at=utcnow() - timedelta(hours=hours))
        )


async def test_codes_to_one_address_are_limited_per_day(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    """Within the hourly limit every hour, one mailbox still gets MAX_PER_ADDRESS_PER_DAY a day."""
    outcomes = []
    for n in range(MAX_PER_ADDRESS_PER_DAY + 1):
        sender = await customer(services, f"v_daily_{n}")
        outcomes.append(await started(verifier, sender, "email", "victim@example.com"))
        await sent_hours_ago(services, 2)  # the hour's limits have room again
    today = "too many codes were sent to this email today; try tomorrow"
    assert outcomes == ["sent"] * MAX_PER_ADDRESS_PER_DAY + [today]
    assert len(outbox.sent) == MAX_PER_ADDRESS_PER_DAY
    await verifier.start("acme", sender, "email", "other@example.com")  # another address can
    await sent_hours_ago(services, 25)
    await verifier.start("acme", sender, "email", "victim@example.com")  # a day later


async def test_codes_a_workspace_sends_are_limited_even_under_a_burst(
    services: Services, outbox: Outbox
) -> None:
    async def slow(ws: str, kind: str, address: str, text: str) -> DeliveryReceipt:
        await asyncio.sleep(0.1)
        return await outbox(ws, kind, address, text)

    verifier = Verifier(IdentityStore(services.db), slow, lambda: b"k" * 32, services.events)
    senders = [await customer(services, f"v_ws_{n}") for n in range(10)]
    await first_seen_days_ago(services, senders, 2)  # customers seen before: the whole budget

    async def start(n: int) -> str:
        try:
            await verifier.start("acme", senders[n], "phone", f"+1720555030{n}", per_workspace=4)
        except VerificationError as error:
            return error.code
        return "sent"

    outcomes = await asyncio.gather(*(start(n) for n in range(10)))
    assert outcomes.count("sent") == 4 == len(outbox.sent)
    assert outcomes.count("too_many_codes") == 6
    other = await services.store.resolve_customer("globex", "webchat", "v_g", verified=True)
    await verifier.start("globex", other[0], "phone", "+17205550399", per_workspace=4)


async def first_seen_days_ago(services: Services, customers: list[str], days: int) -> None:
    """The customers as if first seen ``days`` ago."""
    async with services.db.sessions.begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id.in_(customers))
            .values(created_at=utcnow() - timedelta(days=days))
        )


async def test_throwaway_customers_cannot_use_up_the_workspace_codes(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    """New visitors share half the hourly budget; a customer first seen a day ago gets a code.

    The attacker opens a fresh web chat visitor (a new profile) for every claim, each to an
    address of their own, until refused; the genuine customer is one whose profile is older
    than a day (a returning visitor, a known email or phone), whatever it has proven.
    """
    genuine = [await customer(services, f"v_old_{n}") for n in range(3)]
    await first_seen_days_ago(services, genuine, 2)
    refused = 0
    for n in range(10):
        visitor = await customer(services, f"v_bot_{n}")
        try:
            await verifier.start("acme", visitor, "phone", f"+1720555040{n}", per_workspace=5)
        except VerificationError as error:
            assert error.code == "too_many_codes"
            refused += 1
    assert (len(outbox.sent), refused) == (3, 7)  # newcomers: half of 5, rounded up
    for n, cid in enumerate(genuine[:2]):
        await verifier.start("acme", cid, "email", f"real{n}@example.com", per_workspace=5)
    with pytest.raises(VerificationError, match="too many codes are being sent"):
        await verifier.start("acme", genuine[2], "email", "real2@example.com", per_workspace=5)
    assert len(outbox.sent) == 5  # the whole workspace's hour is spent


async def test_signed_links_prove_and_forged_ones_do_not(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    visitor = await customer(services, "v_8")
    started = await verifier.start(
        "acme", visitor, "email", "link@example.com", public_url="https://x"
    )
    token = verifier.link_token(started.verification_id)
    assert f"https://x/verify/{token}" in outbox.sent[-1][2]
    with pytest.raises(VerificationError) as forged:
        await verifier.confirm_link(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert forged.value.status == 403
    for malformed in ("\u00e9", f"{started.verification_id}.\u00e9\u00e9", "ver_\u00e9.x"):
        with pytest.raises(VerificationError) as bad:  # was a TypeError (a 500 over HTTP)
            verifier.check_token(malformed)
        assert bad.value.code == "bad_signature"
    checked = await verifier.check_link(token)  # what the page shows: nothing is linked yet
    assert (checked.kind, checked.sent_to) == ("email", "l•••@example.com")
    assert await verifier.store.owner("acme", "email", "link@example.com") is None
    assert (await verifier.confirm_link(token)).customer_id == visitor
    with pytest.raises(VerificationError, match="used or replaced"):
        await verifier.confirm_link(token)


async def test_a_link_never_merges_profiles_only_the_typed_code_does(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    """A link proves the mailbox, not that the chat that asked is its holder: a link opened by
    the recipient (or their mail scanner) must not put an anonymous claimer into their profile."""
    maya = await services.store.upsert_customer(
        "acme", "cus_1", "Maya", {}, [("email", "maya@example.com")]
    )
    visitor = await customer(services, "v_link_merge")
    started = await verifier.start(
        "acme", visitor, "email", "maya@example.com", public_url="https://x"
    )
    assert "https://x/verify/" not in outbox.sent[-1][2]  # the email carries the code only
    token = verifier.link_token(started.verification_id)
    for use in (verifier.check_link, verifier.confirm_link):
        with pytest.raises(VerificationError) as refused:
            await use(token)
        assert (refused.value.status, refused.value.code) == (409, "code_required")
    profile = await verifier.store.profile("acme", visitor)
    assert profile is not None and profile.merged_into is None
    linked = await verifier.confirm("acme", visitor, outbox.code())  # the code still works
    assert (linked.customer_id, linked.merged_from) == (maya, visitor)

    # a link sent for a free address stops working once another profile has proven it
    late = await customer(services, "v_link_late")
    sent = await verifier.start("acme", late, "email", "free@example.com", public_url="https://x")
    assert "https://x/verify/" in outbox.sent[-1][2]
    await verifier.store.link("acme", maya, "email", "free@example.com", "code")
    with pytest.raises(VerificationError) as taken:
        await verifier.confirm_link(verifier.link_token(sent.verification_id))
    assert taken.value.code == "code_required"


async def test_merge_refusals_change_nothing(services: Services, verifier: Verifier) -> None:
    a, b = await customer(services, "v_9"), await customer(services, "v_10")
    store = verifier.store
    with pytest.raises(MergeError) as same:
        await store.merge("acme", a, a, {})
    assert same.value.code == "same_customer"
    with pytest.raises(MergeError) as unknown:
        await store.merge("acme", "cus_nobody", a, {})
    assert unknown.value.status == 404
    with pytest.raises(MergeError) as never:
        await store.unmerge("acme", b, {})
    assert never.value.code == "not_merged"
    await store.merge("acme", b, a, {"reason": "same person"})
    with pytest.raises(MergeError) as twice:
        await store.merge("acme", b, a, {})
    assert twice.value.code == "already_merged"
    async with services.db.sessions() as session:
        owners = {
            i.address: i.customer_id for i in (await session.execute(select(Identity))).scalars()
        }
    assert owners == {"v_9": a, "v_10": a}


async def test_concurrent_guesses_compare_at_most_the_allowed_tries(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    visitor = await customer(services, "v_race")
    await verifier.start("acme", visitor, "phone", "+17205550177")
    right = outbox.code()
    guesses = [f"{(int(right) + n) % 1_000_000:06d}" for n in range(1, 12)] + [right]

    async def guess(code: str) -> str:
        try:
            await verifier.confirm("acme", visitor, code)
        except VerificationError as error:
            return error.code
        return "linked"

    outcomes = await asyncio.gather(*(guess(code) for code in guesses))
    assert outcomes.count("wrong_code") <= MAX_ATTEMPTS - 1  # the fifth wrong one locks
    compared = [o for o in outcomes if o in ("wrong_code", "linked")]
    assert len(compared) <= MAX_ATTEMPTS
    refused = [o for o in outcomes if o not in ("wrong_code", "linked")]
    assert set(refused) <= {"locked", "no_pending_code"}  # locked, or the code already used
    async with services.db.sessions() as session:
        stored = (await session.execute(select(Verification.attempts))).scalars().all()
    assert stored and max(stored) <= MAX_ATTEMPTS


async def test_concurrent_requests_send_no_more_codes_than_allowed(
    services: Services, outbox: Outbox
) -> None:
    async def slow(ws: str, kind: str, address: str, text: str) -> DeliveryReceipt:
        await asyncio.sleep(0.2)  # an SMS gateway's round trip
        return await outbox(ws, kind, address, text)

    verifier = Verifier(IdentityStore(services.db), slow, lambda: b"k" * 32, services.events)
    visitor = await customer(services, "v_burst")

    async def start(n: int) -> str:
        try:
            await verifier.start("acme", visitor, "phone", f"+1720555020{n}")
        except VerificationError as error:
            return error.code
        return "sent"

    outcomes = await asyncio.gather(*(start(n) for n in range(10)))
    assert outcomes.count("sent") == MAX_STARTS == len(outbox.sent)
    assert outcomes.count("too_many_codes") == 10 - MAX_STARTS


async def test_a_code_that_cannot_be_sent_does_not_count(services: Services) -> None:
    async def down(ws: str, kind: str, address: str, text: str) -> DeliveryReceipt:
        return DeliveryReceipt("sms", "failed", error="gateway down")

    verifier = Verifier(IdentityStore(services.db), down, lambda: b"k" * 32, services.events)
    visitor = await customer(services, "v_down")
    for _ in range(MAX_STARTS + 1):
        with pytest.raises(VerificationError) as error:
            await verifier.start("acme", visitor, "phone", "+17205550300")
        assert error.value.code == "not_sent"


async def test_a_code_confirmed_after_its_claimer_was_merged_links_to_the_merged_profile(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    visitor = await customer(services, "v_merged_later")
    other = await customer(services, "v_keeper")
    await verifier.start("acme", visitor, "phone", "+17205550401")
    await verifier.store.merge("acme", visitor, other, {"by": "agent"})
    linked = await verifier.confirm("acme", visitor, outbox.code())
    assert linked.customer_id == other
    owner = await verifier.store.owner("acme", "phone", "+17205550401")
    assert owner is not None and owner.customer_id == other


async def test_a_code_asked_for_before_merges_is_confirmed_by_the_profile_it_lives_in(
    services: Services, verifier: Verifier, outbox: Outbox
) -> None:
    """The API resolves a merged-away id before confirming, and the pipeline knows the sender
    by the kept profile: both look for the code across the merges (was 404 no_pending_code)."""
    visitor = await customer(services, "v_chain_code")
    middle, kept = await customer(services, "v_chain_mid"), await customer(services, "v_chain_top")
    await verifier.start("acme", visitor, "phone", "+17205550402")
    await verifier.store.merge("acme", visitor, middle, {"by": "agent"})
    await verifier.store.merge("acme", middle, kept, {"by": "agent"})
    assert await verifier.expects_code("acme", kept)
    linked = await verifier.confirm("acme", kept, outbox.code())
    assert (linked.customer_id, linked.merged_from) == (kept, None)
    owner = await verifier.store.owner("acme", "phone", "+17205550402")
    assert owner is not None and owner.customer_id == kept
    with pytest.raises(VerificationError) as used:
        await verifier.confirm("acme", kept, outbox.code())
    assert used.value.code == "no_pending_code"
    assert await verifier.expects_code("acme", kept)  # typed again: still kept from prompts


async def test_unmerge_after_the_target_was_merged_on_brings_the_rows_back(
    services: Services, verifier: Verifier
) -> None:
    """A into B, then B into C: unmerging A takes A's identities back from C."""
    a = await customer(services, "v_chain_a")
    b = await customer(services, "v_chain_b")
    c = await customer(services, "v_chain_c")
    await verifier.store.merge("acme", a, b, {"by": "agent"})
    await verifier.store.merge("acme", b, c, {"by": "agent"})
    assert await services.store.identity_owner("acme", "webchat", "v_chain_a") == c
    await verifier.store.unmerge("acme", a, {"reason": "wrong person"})
    assert await services.store.identity_owner("acme", "webchat", "v_chain_a") == a
    assert await services.store.identity_owner("acme", "webchat", "v_chain_b") == c


async def test_an_unmerge_takes_back_what_the_merge_lent_the_kept_profile(
    services: Services, verifier: Verifier
) -> None:
    ethan = await services.store.upsert_customer(
        "acme", "cus_e", "Ethan Brooks", {"loyalty_tier": "Summit", "locale": "en-GB"}, []
    )
    visitor = await customer(services, "v_lend")
    store = verifier.store
    await store.merge("acme", ethan, visitor, {"reason": "claimed at the counter"})
    lent = await store.profile("acme", visitor)
    assert lent is not None and lent.attributes["loyalty_tier"] == "Summit"
    await store.unmerge("acme", ethan, {"reason": "wrong person"})
    back = await store.profile("acme", visitor)
    assert back is not None  # it kept Ethan's tier and name, and its next prompt greeted "Ethan"
    assert "loyalty_tier" not in back.attributes and back.name is None


async def test_opposite_merges_at_once_leave_no_cycle(
    services: Services, verifier: Verifier
) -> None:
    a, b = await customer(services, "v_x"), await customer(services, "v_y")
    store = verifier.store
    results = await asyncio.gather(
        store.merge("acme", a, b, {}), store.merge("acme", b, a, {}), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, MergeError)]
    assert len(refused) == 1 and refused[0].code == "already_merged"
    rows = [await store.profile("acme", cid) for cid in (a, b)]
    assert sorted(r.merged_into is None for r in rows if r is not None) == [False, True]
