"""The provider interface: ``complete`` and ``stream``, with usage on every result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from omnivox.types import Passage

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat prompt."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """What the generate step asks of a provider.

    ``messages`` is the full chat prompt for real models; ``query`` and ``passages`` let a
    provider with no model (extractive) compose an answer directly.
    """

    messages: tuple[ChatMessage, ...]
    query: str
    passages: tuple[Passage, ...] = ()
    max_tokens: int = 200
    temperature: float = 0.3


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and cost of one call. ``estimated`` when the provider did not report them.

    ``cached_tokens``: how many of the prompt's tokens the provider did not have to read again
    (the in-process model's kept state, or a hosted provider's prompt cache).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    estimated: bool = False
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def plus(self, other: Usage) -> Usage:
        """Both calls' usage together (estimated when either is)."""
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
            self.estimated or other.estimated,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished answer."""

    text: str
    usage: Usage
    provider: str
    model: str = ""
    finish_reason: str = "stop"


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of a streamed answer; the last one carries ``usage``.

    ``reset`` tells the consumer to discard what it has shown so far (the chain fell back to
    another provider mid-answer).
    """

    text: str
    usage: Usage | None = None
    reset: bool = False
    provider: str = ""
    model: str = ""
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool the model chose, with its (not yet validated) arguments."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """The model's answer to whether a tool is needed, and what asking it used.

    ``call``: None when it prefers to answer; ``usage``: counted in the turn's cost.
    """

    call: ToolCall | None
    usage: Usage = Usage()


@runtime_checkable
class ToolChooser(Protocol):
    """A provider whose model can choose tools (OpenAI ``tools`` / ``tool_calls``)."""

    name: str
    timeout_s: float

    async def choose_tool(
        self, messages: tuple[ChatMessage, ...], tools: list[dict[str, Any]]
    ) -> ToolChoice:
        """The tool the model wants to call for this conversation (or none), and the usage."""
        ...


class ProviderError(Exception):
    """A provider failed; the chain moves on to the next one.

    ``usage``: what the failed call is known to have used (a response that was billed, then
    could not be used); nothing by default.
    """

    def __init__(self, message: str = "", usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage or Usage()


@runtime_checkable
class LLMProvider(Protocol):
    """Every model back end implements this."""

    name: str
    timeout_s: float

    async def complete(self, request: CompletionRequest) -> Completion:
        """Return the whole answer."""
        ...

    def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        """Yield the answer piece by piece; the last delta carries usage."""
        ...

    async def ready(self) -> bool:
        """True once the provider can answer (model loaded, server reachable)."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...


def estimate_tokens(text: str) -> int:
    """Rough token count (about 4 characters a token) when a provider reports none."""
    return max(1, len(text) // 4) if text else 0


async def collect(stream: AsyncIterator[Delta]) -> Completion:
    """Drain a stream into one Completion (used by providers whose complete() streams)."""
    parts: list[str] = []
    usage, provider, model, finish = Usage(estimated=True), "", "", "stop"
    async for delta in stream:
        if delta.reset:
            parts.clear()
        parts.append(delta.text)
        usage = delta.usage or usage
        provider, model = delta.provider or provider, delta.model or model
        finish = delta.finish_reason or finish
    return Completion("".join(parts), usage, provider, model, finish)
