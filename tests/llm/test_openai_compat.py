"""openai_compat against a real OpenAI-compatible server: llama-cpp-python[server] + the GGUF."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from omnivox.llm.base import ChatMessage, CompletionRequest, ProviderError, ToolChoice
from omnivox.llm.openai_compat import OpenAICompatProvider
from omnivox.memory.summarizer import ModelSummarizer
from omnivox.memory.summary import fold
from omnivox.settings import OpenAICompatSettings
from omnivox.types import HistoryItem
from tests.conftest import llama_server as start_llama_server

REQUEST = CompletionRequest(
    (ChatMessage("user", "Say hello to a hiker."),), "hello", max_tokens=16, temperature=0.0
)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_llama_server(tmp_path_factory.mktemp("llama-server"), "--n_ctx", "1024") as base:
        yield base


def settings(base_url: str, **extra: object) -> OpenAICompatSettings:
    return OpenAICompatSettings(type="openai_compat", base_url=base_url, model="smollm2", **extra)  # type: ignore[arg-type]


@pytest.mark.model
async def test_complete_against_real_server(llama_server: str) -> None:
    provider = OpenAICompatProvider(settings(llama_server))
    try:
        assert await provider.ready()
        completion = await provider.complete(REQUEST)
    finally:
        await provider.close()
    assert completion.text.strip()
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert not completion.usage.estimated


@pytest.mark.model
async def test_stream_against_real_server(llama_server: str) -> None:
    provider = OpenAICompatProvider(settings(llama_server))
    try:
        deltas = [d async for d in provider.stream(REQUEST)]
    finally:
        await provider.close()
    assert sum(1 for d in deltas if d.text) > 1
    assert "".join(d.text for d in deltas).strip()
    usage = deltas[-1].usage
    assert usage is not None and usage.completion_tokens > 0


async def test_bounded_retries_on_5xx_then_success() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503, text="busy")
        return httpx.Response(
            200,
            json={
                "model": "m",
                "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": 7,
                    "completion_tokens": 1,
                    "prompt_tokens_details": {"cached_tokens": 5},  # OpenAI's prompt cache
                },
            },
        )

    provider = OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=2, api_key="sk-test"),
        transport=httpx.MockTransport(handler),
    )
    completion = await provider.complete(REQUEST)
    assert completion.text == "hi" and completion.usage.prompt_tokens == 7
    assert completion.usage.cached_tokens == 5
    assert len(calls) == 3
    assert calls[0].headers["authorization"] == "Bearer sk-test"
    assert calls[0].url.path == "/v1/chat/completions"
    calls.clear()
    failing = OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=1),
        transport=httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(500)),
    )
    with pytest.raises(ProviderError, match="after 2 attempt"):
        await failing.complete(REQUEST)
    assert len(calls) == 2


async def test_client_errors_are_not_retried() -> None:
    calls: list[httpx.Request] = []
    provider = OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=3),
        transport=httpx.MockTransport(
            lambda r: calls.append(r) or httpx.Response(401, text="bad key")
        ),
    )
    with pytest.raises(ProviderError, match="HTTP 401"):
        await provider.complete(REQUEST)
    assert len(calls) == 1


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers: only a read timeout ends a call."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


async def test_read_timeout_is_explicit(silent_server: str) -> None:
    provider = OpenAICompatProvider(settings(silent_server, timeout_s=0.3, max_retries=0))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="transport error"):
        await provider.complete(REQUEST)
    assert time.monotonic() - started < 5
    with pytest.raises(ProviderError):
        _ = [d async for d in provider.stream(REQUEST)]
    await provider.close()


def tool_reply(arguments: str) -> httpx.Response:
    call = {
        "id": "c",
        "type": "function",
        "function": {"name": "order_status", "arguments": arguments},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return httpx.Response(
        200, json={"choices": [{"message": message, "finish_reason": "tool_calls"}]}
    )


async def test_tool_choice_parses_calls_and_refuses_broken_arguments() -> None:
    tools = [{"type": "function", "function": {"name": "order_status", "parameters": {}}}]
    messages = REQUEST.messages
    good = OpenAICompatProvider(
        settings("http://llm.test/v1", tools=True),
        transport=httpx.MockTransport(lambda r: tool_reply('{"order_number": "ACM-1"}')),
    )
    call = (await good.choose_tool(messages, tools)).call
    assert call is not None and (call.name, call.arguments) == (
        "order_status",
        {"order_number": "ACM-1"},
    )
    broken = OpenAICompatProvider(
        settings("http://llm.test/v1", tools=True),
        transport=httpx.MockTransport(lambda r: tool_reply("{not json")),
    )
    with pytest.raises(ProviderError, match="not JSON"):
        await broken.choose_tool(messages, tools)
    off = OpenAICompatProvider(
        settings("http://llm.test/v1"),
        transport=httpx.MockTransport(lambda r: pytest.fail("no call when tools are off")),
    )
    assert await off.choose_tool(messages, tools) == ToolChoice(None)


@pytest.mark.parametrize("usage", [{"prompt_tokens": "n/a"}, {"prompt_tokens": [12]}])
async def test_a_usage_that_is_no_numbers_is_estimated_not_a_failed_turn(
    usage: dict[str, object],
) -> None:
    # its ValueError/TypeError escaped choose_tool (only ProviderError is a failed tool choice)
    # and failed the whole turn; a completion's went to the next provider, billed twice
    tools = [{"type": "function", "function": {"name": "order_status", "parameters": {}}}]

    def reply(request: httpx.Request) -> httpx.Response:
        if b'"tools"' in request.content:
            body = json.loads(tool_reply('{"order_number": "ACM-1"}').content)
        else:
            body = {"choices": [{"message": {"content": "Hello!"}, "finish_reason": "stop"}]}
        return httpx.Response(200, json={**body, "usage": usage})

    provider = OpenAICompatProvider(
        settings("http://llm.test/v1", tools=True), transport=httpx.MockTransport(reply)
    )
    choice = await provider.choose_tool(REQUEST.messages, tools)
    assert choice.call is not None and choice.call.arguments == {"order_number": "ACM-1"}
    assert choice.usage.estimated and choice.usage.prompt_tokens > 0
    completion = await provider.complete(REQUEST)
    assert completion.text == "Hello!" and completion.usage.estimated


@pytest.mark.model
async def test_the_model_writes_the_rolling_summary(llama_server: str) -> None:
    provider = OpenAICompatProvider(settings(llama_server))
    items = [
        HistoryItem("in", "My tent pole snapped on the first night.", "webchat"),
        HistoryItem(
            "out", "Sorry to hear that! I opened ticket T-1042 for a replacement.", "webchat"
        ),
    ]
    try:
        summary = await ModelSummarizer(provider, 300)("", items)
        down = await ModelSummarizer(OpenAICompatProvider(settings("http://127.0.0.1:9/v1")), 300)(
            "", items
        )
    finally:
        await provider.close()
    assert summary and len(summary) <= 300
    folded = fold("", items, 300)
    assert summary != folded  # written by the model, not the extractive folder
    assert down == folded  # an unreachable model: the extractive summary still holds


def sse(*events: object, done: bool = True) -> httpx.Response:
    lines = [f"data: {json.dumps(e)}\n\n" for e in events] + (["data: [DONE]\n\n"] if done else [])
    return httpx.Response(
        200, content="".join(lines).encode(), headers={"content-type": "text/event-stream"}
    )


def chunk(text: str, finish: str | None = None) -> dict[str, object]:
    return {"choices": [{"delta": {"content": text}, "finish_reason": finish}]}


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (sse(chunk("Your order"), chunk(" ships on"), done=False), "ended before"),
        (sse({"choices": []}), "empty answer"),
        (sse(chunk("Partial"), {"error": {"message": "overloaded"}}), "error in the stream"),
        (httpx.Response(200, text="<html>maintenance</html>"), "ended before"),
        (httpx.Response(307, headers={"location": "http://elsewhere.test/"}), "HTTP 307"),
    ],
)
async def test_a_stream_that_does_not_end_properly_fails_the_provider(
    response: httpx.Response, reason: str
) -> None:
    """So the chain resets what was shown and falls back, instead of sending half an answer."""
    provider = OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=0),
        transport=httpx.MockTransport(lambda r: response),
    )
    with pytest.raises(ProviderError, match=reason):
        _ = [d async for d in provider.stream(REQUEST)]


async def test_null_token_counts_and_a_server_ignoring_max_tokens() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": None}
    tidy = OpenAICompatProvider(
        settings("http://llm.test/v1"),
        transport=httpx.MockTransport(lambda r: sse(chunk("Hi", "stop"), {"usage": usage})),
    )
    last = [d async for d in tidy.stream(REQUEST)][-1]
    assert last.usage is not None and last.usage.prompt_tokens == 5
    flood = OpenAICompatProvider(
        settings("http://llm.test/v1"),
        transport=httpx.MockTransport(lambda r: sse(*(chunk("x" * 1000) for _ in range(100)))),
    )
    deltas = [d async for d in flood.stream(REQUEST)]
    assert sum(len(d.text) for d in deltas) < 10_000 and deltas[-1].finish_reason == "length"


async def test_retry_after_is_honoured_when_short_and_falls_back_when_long() -> None:
    calls: list[float] = []
    answer = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}

    def short(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"})
        return httpx.Response(200, json=answer)

    provider = OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=2), transport=httpx.MockTransport(short)
    )
    assert (await provider.complete(REQUEST)).text == "hi"
    assert calls[1] - calls[0] >= 0.95  # the backoff alone would have waited 0.25 s

    calls.clear()
    long = OpenAICompatProvider(
        settings("http://llm.test/v1", max_retries=3),
        transport=httpx.MockTransport(
            lambda r: calls.append(0) or httpx.Response(503, headers={"Retry-After": "120"})
        ),
    )
    started = time.monotonic()
    with pytest.raises(ProviderError, match="retry after 120 s"):
        await long.complete(REQUEST)
    assert len(calls) == 1 and time.monotonic() - started < 1  # the chain's next one answers


async def test_an_error_body_echoing_the_key_does_not_carry_it() -> None:
    provider = OpenAICompatProvider(
        settings("http://llm.test/v1", api_key="sk-very-secret"),
        transport=httpx.MockTransport(
            lambda r: httpx.Response(400, text=f"bad request: {r.headers['authorization']}")
        ),
    )
    with pytest.raises(ProviderError) as info:
        await provider.complete(REQUEST)
    assert "sk-very-secret" not in str(info.value) and "Bearer ***" in str(info.value)
    with pytest.raises(ProviderError) as info:
        async for _ in provider.stream(REQUEST):
            pass
    assert "sk-very-secret" not in str(info.value)
