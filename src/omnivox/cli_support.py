"""Shared pieces of the ``omnivox`` commands: consoles, common options, config loading."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omnivox.logs import configure_logging
from omnivox.privacy.crypto import install, load_ring
from omnivox.settings import ConfigError, Settings, WorkspaceSettings, load_settings
from omnivox.storage.db import Database

T = TypeVar("T")

# messages are never cut into lines by rich: a path or a key in an error stays whole, for the
# terminal to wrap and for the reader to copy
err = Console(stderr=True, soft_wrap=True)
out = Console()

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", envvar="OMNIVOX_CONFIG", help="Path to omnivox.yaml.")
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="OMNIVOX_DATA_DIR",
        help="Folder for everything the server writes (database, indexes). Default: the "
        "config's data_dir, else ./var.",
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


def with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database (migrated, key ring installed), then close it."""

    async def main() -> T:
        if settings.privacy.encrypt:  # encrypted columns read and write through the ring
            install(load_ring(settings.data_dir))
        db = Database(settings.database_url, schema=settings.database.schema_name)
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())


def workspace_command(
    config: Path, workspace: str | None, data_dir: Path | None
) -> tuple[Settings, WorkspaceSettings]:
    """The settings and chosen workspace of a one-workspace command (logs: warnings only)."""
    settings = load_or_exit(config, data_dir=str(data_dir) if data_dir else None)
    configure_logging("console", "warning")
    return settings, workspace_or_exit(settings, workspace)


def progress_bar() -> Progress:
    """A bar on stderr: the task's description, done of total, time, and its ``item`` field."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[item]}"),
        console=err,
    )
