"""A local stand-in for Telegram's Bot API (``sendMessage``, its documented request and response
shapes), with a plan of failures to answer before succeeding."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.conftest import free_port

TOKEN, SECRET = "123456:ABC-test-token", "s3cret-token"


@contextmanager
def running(app: Starlette) -> Iterator[str]:
    """Serve ``app`` on a free local port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class BotApi:
    """What the stand-in received, and the HTTP statuses to answer next (then 200)."""

    url: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    delay_s: float = 0.0  # how long each answer takes (the Bot API stand-in)
    retry_after: int = 1  # the Bot API's 429 asks for this many seconds
    meta_code: int = 4  # the Graph API's error code in a refusal (4: too many calls)

    def reset(self) -> None:
        self.sent.clear()
        self.attempts.clear()
        self.failures.clear()
        self.delay_s = 0.0
        self.retry_after = 1
        self.meta_code = 4

    def wait_for_sends(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sent) < n:
            assert time.monotonic() < deadline, f"expected {n} sends, got {len(self.sent)}"
            time.sleep(0.05)


@pytest.fixture(scope="session")
def bot_api() -> Iterator[BotApi]:
    state = BotApi("")

    async def send_message(request: Request) -> Response:
        if request.path_params["token"] != TOKEN:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        body = await request.json()
        state.attempts.append(body)
        await asyncio.sleep(state.delay_s)
        if state.failures:
            code = state.failures.pop(0)
            refusal: dict[str, Any] = {"ok": False, "error_code": code}
            if code == 429:  # as the Bot API documents it: ResponseParameters.retry_after
                refusal["description"] = f"Too Many Requests: retry after {state.retry_after}"
                refusal["parameters"] = {"retry_after": state.retry_after}
            else:
                refusal["description"] = "Bad Request"
            return JSONResponse(refusal, code)
        state.sent.append(body)
        # as Telegram does, message ids count per chat: a private chat's first reply is 2
        in_chat = sum(1 for sent in state.sent if sent["chat_id"] == body["chat_id"])
        result = {"message_id": 1 + in_chat, "chat": {"id": body["chat_id"]}}
        return JSONResponse({"ok": True, "result": {**result, "text": body["text"]}})

    app = Starlette(routes=[Route("/bot{token}/sendMessage", send_message, methods=["POST"])])
    with running(app) as url:
        state.url = url
        yield state


SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN = "8f742231b10e8888abcd99yyyzzz85a5", "xoxb-test-token"


@pytest.fixture(scope="session")
def slack_api() -> Iterator[BotApi]:
    """A stand-in for Slack's Web API ``chat.postMessage`` (documented shapes)."""
    state = BotApi("")

    async def post_message(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {SLACK_BOT_TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        body = await request.json()
        state.attempts.append(body)
        if state.failures:
            code = state.failures.pop(0)
            return JSONResponse({"ok": False, "error": "ratelimited"}, code)
        state.sent.append(body)
        ts = f"1764340100.{len(state.sent):06d}"
        return JSONResponse({"ok": True, "channel": body["channel"], "ts": ts})

    app = Starlette(routes=[Route("/api/chat.postMessage", post_message, methods=["POST"])])
    with running(app) as url:
        state.url = url + "/api"
        yield state


TWILIO_SID, TWILIO_TOKEN = "AC" + "0" * 31 + "1", "twilio-auth-token-for-tests"


@pytest.fixture(scope="session")
def twilio_api() -> Iterator[BotApi]:
    """A stand-in for Twilio's Messages REST API (form body, basic auth, documented JSON)."""
    state = BotApi("")

    async def create_message(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        body = dict(await request.form())
        state.attempts.append(body)
        if state.failures:
            code = state.failures.pop(0)
            return JSONResponse(
                {"code": 20429, "message": "Too Many Requests", "status": code}, code
            )
        state.sent.append(body)
        sid = f"SM{len(state.sent):032d}"
        return JSONResponse(
            {"sid": sid, "status": "queued", "to": body["To"], "body": body["Body"]}, 201
        )

    route = Route("/2010-04-01/Accounts/{sid}/Messages.json", create_message, methods=["POST"])
    with running(Starlette(routes=[route])) as url:
        state.url = url
        yield state


META_APP_SECRET, META_VERIFY_TOKEN, META_ACCESS_TOKEN = "meta-app-secret", "verify-me", "EAAtoken"


@pytest.fixture(scope="session")
def graph_api() -> Iterator[BotApi]:
    """A stand-in for the Graph API's Messenger Send API (``/{version}/me/messages``)."""
    state = BotApi("")

    async def send(request: Request) -> Response:
        if request.query_params.get("access_token") != META_ACCESS_TOKEN:
            error = {
                "message": "Invalid OAuth access token.",
                "type": "OAuthException",
                "code": 190,
            }
            return JSONResponse({"error": error}, 401)
        body = await request.json()
        state.attempts.append(body)
        if state.failures:
            code = state.failures.pop(0)
            return JSONResponse(
                {
                    "error": {
                        "message": "Calls to this api have exceeded the rate limit.",
                        "code": state.meta_code,
                    }
                },
                code,
            )
        state.sent.append(body)
        return JSONResponse(
            {"recipient_id": body["recipient"]["id"], "message_id": f"m_out{len(state.sent)}"}
        )

    app = Starlette(routes=[Route("/v19.0/me/messages", send, methods=["POST"])])
    with running(app) as url:
        state.url = url
        yield state


@pytest.fixture(scope="session")
def whatsapp_api() -> Iterator[BotApi]:
    """A stand-in for the WhatsApp Cloud API (``/{version}/{phone-number-id}/messages``)."""
    state = BotApi("")

    async def send(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {META_ACCESS_TOKEN}":
            return JSONResponse(
                {"error": {"message": "Invalid OAuth access token.", "code": 190}}, 401
            )
        body = await request.json()
        state.attempts.append({**body, "phone_number_id": request.path_params["number"]})
        if state.failures:
            error = {"message": "(#130429) Rate limit hit", "code": state.meta_code}
            return JSONResponse({"error": error}, state.failures.pop(0))
        state.sent.append(state.attempts[-1])
        wamid = f"wamid.OUT{len(state.sent)}"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            }
        )

    app = Starlette(routes=[Route("/v19.0/{number}/messages", send, methods=["POST"])])
    with running(app) as url:
        state.url = url
        yield state


TWILIO_PUBLIC = "https://support.acme.example"  # the URL Twilio signs, in front of the proxy


def signed_sms(
    base_url: str, text: str, sid: str, sender: str = "+15550100142", to: str = "+17205550199"
) -> None:
    """Deliver an inbound SMS webhook signed with Twilio's RequestValidator; expects 200.

    Inbound sids start ``SMin`` so that they never equal the stand-in's outbound ``SM…`` sids.
    """
    params = {"From": sender, "To": to, "Body": text, "MessageSid": sid, "AccountSid": TWILIO_SID}
    url = f"{TWILIO_PUBLIC}/webhooks/acme/twilio/sms"
    headers = {
        "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, params),
        "content-type": "application/x-www-form-urlencoded",
    }
    response = httpx.post(
        f"{base_url}/webhooks/acme/twilio/sms", content=urlencode(params), headers=headers
    )
    assert response.status_code == 200, response.text
