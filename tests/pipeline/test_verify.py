"""The verify step: which messages claim an identifier, what a claim is answered, what a typed
code becomes; on a live server with the demo's seeded customers (REST channel)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnivox.pipeline.steps.verify import REDACTED, asked_for_address, claimed
from omnivox.testing.scripted import ScriptedProvider
from omnivox.types import HistoryItem
from tests.conftest import LiveServer, make_settings
from tests.identity.test_verification import Outbox

MAYA_EMAIL = "maya.thompson@example.com"


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        ("my phone number is +1 720 555 0142", ("phone", "+1 720 555 0142")),
        ("My email is Maya@Example.com", ("email", "Maya@Example.com")),
        ("my email: maya@example.com", ("email", "maya@example.com")),
        ("Hi! my cell is 720 555 0123, thanks", ("phone", "720 555 0123")),
        ("you can reach me at maya@example.com", ("email", "maya@example.com")),
        ("maya@example.com is my email", ("email", "maya@example.com")),
        ("Where is my order? My email is a@b.co", ("email", "a@b.co")),
        # 00 for "+" where the region dials out with 011, as "+44 …" (were: None)
        ("my number is 0044 20 7946 0958", ("phone", "0044 20 7946 0958")),
        ("0044 20 7946 0958 is my number", ("phone", "0044 20 7946 0958")),
        # mentions, not claims: answered as usual
        (
            "I called the number on your site, 1-800-555-0199, nobody answered. Where is my order?",
            None,
        ),
        ("Is the number for your Denver store 303-555-0188?", None),
        ("Is my number +1 720 555 0142 on file?", None),
        ("Can you text me at 720 555 0123?", None),
        ("my number is wrong on the order, it should be 303-555-0188", None),
        ("Please email the invoice to accounts@acme-buyer.example", None),
        ("maya@example.com", None),  # an address alone, unasked
    ],
)
def test_only_first_person_claims_start_a_verification(
    text: str, claim: tuple[str, str] | None
) -> None:
    assert claimed(text, "US") == claim


def test_an_address_alone_claims_it_when_the_assistant_asked_for_one() -> None:
    asked = [HistoryItem("out", "What's the email address on your order?", "webchat")]
    told = [HistoryItem("out", "Our Denver store's number is 303-555-0188.", "webchat")]
    assert asked_for_address(asked) and not asked_for_address(told)
    assert not asked_for_address([HistoryItem("in", "what's your phone number?", "webchat")])
    assert claimed("it's maya@example.com", "US", asked=True) == ("email", "maya@example.com")
    assert claimed("sure, 720-555-0123", "US", asked=True) == ("phone", "720-555-0123")
    assert claimed("it's maya@example.com", "US") is None
    assert claimed("order ACM-482193 please", "US", asked=True) is None


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, Outbox]]:
    workspace = {
        "id": "acme",
        "name": "Acme",
        "seed": {"customers": "customers.json"},
        "trust_api_customer_ids": True,  # customer.id cus_0002 is the seeded Daniel
    }
    with LiveServer(make_settings(tmp_path, workspaces=[workspace])) as server:
        outbox = Outbox()
        server.services.verifier.send_code = outbox
        yield server, outbox


def send(server: LiveServer, customer: str, text: str) -> dict[str, Any]:
    body = {"workspace": "acme", "customer": {"id": customer}, "text": text}
    response = httpx.post(
        f"{server.url}/api/v1/messages", headers=server.auth(), json=body, timeout=60
    )
    response.raise_for_status()
    return dict(response.json())


def api(server: LiveServer, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", headers=server.auth(), timeout=60, **kw)


def prompts(server: LiveServer) -> list[str]:
    provider = server.services.chain.providers[0]
    assert isinstance(provider, ScriptedProvider)
    return ["\n".join(m.content for m in r.messages) for r in provider.requests]


def test_a_question_about_a_number_is_answered_not_sent_a_code(
    live: tuple[LiveServer, Outbox],
) -> None:
    server, outbox = live
    for text in (
        "I called the number on your site, 1-800-555-0199, nobody answered. Where is my order?",
        "Is the number for your Denver store 303-555-0188?",
    ):
        reply = send(server, "shopper-1", text)["reply"]["text"]
        assert reply == f"You asked: {text}"
    assert outbox.sent == []


def test_throwaway_senders_claiming_one_number_send_it_three_codes(
    live: tuple[LiveServer, Outbox],
) -> None:
    server, outbox = live
    replies = [
        send(server, f"throwaway-{n}", "my phone number is +1 720 555 0142")["reply"]["text"]
        for n in range(8)
    ]
    assert [to for _, to, _ in outbox.sent] == ["+17205550142"] * 3  # was 8
    assert all("too many codes were sent to this phone" in r for r in replies[3:])


def test_a_claim_of_a_customers_email_is_answered_like_any_other(
    live: tuple[LiveServer, Outbox],
) -> None:
    """A known customer (seeded Daniel) probing addresses learns nothing: Maya's email gets the
    same answer as nobody's (a code goes to it); proving it hands the conversation to a person."""
    server, outbox = live
    nobody = send(server, "cus_0002", "my email is nobody1@example.net")["reply"]["text"]
    assert nobody.startswith("To link this email address to our conversation I've sent")
    claim = send(server, "cus_0002", f"my email is {MAYA_EMAIL}")
    assert claim["reply"]["text"] == nobody.replace("n•••@example.net", "m•••@example.com")
    assert outbox.sent[-1][1] == MAYA_EMAIL
    proven = send(server, "cus_0002", outbox.code())
    assert proven["reply"]["text"].startswith("Thank you, that code is right.")
    assert "member of our team" in proven["reply"]["text"]
    handoffs = api(server, "GET", "/api/v1/handoffs").json()
    opened = [h for h in handoffs["handoffs"] if h["conversation_id"] == claim["conversation_id"]]
    assert len(opened) == 1
    reasons = " ".join(opened[0]["packet"]["reasons"])
    assert "another known profile" in reasons
    for external in ("cus_0001", "cus_0002"):  # Maya and Daniel: nothing merged
        cid = api(server, "GET", f"/api/v1/customers/{external}/export").json()["customer"]["id"]
        profile = api(server, "GET", f"/api/v1/customers/{cid}").json()
        assert profile["merged_into"] is None
    assert not any(outbox.code() in p for p in prompts(server))


