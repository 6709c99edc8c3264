"""A handoff's packet is written by several hands; each keeps the fields it did not change."""

from __future__ import annotations

from omnivox.services import Services
from omnivox.types import CustomerRef, InboundMessage


async def test_a_late_suggestion_keeps_the_rating_request(services: Services) -> None:
    """The suggestion wrote its copy of the packet as the handoff opened: the rating request
    made meanwhile was undone, and the customer's score then refused."""
    store, console = services.store, services.console
    ws = services.settings.workspaces[0]
    customer, _ = await store.resolve_customer("acme", "api", "u1", verified=True)
    said = InboundMessage("acme", "api", CustomerRef("u1"), "I need a person")
    conv = (await store.attach_inbound(said, customer)).message.conversation_id
    opened, _ = await console.handoffs.open("acme", conv, customer, {"summary": "a person"})
    agent = await console.handoffs.add_agent("acme", "sam@acme.example", "Sam", "agent", "x")
    await console.handoffs.claim("acme", opened.id, agent)
    resolved = await console.handoffs.close("acme", opened.id, agent, "resolved")
    await console.csat.request(ws, resolved, agent)
    await console.desk._suggest(ws, opened, "I need a person", str)  # as it opened
    packet = (await console.handoffs.get("acme", opened.id)).packet
    assert packet["summary"] == "a person" and packet["suggested_reply"]
    assert packet["rating"] == "requested"
    assert await console.handoffs.rate(resolved, "api", 5)
    rated = (await console.handoffs.get("acme", opened.id)).packet
    assert (rated["rating"], rated["suggested_reply"]) == (5, packet["suggested_reply"])
