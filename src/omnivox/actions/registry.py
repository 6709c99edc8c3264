"""The tools a workspace offers, built from its settings."""

from __future__ import annotations

from omnivox.actions.base import Tool
from omnivox.actions.orders import OrderStatusTool, load_orders
from omnivox.actions.tickets import CreateTicketTool
from omnivox.settings import ConfigError, Settings, WorkspaceSettings
from omnivox.storage.signals import SignalStore


def build_tools(settings: Settings, ws: WorkspaceSettings, signals: SignalStore) -> dict[str, Tool]:
    """``create_ticket`` always; ``order_status`` where the workspace has an orders file."""
    tools: dict[str, Tool] = {CreateTicketTool.name: CreateTicketTool(signals)}
    if ws.seed.orders:
        key = f"workspaces[{ws.id}].seed.orders"
        orders = load_orders(settings.resolve_path(ws.seed.orders), key)
        tools[OrderStatusTool.name] = OrderStatusTool(orders, signals)
    for spec in ws.understanding.intents:
        if spec.action and spec.action not in tools:
            raise ConfigError(
                settings.config_file,
                f"workspaces[{ws.id}].understanding.intents[{spec.name}].action",
                f"one of: {', '.join(sorted(tools))} (got {spec.action!r})",
            )
    return tools
