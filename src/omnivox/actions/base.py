"""The tool interface: a name, a description, JSON-schema arguments and one async call.

Arguments are a pydantic model, so the JSON schema a tool-calling LLM sees and the validation
of what comes back are the same thing. A tool never trusts its caller about *who* is asking:
the customer and workspace come from the turn, not from the arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who is asking, from the turn (never from the model or the customer's words)."""

    workspace_id: str
    customer_id: str
    conversation_id: str | None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool did: the text for the customer and structured data for the event log."""

    ok: bool
    text: str
    data: dict[str, Any] = field(default_factory=dict)


class ToolArgumentsError(ValueError):
    """The arguments do not match the tool's schema."""


class Tool(Protocol):
    """An action the assistant can take."""

    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[BaseModel]]

    async def call(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        """Run the action with validated arguments."""
        ...


@dataclass(frozen=True, slots=True)
class Choice:
    """One thing the customer may mean: its argument value, its line in a list, its item names."""

    value: str
    line: str = ""
    names: tuple[str, ...] = ()


@runtime_checkable
class OffersChoices(Protocol):
    """A tool that can list what the asking customer may mean (their own recent orders)."""

    async def choices(self, ctx: ToolContext, among: Sequence[str] | None = None) -> list[Choice]:
        """The customer's own latest choices, newest first (never anyone else's).

        With ``among``: those of the customer's own among these values, in that order.
        """
        ...


def schema(tool: Tool) -> dict[str, Any]:
    """The tool as an OpenAI-style function definition."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.Args.model_json_schema(),
        },
    }


def validate(tool: Tool, arguments: dict[str, Any]) -> BaseModel:
    """Validated arguments, or :class:`ToolArgumentsError` naming the bad field."""
    try:
        return tool.Args.model_validate(arguments)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "arguments"
        raise ToolArgumentsError(f"{tool.name}: {where}: {first['msg']}") from None
