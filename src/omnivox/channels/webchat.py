"""Web chat over WebSocket: streamed deltas, then the final verified reply frame.

The adapter keeps the open sockets per visitor so that a reply (or an agent's message) reaches
every tab the visitor has open; with none open the message waits in the history the widget
loads on its next connect. With several servers (``redis.url``), a visitor's tabs may be open on
other servers: every frame sent to a visitor also goes to the peers (``webchat`` topic), which
pass it to the tabs open there. The frame names the visitor only by a digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Protocol

from omnivox.bus.peers import NoPeers, Peers
from omnivox.channels.base import Capabilities, ChannelError, plain_render, unfit_id
from omnivox.ids import new_id
from omnivox.logs import get_logger
from omnivox.ratelimit import OpenCounts
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, OutboundMessage, Reply

VISITOR_PATTERN = re.compile(r"^v_[0-9a-z]{26}$")
MAX_CLIENT_ID = 100  # the widget's own message id; stored as "<visitor>:<id>" (200 at most)
TOPIC = "webchat"
SEND_TIMEOUT_S = 5.0  # a frame a tab has not taken in this long: the tab is dropped
log = get_logger(__name__)


class FrameSocket(Protocol):
    """The part of a WebSocket the adapter uses."""

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send one JSON frame."""
        ...


@dataclass(frozen=True, slots=True)
class ChatFrame:
    """One client frame with the connection it arrived on."""

    workspace_id: str
    visitor: str
    frame: dict[str, Any]


def valid_visitor(visitor: str | None) -> str:
    """The visitor id if well-formed, else a fresh one."""
    if visitor and VISITOR_PATTERN.match(visitor):
        return visitor
    return new_id("v")


