"""Provider webhooks: verify before anything else, acknowledge fast, answer in the background.

A request that fails verification is refused (401) before its body is parsed: no row, no model
call, no send. A verified one is acknowledged with 200 once its messages are stored (within
2.5 s: providers retry slow webhooks; one still waiting behind the customer's previous turn
then gets 503 ``not_stored_yet`` while its turn goes on), and each message in it becomes a turn
run after the response; the reply goes out through the channel's ``send``. Redeliveries are
harmless: the provider's message id is unique per channel, checked in the transaction that
stores the message.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from omnivox import events
from omnivox.bus import EventRecord
from omnivox.channels.base import ChannelError, bounded
from omnivox.channels.messenger import MessengerChannel
from omnivox.channels.meta import MetaRequest, handshake
from omnivox.channels.slack import SlackChannel, SlackRequest
from omnivox.channels.telegram import TelegramChannel, TelegramRequest
from omnivox.channels.twilio_sms import EMPTY_TWIML, TwilioRequest, TwilioSmsChannel
from omnivox.channels.twilio_voice import (
    ASK_AGAIN,
    NOT_HEARD,
    REPROMPTS,
    THANKS,
    gather,
    goodbye,
    greeting,
)
from omnivox.channels.whatsapp import WhatsAppChannel
from omnivox.logs import get_logger
from omnivox.pipeline.context import HANDED_OFF, HELD_FOR_AGENT
from omnivox.routes.deps import NOT_FOUND, api_error, services_of
from omnivox.storage.outbox import OutboxStore
from omnivox.turns import RateLimitedError

router = APIRouter(tags=["webhooks"])
TOO_FAST = "You're speaking faster than I can keep up. Please wait a moment and try again."
log = get_logger(__name__)


@router.post("/webhooks/{workspace}/telegram", responses=NOT_FOUND)
async def telegram(workspace: str, request: Request) -> Response:
    """Telegram Bot API updates (``setWebhook`` with a ``secret_token``)."""
    services = services_of(request)
    channel = services.messaging.get((workspace, "telegram"))
    if not isinstance(channel, TelegramChannel):
        raise api_error(404, "unknown_channel", f"no Telegram bot for workspace {workspace!r}")
    call = TelegramRequest(workspace, {k.lower(): v for k, v in request.headers.items()}, None)
    try:
        await channel.verify(call)
        body = json.loads(await request.body())
        inbound = await channel.parse(TelegramRequest(workspace, call.headers, body))
    except ChannelError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise api_error(400, "malformed_body", "the body is not JSON") from None
    if not inbound:
        log.info("webhook.ignored", channel="telegram", workspace=workspace)
    await services.answer_later(inbound, channel)
    return Response(status_code=200)


@router.post("/webhooks/{workspace}/slack", responses=NOT_FOUND, response_model=None)
async def slack(workspace: str, request: Request) -> Response | dict[str, str]:
    """Slack Events API (URL verification, message events; retries deduplicated)."""
    services = services_of(request)
    channel = services.messaging.get((workspace, "slack"))
    if not isinstance(channel, SlackChannel):
        raise api_error(404, "unknown_channel", f"no Slack app for workspace {workspace!r}")
    headers = {k.lower(): v for k, v in request.headers.items()}
    call = SlackRequest(workspace, headers, await request.body())
    try:
        await channel.verify(call)
        body = json.loads(call.raw)
        if isinstance(body, dict) and body.get("type") == "url_verification":
            return {"challenge": str(body.get("challenge", ""))}
        inbound = await channel.parse(SlackRequest(workspace, headers, call.raw, body))
    except ChannelError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise api_error(400, "malformed_body", "the body is not JSON") from None
    retry = headers.get("x-slack-retry-num")
    if not inbound:
        log.info("webhook.ignored", channel="slack", workspace=workspace, retry=retry)
    await services.answer_later(inbound, channel)
    return Response(status_code=200)


@router.post("/webhooks/{workspace}/twilio/sms", responses=NOT_FOUND)
async def twilio_sms(workspace: str, request: Request) -> Response:
    """Twilio Programmable Messaging (incoming SMS); answered later through the REST API."""
    services = services_of(request)
    channel, call = await _twilio(request, workspace, "sms")
    inbound = await channel.parse(call)
    if not inbound:
        log.info("webhook.ignored", channel="sms", workspace=workspace)
    await services.answer_later(inbound, channel)
    return Response(EMPTY_TWIML, media_type="application/xml")


@router.post("/webhooks/{workspace}/twilio/voice", responses=NOT_FOUND)
async def twilio_voice(workspace: str, request: Request) -> Response:
    """An incoming call: greet, then listen (speech or keypad)."""
    await _twilio(request, workspace, "voice")
    ws = services_of(request).settings.workspace(workspace)
    brand = ws.persona.brand if ws else ""
    return _twiml(gather(_gather_url(request, workspace), greeting(brand), 1))


@router.post("/webhooks/{workspace}/twilio/voice/gather", responses=NOT_FOUND)
async def twilio_voice_turn(workspace: str, request: Request) -> Response:
    """What the caller said: one turn, answered in this response, then listen again.

    Nothing heard (the caller was silent, or Twilio recognised no words): ask again, and after
    ``REPROMPTS`` such questions in a row say goodbye and hang up. A turn that hands the caller
    to people (or finds a person holding the conversation) says what happens next, then thanks
    the caller and hangs up: the answer comes later, by text where the number can be texted.
    """
    services = services_of(request)
    channel, call = await _twilio(request, workspace, "voice")
    turn, quiet = _number(request, "turn", 1), _number(request, "quiet", 0)
    action = _gather_url(request, workspace)
    inbound = await channel.parse(call)
    if not inbound:
        if quiet >= REPROMPTS:
            return _twiml(goodbye([NOT_HEARD]))
        return _twiml(gather(action, [ASK_AGAIN], turn, quiet + 1))
    heard = bounded(inbound[0], services.settings.server.max_text_chars)
    try:
        ctx = await services.turns.handle(heard, channel)
    except RateLimitedError:
        return _twiml(gather(action, [TOO_FAST], turn + 1))
    sentences = [ASK_AGAIN]
    if ctx.duplicate_of is not None:  # Twilio retried: say the stored answer again
        stored = await services.store.reply_to(ctx.duplicate_of.id)
        sentences = [stored.text] if stored else sentences
    elif ctx.outbound:
        sentences = list(ctx.outbound[0].payload.get("sentences") or [ctx.outbound[0].text])
    if ctx.halted in (HANDED_OFF, HELD_FOR_AGENT):  # people have it now: nothing more to hear
        return _twiml(goodbye([*sentences, THANKS]))
    return _twiml(gather(action, sentences, turn + 1))


def _number(request: Request, name: str, default: int) -> int:
    """A count in the action's query (``turn``, ``quiet``); 400 if it is not a number."""
    value = request.query_params.get(name) or str(default)
    if not (value.isascii() and value.isdigit()):  # not "²", which int() refuses
        raise api_error(400, "malformed_body", f"{name} must be a number")
    return int(value)


