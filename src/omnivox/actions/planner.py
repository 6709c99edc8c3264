"""Arguments for a tool chosen by intent (when no tool-calling model chooses).

They come from the message's entities; when one is missing, or the message names several orders
(which one is meant is not for a pattern to guess), a question goes back to the customer. The
answer to a question that listed orders may pick one of them instead ("the second one",
:mod:`omnivox.actions.picking`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omnivox.actions.base import Choice
from omnivox.actions.picking import pick
from omnivox.understanding.entities import Entity

ASK_NUMBER = "Happy to check on that. What's your order number?"


@dataclass(frozen=True, slots=True)
class Plan:
    """Arguments to call the tool with, or the question to ask when something is missing.

    ``choices``: the values the question lists (its answer may pick one); ``picked``: the
    arguments are the listed choice the message picked.
    """

    arguments: dict[str, Any] | None
    question: str | None = None
    choices: tuple[str, ...] = ()
    picked: bool = False


def plan(
    tool: str,
    text: str,
    entities: tuple[Entity, ...],
    description: str,
    offered: Sequence[Choice] = (),
) -> Plan:
    """Fill the tool's arguments from what the customer wrote.

    ``offered``: the choices the assistant's last question listed, which the message may pick
    from (a number of its own that is not one of them is looked up instead).
    """
    if tool == "order_status":
        numbers = list(dict.fromkeys(e.value for e in entities if e.kind == "order_number"))
        listed = {c.value.upper() for c in offered}
        picked = pick(text, offered) if not listed & {n.upper() for n in numbers} else None
        if picked is not None:
            return Plan({"order_number": picked}, picked=True)
        if not numbers:
            return Plan(None, ASK_NUMBER)
        if len(numbers) > 1:  # "Not ACM-482193, that one arrived. Where is ACM-482577?"
            question = f"Which order should I check: {_either(numbers)}?"
            return Plan(None, question, tuple(numbers))
        return Plan({"order_number": numbers[0]})
    if tool == "create_ticket":
        subject = description or " ".join(text.split()[:12])
        return Plan({"subject": subject, "body": text})
    return Plan({})


def _either(items: list[str]) -> str:
    return ", ".join(items[:-1]) + f" or {items[-1]}"
