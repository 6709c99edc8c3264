"""The handoff desk: queue a conversation for people, with the packet an agent needs.

The packet: a three-sentence summary (what the customer first asked, what they said last, why a
person is needed), intent and sentiment, the customer's profile and identifiers, the knowledge
passages the conversation used, where and when the customer asked to be called or written back
(:mod:`omnivox.handoff.callback`), and a suggested reply the agent can edit. The suggestion is
written in the background by the provider chain over a fresh knowledge search (the console shows
it when it arrives), so the customer's "a person will take over" is not delayed by a model. It
answers the customer's latest message that is more than a request for a person.

The customer is told what happens next on their channel: with an agent online, the usual wait
(``handoff.expected_wait_minutes``); with none, the team's hours (``handoff.hours``) too. A
caller, whose call ends after that, is told a person will text them at the number they called
from (where the agent's reply goes, by SMS), or, when they cannot be texted, follow up. On
WhatsApp, out of hours, they are told too that a reply can only come within 24 hours of their
latest message, and that any message from them reopens that window.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from omnivox.handoff.bus import ConsoleBus
from omnivox.handoff.callback import callback
from omnivox.handoff.replies import ChannelFor, by_sms
from omnivox.identity.kinds import display_name
from omnivox.logs import get_logger
from omnivox.memory.summary import first_sentence
from omnivox.pipeline.context import TurnContext
from omnivox.settings import WorkspaceSettings
from omnivox.storage.handoffs import HandoffStore, HandoffView
from omnivox.storage.identities import IdentityStore
from omnivox.storage.repositories import Store, StoredMessage
from omnivox.types import HistoryItem
from omnivox.understanding.handoff_request import asks_for_person

log = get_logger(__name__)
Suggest = Callable[[WorkspaceSettings, str, str], Awaitable[str]]  # (ws, question, conversation)
Reach = Literal["here", "window", "text", "follow_up"]
# how a person's answer reaches the customer: in the conversation (on WhatsApp only within 24
# hours of the customer's latest message); on a phone call, which ends after the handoff, by a
# text to the caller (the agent's reply goes by SMS), or, when the caller cannot be texted,
# however the team follows up
REACH: dict[Reach, str] = {
    "here": "reply right here in this conversation",
    "window": "reply right here in this conversation",
    "text": "text you at this number",
    "follow_up": "follow up with you",
}
# WhatsApp: after 24 hours without a message from the customer, only approved templates go out
# (``channels/whatsapp.py``); "as soon as they're back" would be a promise the channel breaks
WINDOW_NOTE = (
    " WhatsApp lets us reply only within 24 hours of your latest message: if we're not back by "
    "then, send us any message during our hours and they'll answer it."
)


def summary(name: str | None, messages: Sequence[StoredMessage], reasons: Sequence[str]) -> str:
    """The first question and its channels, the latest message, the reasons (three sentences).

    Two when the customer wrote once: the one message is quoted once.
    """
    asked = [m for m in messages if m.direction == "in"]
    who = name or "The customer"
    if not asked:
        return f"{who} has not written yet. Handed to a person because {'; '.join(reasons)}."
    channels = ", ".join(dict.fromkeys(display_name(m.channel) for m in asked))
    first = first_sentence(asked[0].text).rstrip(".!?")
    last = first_sentence(asked[-1].text).rstrip(".!?")
    because = f"Handed to a person because {'; '.join(reasons) or 'a person was asked for'}."
    if len(asked) == 1:  # "first" and "latest" would quote the one message twice
        return f'{who} wrote on {channels}: "{first}". {because}'
    return f'{who} wrote on {channels}, first: "{first}". Latest message: "{last}". {because}'


def next_steps(ws: WorkspaceSettings, online: bool, reach: Reach) -> str:
    """What the customer is told when the conversation goes to people.

    ``reach``: how the person's answer will come (see :data:`REACH`).
    """
    h, answer = ws.handoff, REACH[reach]
    if online:
        return (
            f"I'm bringing in a member of our team to help with this. They'll {answer}, usually "
            f"within {h.expected_wait_minutes} minutes."
        )
    return (
        f"I've passed this to a member of our team. Nobody is online right now; our hours are "
        f"{h.hours.rstrip('. ')}. They'll {answer} as soon as they're back."
        + (WINDOW_NOTE if reach == "window" else "")
    )


def suggestion_question(history: Sequence[HistoryItem], question: str) -> str:
    """What the suggested reply should answer: the customer's latest substantive message.

    "How long do I have to return a jacket?" -> "agent": the suggestion answers the return
    question, not the word "agent" (a message that only asks for a person is skipped).
    """
    asked = [h.text for h in history if h.direction == "in"]
    for text in reversed([*asked, question]):
        if _substantive(text):
            return text
    return question


def _substantive(text: str) -> bool:
    """At least three words outside the sentences that ask for a person."""
    sentences = (s for s in re.split(r"[.!?\n]+", text) if not asks_for_person(s))
    return sum(len(re.findall(r"\w+", s)) for s in sentences) >= 3


class HandoffDesk:
    """Opens handoffs from turns and keeps their packets complete."""

    def __init__(
        self,
        handoffs: HandoffStore,
        store: Store,
        identities: IdentityStore,
        bus: ConsoleBus,
        suggest: Suggest,
        channel_for: ChannelFor,
    ) -> None:
        self.handoffs = handoffs
        self.store = store
        self.identities = identities
        self.bus = bus
        self.suggest = suggest
        self.channel_for = channel_for
        self._background: set[asyncio.Task[None]] = set()

    async def open(self, ctx: TurnContext, reasons: Sequence[str]) -> str:
        """Queue the turn's conversation; returns what to tell the customer."""
        assert ctx.conversation_id is not None and ctx.customer_id is not None
        packet = await self.packet(ctx, reasons)
        view, created = await self.handoffs.open(
            ctx.workspace.id, ctx.conversation_id, ctx.customer_id, packet
        )
        if created:
            self.bus.publish(ctx.workspace.id, {"type": "handoff", "handoff": view.as_dict()})
            vault = ctx.vault
            restore = vault.restore if vault is not None else str
            question = suggestion_question(ctx.history, ctx.question)  # placeholders, as sent
            task = asyncio.create_task(self._suggest(ctx.workspace, view, question, restore))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        online = await self.bus.online(ctx.workspace.id) > 0
        return next_steps(ctx.workspace, online, self._reach(ctx))

    def _reach(self, ctx: TurnContext) -> Reach:
        """How the person's answer will reach the customer of the turn (see :data:`REACH`)."""
        if ctx.inbound.channel == "whatsapp":
            return "window"
        if ctx.inbound.channel != "voice":
            return "here"
        texted = by_sms(ctx.workspace.id, ctx.inbound, self.channel_for)
        return "follow_up" if texted is None else "text"

    async def packet(self, ctx: TurnContext, reasons: Sequence[str]) -> dict[str, Any]:
        """Everything the agent gets with the handoff (the suggestion follows)."""
        assert ctx.conversation_id is not None and ctx.customer_id is not None
        view = await self.store.conversation(ctx.conversation_id)
        profile = await self.identities.profile(ctx.workspace.id, ctx.customer_id)
        messages = view.messages if view else []
        name = profile.name if profile else None
        analysis = ctx.analysis
        intent = analysis.intent if analysis else None
        cited = [
            c for m in messages if m.direction == "out" for c in m.metadata.get("citations", [])
        ]
        return {
            "summary": summary(name, messages, reasons),
            "reasons": list(reasons),
            "intent": intent.intent if intent else None,
            "confidence": intent.confidence if intent else None,
            "sentiment": analysis.sentiment.score if analysis else None,
            "sentiment_label": analysis.sentiment.label if analysis else None,
            "customer": {
                "id": ctx.customer_id,
                "name": name,
                "identities": profile.identities if profile else [],
            },
            "channel": ctx.inbound.channel,
            "callback": callback(
                ctx.callback,
                ctx.inbound.text,
                ctx.workspace.understanding.phone_region,
                analysis.language.code if analysis and analysis.language.reliable else None,
            ),
            "passages": [p.citation().as_dict() for p in ctx.passages] or cited[-3:],
            "suggested_reply": None,
        }

    async def _suggest(
        self,
        ws: WorkspaceSettings,
        view: HandoffView,
        question: str,
        restore: Callable[[str], str],
    ) -> None:
        try:
            text = restore(await self.suggest(ws, question, view.conversation_id))
        except Exception as exc:  # the agent writes their own reply
            log.warning("handoff.suggestion_failed", handoff=view.id, error=str(exc))
            return
        await self.handoffs.merge_packet(view.id, {"suggested_reply": text})
        self.bus.publish(ws.id, {"type": "suggestion", "handoff_id": view.id, "text": text})
