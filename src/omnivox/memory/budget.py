"""Fit a prompt into a provider's context window.

Each provider declares ``context_tokens`` (llama.cpp: its ``n_ctx``; OpenAI-compatible servers:
``context_tokens`` in its settings; providers without a model: none). Before a provider is
called, the prompt is cut to its budget minus the answer's ``max_tokens``: the oldest history
messages go first, ``DROP_BLOCK`` at a time counted from the start of the history, then the end
of the passages in the last message (the last ones first, never the question), then the end
of the system prompt (the summary). The estimate is deliberately cautious
(3 characters a token, 4 tokens of overhead a message).

Why blocks: the history only grows between summary folds (``Store.recall``), so its start is the
same turn after turn. Dropping one message whenever the prompt is over budget would move the
prompt's start every turn and defeat the KV cache; dropping aligned blocks moves it only every
few turns.
"""

from __future__ import annotations

from dataclasses import replace

from omnivox.llm.base import ChatMessage, CompletionRequest

CHARS_PER_TOKEN = 3
MESSAGE_OVERHEAD = 4
DROP_BLOCK = 4  # history messages dropped together (two turns)
PASSAGES, QUESTION = "Passages:\n", "\n\nQuestion: "  # how question.j2 lays them out


def tokens(messages: tuple[ChatMessage, ...]) -> int:
    """Cautious token estimate of a chat prompt."""
    return sum(len(m.content) // CHARS_PER_TOKEN + MESSAGE_OVERHEAD for m in messages)


def fit(request: CompletionRequest, context_tokens: int | None) -> CompletionRequest:
    """``request`` with its messages cut to fit ``context_tokens`` (unchanged when None)."""
    if context_tokens is None:
        return request
    budget = context_tokens - request.max_tokens
    messages = request.messages
    if len(messages) > 2:
        history, dropped = messages[1:-1], 0
        while tokens(messages) > budget and dropped < len(history):
            dropped = min(len(history), dropped + DROP_BLOCK)
            messages = (messages[0], *history[dropped:], messages[-1])
    if len(messages) > 1:
        messages = (*messages[:-1], _cut_passages(messages[-1], tokens(messages) - budget))
    if messages:
        messages = (_cut(messages[0], tokens(messages) - budget), *messages[1:])
    return replace(request, messages=messages) if messages != request.messages else request


def _cut_passages(message: ChatMessage, over: int) -> ChatMessage:
    """The last message with the end of its passages cut (question.j2: passages, question)."""
    start, end = message.content.startswith(PASSAGES), message.content.rfind(QUESTION)
    if over <= 0 or not start or end < 0:
        return message
    keep = max(len(PASSAGES), end - over * CHARS_PER_TOKEN)
    return ChatMessage(message.role, message.content[:keep] + message.content[end:])


def _cut(message: ChatMessage, over: int) -> ChatMessage:
    """``message`` without its last ``over`` tokens' worth of text."""
    if over <= 0:
        return message
    keep = max(0, len(message.content) - over * CHARS_PER_TOKEN)
    return ChatMessage(message.role, message.content[:keep])
