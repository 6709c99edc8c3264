"""Any OpenAI-compatible chat server: vLLM, Ollama, llama.cpp server, LM Studio, OpenAI.

Streaming uses server-sent events. Retries are bounded and happen only before the first token
(a retry after that would duplicate text); every call has explicit connect and read timeouts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import httpx

from omnivox.llm.base import (
    ChatMessage,
    Completion,
    CompletionRequest,
    Delta,
    ProviderError,
    ToolCall,
    ToolChoice,
    Usage,
    estimate_tokens,
)
from omnivox.settings import OpenAICompatSettings

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# the longest Retry-After worth waiting for: beyond it the chain's next provider answers now
MAX_RETRY_AFTER_S = 2.0


class OpenAICompatProvider:
    """Client for ``POST {base_url}/chat/completions``."""

    name = "openai_compat"

    def __init__(
        self, settings: OpenAICompatSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.timeout_s = settings.timeout_s
        self.context_tokens = settings.context_tokens
        headers = {"Content-Type": "application/json"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    async def ready(self) -> bool:
        """True when ``GET /models`` answers (the server is up)."""
        try:
            response = await self._client.get("/models")
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    def _body(self, request: CompletionRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _usage(self, raw: Any, request: CompletionRequest, text: str) -> Usage:
        """The server's reported usage (else an estimate: none, or counts that are no numbers)."""
        counted = _reported(raw)
        if counted is not None:
            (prompt, completion, cached), estimated = counted, False
        else:
            prompt = sum(estimate_tokens(m.content) for m in request.messages)
            completion, cached, estimated = estimate_tokens(text), 0, True
        cost = (
            prompt * self.settings.price_per_1k_input
            + completion * self.settings.price_per_1k_output
        ) / 1000
        return Usage(prompt, completion, cost, estimated, cached)

    def usage_of(self, request: CompletionRequest, text: str) -> Usage:
        """The estimated usage, priced, of a call that read ``request`` and wrote ``text``."""
        return self._usage(None, request, text)

    async def complete(self, request: CompletionRequest) -> Completion:
        """One non-streaming call, retried on transient failures, within an overall deadline."""
        data = await self._post_json(self._body(request, stream=False))
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        return Completion(
            text,
            self._usage(data.get("usage"), request, text),
            self.name,
            data.get("model", self.settings.model),
            choice.get("finish_reason") or "stop",
        )

    async def _post_json(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``/chat/completions`` (not streaming), retried on transient failures.

        The whole call, retries included, ends by :meth:`_deadline_s`: a server that trickles
        a byte now and then never trips the per-read timeout.
        """
        try:
            async with asyncio.timeout(self._deadline_s()):
                return await self._post_json_once_or_retry(body)
        except TimeoutError:
            raise ProviderError(f"no answer within {self._deadline_s():.1f} s") from None

    def _deadline_s(self) -> float:
        """Every attempt's timeout, the backoffs between them, and a second of grace.

        The grace lets an attempt's own timeout, with its clearer reason, fire first.
        """
        attempts = self.settings.max_retries + 1
        return self.settings.timeout_s * attempts + 2.0 * self.settings.max_retries + 1.0

    async def _post_json_once_or_retry(self, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(self.settings.max_retries + 1):
            try:
                response = await self._client.post("/chat/completions", json=body)
            except httpx.TransportError as exc:
                await self._backoff_or_raise(attempt, f"transport error: {exc!r}")
                continue
            except httpx.HTTPError as exc:  # e.g. a body that is not what its encoding says
                raise ProviderError(f"unreadable response: {exc!r}") from None
            if response.status_code in RETRYABLE_STATUS:
                await self._backoff_or_raise(
                    attempt, f"HTTP {response.status_code}", retry_after(response)
                )
                continue
            if response.status_code >= 300:  # an error, or a redirect we do not follow
                said = self._scrub(response.text[:200])
                raise ProviderError(f"HTTP {response.status_code}: {said}")
            try:
                data = response.json()
            except ValueError:
                raise ProviderError(f"response is not JSON: {response.text[:200]!r}") from None
            if not isinstance(data, dict):
                raise ProviderError("response is not a JSON object")
            return data
        raise ProviderError("unreachable")  # pragma: no cover - loop always returns or raises

    async def choose_tool(
        self, messages: tuple[ChatMessage, ...], tools: list[dict[str, Any]]
    ) -> ToolChoice:
        """Ask the model whether to call one of ``tools`` (``tool_choice: auto``).

        The usage is the server's, else estimated from the prompt and the reply's message; a
        reply that cannot be used raises ProviderError carrying that usage (it was billed).
        """
        if not self.settings.tools or not tools:
            return ToolChoice(None)
        body = {
            "model": self.settings.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "tools": tools,
            "tool_choice": "auto",
            "max_tokens": 120,
            "temperature": 0,
        }
        data = await self._post_json(body)
        usage = self._tool_usage(data, CompletionRequest(messages, "", max_tokens=120))
        try:
            return ToolChoice(_tool_call(data), usage)
        except ProviderError as exc:
            raise ProviderError(str(exc), usage) from None
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(f"malformed tool-call response ({exc!r})", usage) from None

    def _tool_usage(self, data: dict[str, Any], request: CompletionRequest) -> Usage:
        """A tool choice's usage: reported, else estimated from what the model wrote."""
        choices = data.get("choices")
        said = json.dumps(choices[0]) if isinstance(choices, list) and choices else ""
        return self._usage(data.get("usage"), request, said)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        """Stream deltas over SSE; retries only while nothing has been yielded."""
        started = False
        for attempt in range(self.settings.max_retries + 1):
            try:
                async with self._client.stream(
                    "POST", "/chat/completions", json=self._body(request, stream=True)
                ) as resp:
                    if resp.status_code in RETRYABLE_STATUS:
                        await resp.aread()
                        await self._backoff_or_raise(
                            attempt, f"HTTP {resp.status_code}", retry_after(resp)
                        )
                        continue
                    if resp.status_code >= 300:  # an error, or a redirect we do not follow
                        body = self._scrub((await resp.aread()).decode(errors="replace")[:200])
                        raise ProviderError(f"HTTP {resp.status_code}: {body}")
                    async for delta in self._read_events(resp, request):
                        started = True
                        yield delta
                    return
            except httpx.TransportError as exc:
                if started:  # a retry now would repeat text the consumer already has
                    raise ProviderError(f"stream broke off: {exc!r}") from exc
                await self._backoff_or_raise(attempt, f"transport error: {exc!r}")
            except httpx.HTTPError as exc:  # e.g. a body that is not what its encoding says
                raise ProviderError(f"unreadable response: {exc!r}") from exc

    async def _read_events(
        self, resp: httpx.Response, request: CompletionRequest
    ) -> AsyncIterator[Delta]:
        """The stream's text deltas, then one with usage; ProviderError unless it ends properly.

        Properly: ``[DONE]`` or a ``finish_reason``, with some text and no error object. A
        stream that just stops, an empty one, or one carrying an error fails the provider,
        so the chain resets what was shown and falls back instead of sending half an answer.
        """
        parts: list[str] = []
        usage_raw: dict[str, Any] | None = None
        model, finish, ended = self.settings.model, "stop", False
        budget = max(4_000, request.max_tokens * 16)  # characters; a server may ignore max_tokens
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                ended = True
                break
            event = json.loads(payload)
            if not isinstance(event, dict) or event.get("error"):
                raise ProviderError(f"error in the stream: {payload[:200]}")
            usage_raw = event.get("usage") or usage_raw
            model = event.get("model") or model
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or ""
                if choice.get("finish_reason"):
                    finish, ended = choice["finish_reason"], True
                if text:
                    parts.append(text)
                    yield Delta(text, provider=self.name, model=model)
            if sum(map(len, parts)) > budget:
                finish, ended = "length", True
                break
        if not ended:
            raise ProviderError("the stream ended before the answer did")
        if not "".join(parts).strip():
            raise ProviderError("empty answer")
        usage = self._usage(usage_raw, request, "".join(parts))
        yield Delta("", usage=usage, provider=self.name, model=model, finish_reason=finish)

    async def _backoff_or_raise(
        self, attempt: int, reason: str, asked_s: float | None = None
    ) -> None:
        """Wait before the next attempt, or raise when none is left or the wait is too long.

        ``asked_s`` is the server's ``Retry-After``: waited for when it is short, otherwise
        the provider fails now and the chain's next one answers (a retry sooner than asked
        would only be refused again).
        """
        if attempt >= self.settings.max_retries:
            raise ProviderError(f"{reason} after {attempt + 1} attempt(s)")
        if asked_s is not None and asked_s > MAX_RETRY_AFTER_S:
            raise ProviderError(f"{reason}: the server asks to retry after {asked_s:.0f} s")
        await asyncio.sleep(max(asked_s or 0.0, min(2.0, 0.25 * 2**attempt)))

    def _scrub(self, text: str) -> str:
        """An error body without the API key (some servers echo the request's headers)."""
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        return text.replace(key, "***") if key else text

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()


def retry_after(response: httpx.Response) -> float | None:
    """The response's ``Retry-After`` in seconds (delay or HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None


def _reported(raw: Any) -> tuple[int, int, int] | None:
    """Prompt, completion and cached tokens as the server reported them, else None.

    A usage that is no object, or whose counts are no numbers ("n/a", a list), is none: it
    must not fail the call it describes (a tool choice's ValueError failed the whole turn).
    """
    if not isinstance(raw, dict) or "prompt_tokens" not in raw:
        return None
    details = raw.get("prompt_tokens_details") or {}
    try:
        prompt = int(raw["prompt_tokens"] or 0)
        completion = int(raw.get("completion_tokens") or 0)  # null from some servers
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    except (TypeError, ValueError, OverflowError):
        return None
    return prompt, completion, cached


def _tool_call(data: dict[str, Any]) -> ToolCall | None:
    """The first tool call of a chat completion (OpenAI's documented shape), or None."""
    message = data["choices"][0].get("message") or {}
    calls = message.get("tool_calls") or []
    if not calls:
        return None
    function = calls[0].get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError as exc:
        raise ProviderError(f"tool call arguments are not JSON: {exc}") from None
    if not isinstance(arguments, dict) or not function.get("name"):
        raise ProviderError("tool call without a name or with non-object arguments")
    return ToolCall(str(function["name"]), arguments)
