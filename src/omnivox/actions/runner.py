"""Running a tool for a turn.

Validate its arguments, call it, and turn what happened into the route's outcome: an answer
from the tool, a request for better details, or an honest failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omnivox.actions.base import Tool, ToolArgumentsError, ToolContext, validate
from omnivox.logs import get_logger

log = get_logger(__name__)
ACTION_FAILED_TEXT = (
    "I couldn't complete that just now. I've noted it, and a member of our team can help "
    "if you reply 'agent'."
)
BAD_DETAILS_TEXT = "Could you check those details and send them again?"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the turn should do after the tool ran."""

    halt: str  # "act", "clarify" or "action_failed"
    text: str
    result: dict[str, Any] | None = None
    problem: str | None = None


async def run_tool(tool: Tool, arguments: dict[str, Any], ctx: ToolContext) -> Outcome:
    """Validate and run; a tool's own exception is logged and answered honestly."""
    try:
        args = validate(tool, arguments)
    except ToolArgumentsError as exc:
        return Outcome("clarify", BAD_DETAILS_TEXT, problem=str(exc))
    try:
        result = await tool.call(args, ctx)
    except Exception:
        log.exception("action.failed", tool=tool.name)
        failed = {"tool": tool.name, "ok": False, "error": "exception"}
        return Outcome("action_failed", ACTION_FAILED_TEXT, failed)
    return Outcome("act", result.text, {"tool": tool.name, "ok": result.ok, **result.data})