def _twiml(twiml: str) -> Response:
    return Response(twiml, media_type="application/xml")


def _gather_url(request: Request, workspace: str) -> str:
    """Where Twilio posts the caller's next turn (and signs it).

    Under ``channels.public_url`` when it is set, as an absolute URL: the server may be behind a
    proxy that serves it under a path (``https://example.com/omnivox``), which a path of our own
    would leave out. Without one, this request's path on the host Twilio called.
    """
    ws = services_of(request).settings.workspace(workspace)
    base = ws.channels.public_url.rstrip("/") if ws else ""
    path = request.url.path
    return base + (path if path.endswith("/gather") else f"{path}/gather")


async def _twilio(
    request: Request, workspace: str, name: str
) -> tuple[TwilioSmsChannel, TwilioRequest]:
    """The verified call (signature over the public URL) for Twilio's SMS or voice channel."""
    services = services_of(request)
    channel = services.messaging.get((workspace, name))
    ws = services.settings.workspace(workspace)
    if not isinstance(channel, TwilioSmsChannel) or ws is None:
        raise api_error(404, "unknown_channel", f"no Twilio account for workspace {workspace!r}")
    base = ws.channels.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        raw = (await request.body()).decode()
        form = dict(parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw)))
    except (UnicodeDecodeError, ValueError):
        raise api_error(400, "malformed_body", "the body is not a URL-encoded form") from None
    call = TwilioRequest(workspace, url, {k.lower(): v for k, v in request.headers.items()}, form)
    try:
        await channel.verify(call)
    except ChannelError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    return channel, call


