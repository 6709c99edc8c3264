"""Provider webhooks: verify before anything else, acknowledge fast, answer in the background.

A request that fails verification is refused (401) before its body is parsed: no row, no model
call, no send. A verified one is acknowledged with 200 at once (providers retry slow webhooks),
and each message in it becomes a turn run after the response; the reply goes out through the
channel's ``send``. Redeliveries are harmless: the provider's message id is unique per channel,
checked in the transaction that stores the message.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from omnivox.channels.base import ChannelError
from omnivox.channels.telegram import TelegramRequest
from omnivox.logs import get_logger
from omnivox.routes.deps import NOT_FOUND, api_error, services_of

router = APIRouter(tags=["webhooks"])
log = get_logger(__name__)


@router.post("/webhooks/{workspace}/telegram", responses=NOT_FOUND)
async def telegram(workspace: str, request: Request) -> Response:
    """Telegram Bot API updates (``setWebhook`` with a ``secret_token``)."""
    services = services_of(request)
    channel = services.messaging.get((workspace, "telegram"))
    if channel is None:
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
    for message in inbound:
        services.submit(services.turns.handle(message, channel))
    return Response(status_code=200)