def test_a_code_typed_after_a_merge_links_and_never_reaches_the_model(
    live: tuple[LiveServer, Outbox],
) -> None:
    server, outbox = live
    first = send(server, "visitor-1", "hello there")
    send(server, "visitor-1", "my phone number is +1 720 555 0199")
    code = outbox.code()
    conversation = first["conversation_id"]
    visitor = api(server, "GET", f"/api/v1/conversations/{conversation}").json()["customer_id"]
    maya = api(server, "GET", "/api/v1/customers/cus_0001/export").json()["customer"]["id"]
    api(
        server,
        "POST",
        f"/api/v1/customers/{maya}/merge",
        json={"workspace": "acme", "other": visitor, "reason": "same person per call"},
    ).raise_for_status()
    before = len(prompts(server))
    typed = send(server, "visitor-1", code)
    assert typed["reply"]["text"] == "Thank you, your phone number is verified and linked."
    assert len(prompts(server)) == before  # was "You asked: <the code>"
    again = send(server, "visitor-1", code)  # typed twice: still not the model's
    assert "no code is waiting" in again["reply"]["text"]
    assert not any(code in p for p in prompts(server))
    view = api(server, "GET", f"/api/v1/conversations/{conversation}").json()
    texts = [m["text"] for m in view["messages"] if m["direction"] == "in"]
    assert code not in texts and texts.count(REDACTED) == 2
    profile = api(server, "GET", f"/api/v1/customers/{maya}", params={"workspace": "acme"})
    assert ("phone", "+17205550199") in {
        (i["kind"], i["address"]) for i in profile.json()["identities"]
    }