@router.get("/webhooks/{workspace}/messenger", responses=NOT_FOUND)
@router.get("/webhooks/{workspace}/whatsapp", responses=NOT_FOUND)
async def meta_handshake(workspace: str, request: Request) -> Response:
    """Meta's subscription handshake: echo ``hub.challenge`` for the right verify token."""
    channel = _meta(request, workspace)
    try:
        challenge = handshake(dict(request.query_params), channel.verify_token)
    except ChannelError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    return PlainTextResponse(challenge)


@router.post("/webhooks/{workspace}/messenger", responses=NOT_FOUND)
@router.post("/webhooks/{workspace}/whatsapp", responses=NOT_FOUND)
async def meta_events(workspace: str, request: Request) -> Response:
    """Messenger and WhatsApp events: messages become turns, statuses become events."""
    services = services_of(request)
    channel = _meta(request, workspace)
    headers = {k.lower(): v for k, v in request.headers.items()}
    call = MetaRequest(workspace, headers, await request.body())
    try:
        await channel.verify(call)
        body = json.loads(call.raw)
        found = channel.events(MetaRequest(workspace, headers, call.raw, body))  # all or nothing
    except ChannelError as exc:
        raise api_error(exc.status, exc.code, exc.message) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise api_error(400, "malformed_body", "the body is not JSON") from None
    outbox = OutboxStore(services.db)
    for status in found.statuses:
        kept = {k: v for k, v in status.items() if k in STATUS_KEYS}
        record = EventRecord(events.MESSAGE_STATUS, workspace_id=workspace, payload=kept)
        services.events.emit(record)
        for provider_id, state in reported(status):
            await outbox.apply_status(workspace, channel.name, provider_id, state)
    if not found.messages and not found.statuses:
        log.info("webhook.ignored", channel=channel.name, workspace=workspace)
    await services.answer_later(found.messages, channel)
    return Response(status_code=200)


# what a provider's status report keeps in the event log: never whom it was sent to (a phone
# number or a Messenger id, in a row no erasure would find), nor pricing or conversation blobs
STATUS_KEYS = frozenset({"channel", "id", "status", "timestamp", "mids", "watermark", "errors"})


def _meta(request: Request, workspace: str) -> MessengerChannel | WhatsAppChannel:
    name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    channel = services_of(request).messaging.get((workspace, name))
    if not isinstance(channel, MessengerChannel | WhatsAppChannel):
        raise api_error(404, "unknown_channel", f"no {name} account for workspace {workspace!r}")
    return channel


def reported(status: dict[str, Any]) -> list[tuple[str, str]]:
    """The (provider message id, status) pairs of a Meta status report.

    WhatsApp names one message and its status; Messenger's ``delivery`` lists the delivered ids
    (its ``read`` carries only a time).
    """
    if status.get("status") == "delivery":
        return [(str(mid), "delivered") for mid in status.get("mids") or []]
    if status.get("id") and status.get("status") in ("sent", "delivered", "read", "failed"):
        return [(str(status["id"]), str(status["status"]))]
    return []


@router.post("/webhooks/{workspace}/twilio/status", responses=NOT_FOUND)
async def twilio_status(workspace: str, request: Request) -> Response:
    """Twilio's status callbacks for the messages we sent (queued, sent, delivered, failed)."""
    services = services_of(request)
    _, call = await _twilio(request, workspace, "sms")
    sid, state = call.form.get("MessageSid"), call.form.get("MessageStatus", "")
    state = "failed" if state == "undelivered" else state
    if sid:
        payload = {"channel": "sms", "id": sid, "status": state}
        services.events.emit(
            EventRecord(events.MESSAGE_STATUS, workspace_id=workspace, payload=payload)
        )
        await OutboxStore(services.db).apply_status(workspace, "sms", sid, state)
    return Response(status_code=204)
