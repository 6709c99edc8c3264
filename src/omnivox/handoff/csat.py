"""Customer satisfaction after a person resolved a conversation.

On resolve the customer is asked, on their channel: buttons in web chat, links by email (when
``channels.public_url`` is set), and "reply with a number from 1 to 5" everywhere else. The
answer is stored once per handoff (``ratings``: conversation, channel, agent, score) from a
1-5 message within ``RATING_DAYS`` days, or from a signed email link within as many days of the
resolve (the link opens a page whose button records the score: opening a link records nothing,
as mail scanners open every link).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from omnivox.handoff.auth import sign
from omnivox.handoff.replies import AgentReplies
from omnivox.settings import WorkspaceSettings
from omnivox.storage.handoffs import HandoffStore, HandoffView
from omnivox.storage.repositories import Store

RATING_DAYS = 7
ASK = "How did we do? Reply with a number from 1 (poor) to 5 (great)."
THANKS = "Thank you for rating us!"
LABELS = {1: "1 (poor)", 2: "2", 3: "3", 4: "4", 5: "5 (great)"}


class Csat:
    """Asks for the rating and checks its signed links."""

    def __init__(
        self,
        handoffs: HandoffStore,
        store: Store,
        replies: AgentReplies,
        key: Callable[[], bytes],
    ) -> None:
        self.handoffs = handoffs
        self.store = store
        self.replies = replies
        self._key = key

    async def request(self, ws: WorkspaceSettings, view: HandoffView, agent_id: str) -> None:
        """Mark the rating due and ask on the customer's channel."""
        await self.handoffs.merge_packet(view.id, {"rating": "requested"})
        last = await self.store.last_inbound(view.conversation_id)
        text = ASK
        if last is not None and last.channel == "email" and ws.channels.public_url:
            base = ws.channels.public_url.rstrip("/")
            links = " · ".join(
                f"[{label}]({base}/rate/{self.token(view.id, n)})" for n, label in LABELS.items()
            )
            text = f"How did we do? {links}"
        await self.replies.send(ws, view, agent_id, text, {"rating": list(LABELS)})

    def token(self, handoff_id: str, score: int) -> str:
        """A signed ``handoff.score.signature`` token for one rating link."""
        value = f"{handoff_id}.{score}"
        return f"{value}.{sign(self._key(), 'rating', value)}"

    def check(self, token: str) -> tuple[str, int] | None:
        """(handoff id, score) of a genuine token, else None."""
        value, _, signature = token.rpartition(".")
        handoff_id, _, score = value.partition(".")
        expected = sign(self._key(), "rating", value).encode()
        genuine = value and hmac.compare_digest(expected, signature.encode())  # bytes: any text
        if not genuine or score not in {"1", "2", "3", "4", "5"}:
            return None
        return handoff_id, int(score)
