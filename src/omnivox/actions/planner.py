"""Arguments for a tool chosen by intent (when no tool-calling model chooses).

They come from the message's entities; when one is missing, or the message names several orders
(which one is meant is not for a pattern to guess), a question goes back to the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omnivox.understanding.entities import Entity

ASK_NUMBER = "Happy to check on that. What's your order number?"


@dataclass(frozen=True, slots=True)
class Plan:
    """Arguments to call the tool with, or the question to ask when something is missing."""

    arguments: dict[str, Any] | None
    question: str | None = None


def plan(tool: str, text: str, entities: tuple[Entity, ...], description: str) -> Plan:
    """Fill the tool's arguments from what the customer wrote."""
    if tool == "order_status":
        numbers = list(dict.fromkeys(e.value for e in entities if e.kind == "order_number"))
        if not numbers:
            return Plan(None, ASK_NUMBER)
        if len(numbers) > 1:  # "Not ACM-482193, that one arrived. Where is ACM-482577?"
            return Plan(None, f"Which order should I check: {_either(numbers)}?")
        return Plan({"order_number": numbers[0]})
    if tool == "create_ticket":
        subject = description or " ".join(text.split()[:12])
        return Plan({"subject": subject, "body": text})
    return Plan({})


def _either(items: list[str]) -> str:
    return ", ".join(items[:-1]) + f" or {items[-1]}"
