"""Web chat WebSocket: ``/ws/chat?workspace=ID[&visitor=ID]``.

Frames (JSON): the server greets with ``session`` (and ``history`` when resuming). The client
sends ``{"type": "message", "text": ..., "id": ...}`` (``id`` optional), and, when the session
frame says ``"drafts": true``, now and then ``{"type": "draft", "text": ...}`` with what the
customer is still typing (the server looks up its passages ahead; nothing is stored or
answered). A message the server takes is acknowledged with ``typing``; ``delta`` frames stream
while the model writes, ``reset`` says it fell back to another provider mid-answer. Every
message ends with exactly one of: the verified ``reply``; ``received`` (stored, no answer comes:
a person holds the conversation); or ``{"type": "error", "code", "message"}``. ``typing``,
``received`` and ``error`` carry the message's ``id`` when it had a well-formed one.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from omnivox.channels.base import ChannelError
from omnivox.channels.webchat import ChatFrame, frame_id, frame_text, valid_visitor
from omnivox.llm.base import Delta
from omnivox.logs import get_logger
from omnivox.pipeline.context import (
    CUSTOMER_ERASED,
    HELD_FOR_AGENT,
    MESSAGE_ID_REUSED,
    MESSAGE_ID_TAKEN,
    TurnContext,
)
from omnivox.ratelimit import client_key
from omnivox.routes.deps import services_of
from omnivox.scaleout.errors import CoordinationUnavailableError
from omnivox.services import Services
from omnivox.storage.repositories import StoredMessage
from omnivox.turns import RateLimitedError
from omnivox.types import utcnow

log = get_logger(__name__)
router = APIRouter(tags=["webchat"])
MIN_DRAFT_CHARS = 8  # shorter drafts say too little to find the passages
TRY_AGAIN_LATER = 1013  # the close code of a socket over limits.webchat_sockets_per_address


@router.websocket("/ws/chat")
async def chat(websocket: WebSocket, workspace: str, visitor: str | None = None) -> None:
    """One visitor's chat session.

    A client address (an IPv6 /64) holds at most ``limits.webchat_sockets_per_address`` open at
    once in this process: one more is closed with 1013 (try again later) before any work.
    """
    services = services_of(websocket)
    ws_settings = services.settings.workspace(workspace)
    if ws_settings is None:
        await websocket.close(code=1008, reason="unknown workspace")
        return
    allowed = ws_settings.channels.webchat_origins
    origin = (websocket.headers.get("origin") or "").lower()
    # browsers always send Origin; a client that sends none is no other site's page
    if allowed and origin and origin not in allowed and origin != _own_origin(websocket):
        await websocket.close(code=1008, reason="this site may not open the chat")
        return
    slot = f"{workspace}\x00{client_key(_client_address(websocket))}"
    sockets = services.webchat.open_per_address
    if not sockets.take(slot, ws_settings.limits.webchat_sockets_per_address):
        log.warning("webchat.too_many_sockets", workspace=workspace)
        await websocket.accept()  # so that the widget sees the code and reason
        await websocket.close(code=TRY_AGAIN_LATER, reason="too many open chats from your network")
        return
    try:
        await _session(websocket, services, workspace, visitor, ws_settings.persona.name)
    finally:
        sockets.release(slot)


async def _session(
    websocket: WebSocket, services: Services, workspace: str, visitor: str | None, assistant: str
) -> None:
    """Accept, greet, then take the visitor's frames until the socket closes."""
    await websocket.accept()
    visitor_id = valid_visitor(visitor)
    channel = services.webchat
    channel.connect(workspace, visitor_id, websocket)
    try:
        await _greet(websocket, services, workspace, visitor_id, assistant)
        while True:
            await _one_turn(websocket, services, workspace, visitor_id)
    except WebSocketDisconnect:
        pass
    finally:
        channel.disconnect(workspace, visitor_id, websocket)


