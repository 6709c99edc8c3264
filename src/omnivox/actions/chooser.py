"""Letting a tool-calling model choose an action when no intent rule did."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from omnivox.actions.base import Tool, schema
from omnivox.llm.base import ChatMessage, CompletionRequest, ProviderError, ToolChoice, ToolChooser
from omnivox.llm.chain import estimated_usage
from omnivox.types import HistoryItem

INSTRUCTIONS = (
    "You are the customer-service assistant of {brand}. You may call a tool when the "
    "customer's latest message needs one (looking up one of their orders, opening a ticket). "
    "Call at most one tool, only with details the customer gave; otherwise call none."
)


async def choose(
    chooser: ToolChooser,
    tools: Mapping[str, Tool],
    brand: str,
    history: Sequence[HistoryItem],
    question: str,
) -> ToolChoice:
    """The model's choice among ``tools``, within the chooser's ``timeout_s``, and its usage.

    The call is None when the model prefers to answer, or names a tool this workspace does not
    have. A failure raises ProviderError with what the call is known to have used: what the
    provider reported, or, past the deadline (it had read the prompt), an estimate, as a
    turn's failed attempts count (:mod:`omnivox.llm.chain`).
    """
    messages = [ChatMessage("system", INSTRUCTIONS.format(brand=brand or "this business"))]
    for item in history:
        messages.append(ChatMessage("user" if item.direction == "in" else "assistant", item.text))
    messages.append(ChatMessage("user", question))
    try:
        async with asyncio.timeout(chooser.timeout_s):
            choice = await chooser.choose_tool(tuple(messages), [schema(t) for t in tools.values()])
    except TimeoutError:
        read = estimated_usage(chooser, CompletionRequest(tuple(messages), question), "")
        raise ProviderError(f"no answer within {chooser.timeout_s:g} s", read) from None
    if choice.call is not None and choice.call.name not in tools:
        return ToolChoice(None, choice.usage)
    return choice
