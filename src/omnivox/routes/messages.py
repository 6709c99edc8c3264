"""REST channel routes: send a message, read a conversation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel

from omnivox.channels.api import ApiMessageIn
from omnivox.governance.apikeys import Principal
from omnivox.governance.rbac import Permission
from omnivox.pipeline.context import (
    CUSTOMER_ERASED,
    HELD_FOR_AGENT,
    MESSAGE_ID_REUSED,
    MESSAGE_ID_TAKEN,
    TurnContext,
)
from omnivox.routes.auth import AUTH_ERRORS, Require, same_workspace
from omnivox.routes.deps import NOT_FOUND, TOO_LARGE, api_error, services_of
from omnivox.turns import RateLimitedError, UnknownWorkspaceError

router = APIRouter(prefix="/api/v1", tags=["messages"], responses=AUTH_ERRORS)
Sender = Annotated[Principal, Depends(Require(Permission.MESSAGES_SEND))]
Reader = Annotated[Principal, Depends(Require(Permission.CONVERSATIONS_READ))]


class CitationOut(BaseModel):
    """A source the answer relies on."""

    source_id: str
    title: str
    snippet: str
    url: str | None = None


class ReplyOut(BaseModel):
    """The assistant's answer."""

    message_id: str | None
    text: str
    citations: list[CitationOut]


class MessageOut(BaseModel):
    """Response of ``POST /api/v1/messages``.

    ``status``: ``answered`` (``reply`` is the answer), ``with_agent`` (a person holds the
    conversation: the message is stored and shown to them, ``reply`` is null), or ``no_reply``
    (a retry of such a message). A retry of a message whose first turn failed after storing it
    is answered then.
    """

    conversation_id: str
    message_id: str
    status: Literal["answered", "with_agent", "no_reply"] = "answered"
    reply: ReplyOut | None


def server_timing(timings: dict[str, float]) -> str:
    """``Server-Timing`` header value: one metric per pipeline step, in milliseconds."""
    return ", ".join(f"{name};dur={ms:.2f}" for name, ms in timings.items())


@router.post(
    "/messages",
    response_model=MessageOut,
    responses={
        **NOT_FOUND,
        **TOO_LARGE,
        409: {"description": "message_id names another customer's message"},
        429: {"description": "too many messages"},
    },
)
async def post_message(
    body: ApiMessageIn, request: Request, response: Response, principal: Sender
) -> MessageOut:
    """Send a customer's message and get the assistant's reply in the response."""
    same_workspace(request, principal, body.workspace)
    services = services_of(request)
    if len(body.text) > services.settings.server.max_text_chars:
        raise api_error(
            413, "too_long", f"text is over {services.settings.server.max_text_chars} characters"
        )
    channel = services.api
    await channel.verify(body)
    [inbound] = await channel.parse(body)
    try:
        ctx = await services.turns.handle(inbound, channel)
    except UnknownWorkspaceError:
        raise api_error(
            404, "unknown_workspace", f"no workspace with id {body.workspace!r}"
        ) from None
    except RateLimitedError as exc:
        raise HTTPException(
            429,
            detail={"error": "rate_limited", "message": str(exc)},
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    if ctx.halted == MESSAGE_ID_TAKEN:
        raise api_error(
            409,
            "message_id_taken",
            f"message_id {body.message_id!r} belongs to another customer's message; "
            "use a new id for each message",
        )
    if ctx.halted == MESSAGE_ID_REUSED:
        raise api_error(
            409,
            "message_id_reused",
            f"message_id {body.message_id!r} was used for another text; "
            "use a new id for each message",
        )
    if ctx.halted == CUSTOMER_ERASED:
        raise api_error(
            410,
            "customer_erased",
            "the customer's data was erased while this message was answered; nothing was kept",
        )
    response.headers["Server-Timing"] = server_timing(ctx.timings)
    return await _message_out(ctx, request, response)


async def _message_out(ctx: TurnContext, request: Request, response: Response) -> MessageOut:
    if ctx.duplicate_of is not None:
        response.headers["Idempotent-Replay"] = "true"
        stored = await services_of(request).store.reply_to(ctx.duplicate_of.id)
        if stored is None:
            return MessageOut(
                conversation_id=ctx.duplicate_of.conversation_id,
                message_id=ctx.duplicate_of.id,
                status="no_reply",
                reply=None,
            )
        reply = ReplyOut(
            message_id=stored.id,
            text=stored.text,
            citations=[CitationOut(**c) for c in stored.metadata.get("citations", [])],
        )
        return MessageOut(
            conversation_id=ctx.duplicate_of.conversation_id,
            message_id=ctx.duplicate_of.id,
            reply=reply,
        )
    assert ctx.message is not None and ctx.conversation_id is not None
    if ctx.reply is None:  # a person holds the conversation: stored, shown to them
        status: Literal["with_agent", "no_reply"] = (
            "with_agent" if ctx.halted == HELD_FOR_AGENT else "no_reply"
        )
        return MessageOut(
            conversation_id=ctx.conversation_id,
            message_id=ctx.message.id,
            status=status,
            reply=None,
        )
    out_id = ctx.delivered[0].id if ctx.delivered else None
    citations = [CitationOut(**c.as_dict()) for c in ctx.reply.citations]
    return MessageOut(
        conversation_id=ctx.conversation_id,
        message_id=ctx.message.id,
        reply=ReplyOut(message_id=out_id, text=ctx.reply.text, citations=citations),
    )


@router.get("/conversations/{conversation_id}", responses=NOT_FOUND)
async def get_conversation(
    conversation_id: str, request: Request, principal: Reader
) -> dict[str, Any]:
    """A conversation of the key's workspace with every message in order."""
    services = services_of(request)
    view = await services.store.conversation(conversation_id, principal.workspace_id)
    if view is None:
        raise api_error(404, "not_found", f"no conversation {conversation_id!r}")
    await services.verifier.store.audit.append(
        principal.workspace_id, principal.actor, "conversation.read", conversation_id
    )
    return view.as_dict()