async def _greet(
    websocket: WebSocket, services: Services, workspace: str, visitor: str, assistant: str
) -> None:
    customer = await services.store.identity_owner(workspace, "webchat", visitor)
    conversation = None
    if customer is not None:  # the conversation the next message will continue, if any
        since = utcnow() - timedelta(hours=services.settings.memory.continuity_hours)
        conv_id = await services.store.find_open_conversation(workspace, customer, since)
        if conv_id is not None:
            conversation = await services.store.conversation(conv_id, workspace)
    await websocket.send_json(
        {
            "type": "session",
            "visitor": visitor,
            "assistant": assistant,
            "conversation_id": conversation.id if conversation else None,
            "drafts": drafts_wanted(services, workspace),
        }
    )
    if conversation and conversation.messages:
        history = [_shown(m, visitor) for m in conversation.messages]
        await websocket.send_json({"type": "history", "messages": history})


def _shown(message: StoredMessage, visitor: str) -> dict[str, Any]:
    """A history entry: with its ``message_id``, and the widget's own ``id`` for what it sent.

    The ids let the widget drop a message it is sending again (its connection died after the
    server had it) and a reply it already shows.
    """
    entry: dict[str, Any] = {
        "role": _role(message),
        "text": message.text,
        "citations": message.metadata.get("citations", []),
        "message_id": message.id,
    }
    sent = message.provider_message_id or ""
    if message.channel == "webchat" and sent.startswith(f"{visitor}:"):
        entry["id"] = sent.removeprefix(f"{visitor}:")
    return entry


async def _one_turn(websocket: WebSocket, services: Services, workspace: str, visitor: str) -> None:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    raw = message.get("text")
    if raw is None:  # a binary frame
        await _error(websocket, "bad_frame", "frames must be text (JSON)")
        return
    try:
        frame: Any = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, a 5,000-digit number, absurd nesting
        await _error(websocket, "bad_frame", "frames must be JSON")
        return
    sent_id = frame_id(frame) if isinstance(frame, dict) else None  # errors name the message
    try:
        if not isinstance(frame, dict):
            raise ChannelError(422, "bad_frame", "a frame must be a JSON object")
        if frame.get("type") == "draft":
            _draft(services, workspace, visitor, frame)
            return
        [inbound] = await services.webchat.parse(ChatFrame(workspace, visitor, frame))
    except ChannelError as exc:
        await _error(websocket, exc.code, exc.message, sent_id)
        return
    try:  # counted before the other tabs see it: a flood is refused, not echoed
        await services.turns.admit(inbound, client_address=_client_address(websocket))
    except RateLimitedError as exc:
        await _error(
            websocket, "rate_limited", f"You're sending messages too quickly: {exc}.", sent_id
        )
        return
    except CoordinationUnavailableError:  # Redis, with several servers: nothing was stored
        log.warning("webchat.coordination_unavailable", workspace=workspace)
        await _error(websocket, "unavailable", "Sorry, we can't take messages right now.", sent_id)
        return
    # a tab dropped for stalling (webchat.SEND_TIMEOUT_S) that speaks again is back
    services.webchat.connect(workspace, visitor, websocket)
    await websocket.send_json(_with_id({"type": "typing"}, sent_id))
    await services.webchat.echo(workspace, visitor, inbound.text, websocket, sent_id)

    gone = False

    async def sink(delta: Delta) -> None:
        """Stream to this socket while it is open; a closed tab never fails the turn.

        The answer still goes to the visitor's other tabs and into the conversation.
        """
        nonlocal gone
        if gone:
            return
        try:
            if delta.reset:
                await websocket.send_json({"type": "reset"})
            if delta.text:
                await websocket.send_json({"type": "delta", "text": delta.text})
        except Exception:  # closed mid-answer: WebSocketDisconnect, RuntimeError, OSError
            gone = True

    try:
        ctx = await services.turns.handle(inbound, services.webchat, sink, admitted=True)
    except CoordinationUnavailableError as exc:  # Redis failed during the turn (its lock wait)
        log.warning("webchat.coordination_unavailable", workspace=workspace, error=str(exc))
        await _error(websocket, "unavailable", "Sorry, we can't take messages right now.", sent_id)
        return
    except Exception:  # recorded as turn.failed; the visitor keeps a working socket
        log.exception("webchat.turn_failed", workspace=workspace)
        sorry = "Sorry, something went wrong. Please try again."
        await _error(websocket, "turn_failed", sorry, sent_id)
        return
    await _end_turn(websocket, services, ctx, sent_id)


