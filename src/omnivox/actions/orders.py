"""``order_status``: where is my order? Only for the customer who placed it.

Orders come from the workspace's ``seed.orders`` JSON file (the demo's stand-in for an order
system). Each order names its customer by the business's own id (``customer_id``), which is the
``external_id`` of an Omnivox customer. A customer asking about someone else's order, or an
anonymous visitor, gets the same answer as for an unknown number: nothing reveals that the order
exists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from omnivox.actions.base import Choice, ToolContext, ToolResult
from omnivox.settings import ConfigError
from omnivox.storage.signals import SignalStore

STATUS_TEXT = {
    "placed": "has been placed and is waiting to be packed",
    "packed": "is packed and waiting for the carrier",
    "shipped": "has shipped",
    "delivered": "was delivered",
    "cancelled": "was cancelled",
    "returned": "was returned",
}

# the most telling date for each stage, latest stage first
DATES = (
    ("returned_at", "Returned"),
    ("cancelled_at", "Cancelled"),
    ("delivered_at", "Delivered"),
    ("estimated_delivery", "Expected"),
    ("shipped_at", "Shipped"),
    ("placed_at", "Placed"),
)


class OrderStatusArgs(BaseModel):
    """Arguments of ``order_status``."""

    order_number: str = Field(min_length=3, max_length=40, description="The order number")


def load_orders(path: Path, key: str) -> dict[str, dict[str, Any]]:
    """Orders by upper-cased order number."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(str(path), key, f"a readable JSON list of orders ({exc})") from None
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and "order_number" in r and "customer_id" in r for r in rows
    ):
        raise ConfigError(str(path), key, "a list of objects with order_number and customer_id")
    return {str(r["order_number"]).upper(): r for r in rows}


class OrderStatusTool:
    """Looks an order up for its owner."""

    name: ClassVar[str] = "order_status"
    description: ClassVar[str] = "Status, items and tracking of one of the customer's orders."
    Args: ClassVar[type[BaseModel]] = OrderStatusArgs

    def __init__(self, orders: dict[str, dict[str, Any]], signals: SignalStore) -> None:
        self.orders = orders
        self.signals = signals

    async def call(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        """Describe the order if it belongs to the asking customer."""
        assert isinstance(args, OrderStatusArgs)
        number = args.order_number.strip().upper()
        order = self.orders.get(number)
        owners = await self.signals.external_ids(ctx.workspace_id, ctx.customer_id)
        if order is None or str(order["customer_id"]) not in owners:
            text = (
                f"I couldn't find order {number} on your account. Please check the number, "
                "or message us from the email or phone number you ordered with."
            )
            return ToolResult(False, text, {"order_number": number, "found": False})
        return ToolResult(True, describe(order), {"order_number": number, "found": True})

    async def choices(
        self, ctx: ToolContext, among: Sequence[str] | None = None, limit: int = 3
    ) -> list[Choice]:
        """The asking customer's latest orders (or those ``among`` these numbers), nobody else's.

        Each has its line for a list ("ACM-482577 (returned, placed 2026-10-02)") and the names
        of its items (what "the jacket one" is matched against).
        """
        owners = await self.signals.external_ids(ctx.workspace_id, ctx.customer_id)
        if among is None:
            mine = [o for o in self.orders.values() if str(o["customer_id"]) in owners]
            mine.sort(key=lambda o: str(o.get("placed_at") or ""), reverse=True)
            mine = mine[:limit]
        else:
            found = (self.orders.get(number.strip().upper()) for number in among)
            mine = [o for o in found if o is not None and str(o["customer_id"]) in owners]
        return [_choice(order) for order in mine]


def _choice(order: dict[str, Any]) -> Choice:
    status = str(order.get("status", "unknown"))
    placed = f", placed {str(order['placed_at'])[:10]}" if order.get("placed_at") else ""
    names = tuple(str(i["name"]) for i in order.get("items", []) if i.get("name"))
    number = str(order["order_number"])
    return Choice(number, f"{number} ({status}{placed})", names)


def describe(order: dict[str, Any]) -> str:
    """A short, channel-neutral summary of an order."""
    number = order["order_number"]
    status = str(order.get("status", "unknown"))
    items = ", ".join(str(i.get("name")) for i in order.get("items", []) if i.get("name"))
    parts = [f"Order {number} {STATUS_TEXT.get(status, f'is {status}')}."]
    if items:
        parts.append(f"It contains: {items}.")
    if order.get("carrier") and order.get("tracking_number"):
        parts.append(f"Tracking: {order['carrier']} {order['tracking_number']}.")
    for key, label in DATES:
        if order.get(key):
            parts.append(f"{label}: {str(order[key])[:10]}.")
            break
    if status == "returned" and order.get("refund_amount") is not None:
        parts.append(f"Refund: {order['refund_amount']:.2f} {order.get('currency', '')}.".strip())
    return " ".join(parts)