class WebChatChannel:
    """Adapter for the embeddable widget."""

    name = "webchat"
    capabilities = Capabilities(
        max_length=8_000,
        markup="plain",
        streaming=True,
        guidance="Reply in two to four short sentences of plain text.",
    )

    def __init__(self, max_text_chars: int = 4000, peers: Peers | None = None) -> None:
        self.max_text_chars = max_text_chars
        self._sockets: dict[tuple[str, str], set[FrameSocket]] = defaultdict(set)
        self._routes: dict[str, tuple[str, str]] = {}  # digest -> visitor with a tab here
        self.peers: Peers = peers or NoPeers()
        self.peers.on(TOPIC, self._from_peer)
        # open sockets per workspace and client address (limits.webchat_sockets_per_address)
        self.open_per_address = OpenCounts()

    def connect(self, workspace_id: str, visitor: str, socket: FrameSocket) -> None:
        """Register an open socket for a visitor."""
        self._sockets[(workspace_id, visitor)].add(socket)
        self._routes[_route(workspace_id, visitor)] = (workspace_id, visitor)

    def disconnect(self, workspace_id: str, visitor: str, socket: FrameSocket) -> None:
        """Forget a closed socket."""
        key = (workspace_id, visitor)
        self._sockets[key].discard(socket)
        if not self._sockets[key]:
            del self._sockets[key]
            self._routes.pop(_route(workspace_id, visitor), None)

    async def verify(self, request: ChatFrame) -> None:
        """The visitor id is the bearer credential; it was checked at connect."""

    async def parse(self, request: ChatFrame) -> list[InboundMessage]:
        """A ``{"type": "message", "text": ...}`` frame as an inbound message."""
        frame = request.frame
        if frame.get("type") != "message":
            raise ChannelError(422, "bad_frame", "expected a frame with type 'message'")
        text = frame_text(frame, self.max_text_chars, "message")
        client_id = frame_id(frame)
        if client_id is None and frame.get("id") is not None:
            raise ChannelError(
                422,
                "bad_frame",
                f"field 'id' must be a string of 1 to {MAX_CLIENT_ID} characters, "
                "none a control character",
            )
        return [
            InboundMessage(
                workspace_id=request.workspace_id,
                channel=self.name,
                sender=CustomerRef(address=request.visitor),
                text=text,
                provider_message_id=f"{request.visitor}:{client_id}" if client_id else None,
            )
        ]

    async def echo(
        self,
        workspace_id: str,
        visitor: str,
        text: str,
        sender: FrameSocket,
        client_id: str | None = None,
    ) -> None:
        """Show a visitor's message in their other tabs (the reply goes to every tab).

        The frame carries the message's ``client_id``: a message sent again shows once.
        """
        frame = {"type": "message", "role": "customer", "text": text}
        if client_id is not None:
            frame["id"] = client_id
        await self._push(workspace_id, visitor, frame, skip=sender)

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """Plain text; citations go in the frame for the widget to list."""
        return plain_render(self.name, self.capabilities, reply, recipient)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Push the reply frame to every open socket of the visitor."""
        workspace_id = message.payload.get("workspace_id", "")
        frame = {
            "type": "reply",
            "text": message.text,
            "citations": message.payload.get("citations", []),
            "conversation_id": message.payload.get("conversation_id"),
            "message_id": message.payload.get("message_id"),
        }
        if message.payload.get("from_agent"):  # a person wrote it (the widget labels it)
            frame["role"] = "agent"
        if message.payload.get("rating"):  # CSAT: the widget shows these as buttons
            frame["rating"] = message.payload["rating"]
        sent = await self._push(workspace_id, message.recipient, frame)
        return DeliveryReceipt(self.name, "sent" if sent else "queued")

    async def _push(
        self, workspace_id: str, visitor: str, frame: dict[str, Any], skip: object = None
    ) -> int:
        """Send ``frame`` to the visitor's tabs here and on the peers; the tabs here that got it."""
        self.peers.publish(TOPIC, {"to": _route(workspace_id, visitor), "frame": frame})
        return await self._local(workspace_id, visitor, frame, skip)

    async def _local(
        self, workspace_id: str, visitor: str, frame: dict[str, Any], skip: object = None
    ) -> int:
        sent = 0
        for socket in list(self._sockets.get((workspace_id, visitor), ())):
            if socket is skip:
                continue
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):  # a tab that stopped reading
                    await socket.send_json(frame)
                sent += 1
            except TimeoutError:  # holds up nobody else: it is dropped
                log.warning("webchat.tab_stalled", workspace=workspace_id)
                self.disconnect(workspace_id, visitor, socket)
            except Exception:  # a tab closing mid-send is not a failed delivery
                continue
        return sent

    async def _from_peer(self, message: dict[str, Any]) -> None:
        """A frame another server sent to a visitor: to their tabs open here, if any."""
        visitor = self._routes.get(str(message.get("to")))
        if visitor is not None:
            await self._local(*visitor, dict(message["frame"]))


def _route(workspace_id: str, visitor: str) -> str:
    """A visitor's name between servers: the visitor id is a credential, so not it."""
    return hashlib.sha256(f"{workspace_id}\x00{visitor}".encode()).hexdigest()[:32]


def frame_id(frame: dict[str, Any]) -> str | None:
    """A frame's own message ``id``, else None.

    A string of 1 to ``MAX_CLIENT_ID`` characters, none a control character (PostgreSQL refuses
    NUL) or a lone surrogate.
    """
    value = frame.get("id")
    if isinstance(value, str) and 0 < len(value) <= MAX_CLIENT_ID and not unfit_id(value):
        return value
    return None


def frame_text(frame: dict[str, Any], limit: int, what: str, *, empty_ok: bool = False) -> str:
    """A frame's ``text``, stripped: a string of valid Unicode, at most ``limit`` characters.

    Raises ChannelError (bad_frame, or too_long) otherwise; a message must have some text.
    """
    text = frame.get("text")
    if not isinstance(text, str) or not (empty_ok or text.strip()):
        raise ChannelError(422, "bad_frame", "field 'text' must be a non-empty string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON allows the escape)
        raise ChannelError(422, "bad_frame", "field 'text' is not valid Unicode") from None
    text = text.strip()
    if len(text) > limit:
        raise ChannelError(413, "too_long", f"{what} is over {limit} characters")
    return text
