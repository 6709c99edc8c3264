"""Shared pieces of the ``omnivox`` commands: consoles, common options, config loading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from omnivox.settings import ConfigError, Settings, WorkspaceSettings, load_settings

err = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", envvar="OMNIVOX_CONFIG", help="Path to omnivox.yaml.")
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="OMNIVOX_DATA_DIR",
        help="Folder for everything the server writes (database, indexes). Default ./var.",
    ),
]


def load_or_exit(config: Path, **overrides: Any) -> Settings:
    """Load settings or print the config error and exit with code 2."""
    try:
        return load_settings(config, overrides=overrides)
    except ConfigError as exc:
        err.print(f"[bold red]Config error:[/] {exc}")
        raise typer.Exit(2) from None


WorkspaceOpt = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace id (default: the first).")
]


def workspace_or_exit(settings: Settings, workspace: str | None) -> WorkspaceSettings:
    """The named workspace (default: the first), or print the known ids and exit with 2."""
    ws = settings.workspace(workspace) if workspace else settings.workspaces[0]
    if ws is None:
        known = ", ".join(w.id for w in settings.workspaces)
        err.print(f"[bold red]No workspace[/] {workspace!r}; known: {known}")
        raise typer.Exit(2)
    return ws