async def _end_turn(
    websocket: WebSocket, services: Services, ctx: TurnContext, sent_id: str | None
) -> None:
    """The turn's last frame to the sender when the reply frame did not end it already.

    A refused message gets an ``error``; a resent one its stored ``reply``; one that is stored
    with no answer to come (a person holds the conversation) gets ``received``.
    """
    if ctx.halted == MESSAGE_ID_TAKEN:
        message = "this message id was used before; use a new one"
        await _error(websocket, "message_id_taken", message, sent_id)
        return
    if ctx.halted == MESSAGE_ID_REUSED:
        message = "this message id was used for another message; use a new one"
        await _error(websocket, "message_id_reused", message, sent_id)
        return
    if ctx.halted == CUSTOMER_ERASED:
        message = "This conversation's data has been erased."
        await _error(websocket, "customer_erased", message, sent_id)
        return
    if ctx.duplicate_of is not None:
        stored = await services.store.reply_to(ctx.duplicate_of.id)
        if stored is not None:
            await websocket.send_json(
                {
                    "type": "reply",
                    "text": stored.text,
                    "citations": stored.metadata.get("citations", []),
                    "conversation_id": stored.conversation_id,
                    "message_id": stored.id,
                }
            )
            return
        received, status = ctx.duplicate_of, "no_reply"
    elif ctx.reply is None and ctx.message is not None:
        received = ctx.message
        status = "with_agent" if ctx.halted == HELD_FOR_AGENT else "no_reply"
    else:  # the reply frame went to every tab, this one included
        return
    frame = {
        "type": "received",
        "status": status,
        "conversation_id": received.conversation_id,
        "message_id": received.id,
    }
    await websocket.send_json(_with_id(frame, sent_id))


def _client_address(websocket: WebSocket) -> str:
    """The client's address (behind a trusted proxy, the one it forwards), for its limit."""
    return websocket.client.host if websocket.client else "unknown"


def _own_origin(websocket: WebSocket) -> str:
    """The server's own origin (its demo page may always open the chat)."""
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    return f"{scheme}://{websocket.headers.get('host', '')}".lower()


def _role(message: StoredMessage) -> str:
    """Who wrote a stored message: the customer, an agent (a person) or the assistant."""
    if message.direction == "in":
        return "customer"
    provider = str(message.metadata.get("provider") or "")
    return "agent" if provider.startswith("agent:") else "assistant"


def drafts_wanted(services: Services, workspace: str) -> bool:
    """Whether the widget should send drafts: on, and something would read them ahead."""
    ws = services.settings.workspace(workspace)
    return bool(
        ws is not None
        and ws.channels.webchat_drafts
        and ws.knowledge_paths
        and services.chain.reads_ahead()
    )


def _draft(services: Services, workspace: str, visitor: str, frame: dict[str, Any]) -> None:
    """Hand a draft to the prepare step (none is answered; unwanted or short ones are dropped)."""
    text = frame_text(frame, services.webchat.max_text_chars, "draft", empty_ok=True)
    prepare = services.prepare_step()
    if prepare is None or len(text) < MIN_DRAFT_CHARS or not drafts_wanted(services, workspace):
        return
    prepare.draft(workspace, services.webchat.name, visitor, text)


async def _error(websocket: WebSocket, code: str, message: str, sent_id: str | None = None) -> None:
    frame = {"type": "error", "code": code, "message": message}
    await websocket.send_json(_with_id(frame, sent_id))


def _with_id(frame: dict[str, Any], sent_id: str | None) -> dict[str, Any]:
    """``frame`` with the client's message ``id`` when the message had one."""
    return {**frame, "id": sent_id} if sent_id is not None else frame
