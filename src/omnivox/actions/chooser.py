"""Letting a tool-calling model choose an action when no intent rule did."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from omnivox.actions.base import Tool, schema
from omnivox.llm.base import ChatMessage, ToolCall, ToolChooser
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
) -> ToolCall | None:
    """The model's choice among ``tools``.

    None when it prefers to answer, or names a tool this workspace does not have.
    """
    messages = [ChatMessage("system", INSTRUCTIONS.format(brand=brand or "this business"))]
    for item in history:
        messages.append(ChatMessage("user" if item.direction == "in" else "assistant", item.text))
    messages.append(ChatMessage("user", question))
    call = await chooser.choose_tool(tuple(messages), [schema(t) for t in tools.values()])
    return call if call is not None and call.name in tools else None
