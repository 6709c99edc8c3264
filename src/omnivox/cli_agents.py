"""``omnivox agents``: people who answer customers in the console."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omnivox.cli_support import (
    ConfigOpt,
    DataDirOpt,
    WorkspaceOpt,
    err,
    with_database,
    workspace_command,
)
from omnivox.handoff.auth import hash_password
from omnivox.storage.db import Database
from omnivox.storage.handoffs import HandoffStore, RemovedAgent
from omnivox.storage.repositories import Store

agents_app = typer.Typer(help="Manage the agents who log in to /console.", no_args_is_help=True)
MIN_PASSWORD = 10


async def _add(db: Database, ws: tuple[str, str], email: str, name: str, role: str, pw: str) -> str:
    await Store(db).ensure_workspace(*ws)
    return await HandoffStore(db).add_agent(ws[0], email, name, role, hash_password(pw))


@agents_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The agent's login email.")],
    name: Annotated[str, typer.Option(help="Name shown to colleagues.")],
    role: Annotated[str, typer.Option(help="agent or admin.")] = "agent",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help=f"At least {MIN_PASSWORD} characters (asked for when not given).",
        ),
    ] = "",
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create an agent, or reset their name, role and password (argon2id hashes).

    A reset password ends the agent's console sessions; a disabled agent stays disabled.
    """
    if role not in ("agent", "admin"):
        err.print(f"[bold red]Unknown role[/] {role!r}: agent or admin")
        raise typer.Exit(2)
    if len(password) < MIN_PASSWORD:
        err.print(f"[bold red]Password too short:[/] at least {MIN_PASSWORD} characters")
        raise typer.Exit(2)
    settings, ws = workspace_command(config, workspace, data_dir)
    email = email.strip().lower()
    agent_id = with_database(
        settings, lambda db: _add(db, (ws.id, ws.name), email, name, role, password)
    )
    err.print(f"[green]Agent[/] {email} ({role}) in {ws.id}: {agent_id}")


async def _set_disabled(db: Database, workspace_id: str, email: str, disabled: bool) -> bool:
    return await HandoffStore(db).set_disabled(workspace_id, email, disabled)


def _switch(
    email: str, disabled: bool, config: Path, workspace: str | None, data_dir: Path | None
) -> None:
    settings, ws = workspace_command(config, workspace, data_dir)
    email = email.strip().lower()
    if not with_database(settings, lambda db: _set_disabled(db, ws.id, email, disabled)):
        err.print(f"[bold red]No agent[/] {email} in {ws.id}")
        raise typer.Exit(1)
    err.print(f"[green]Agent[/] {email} in {ws.id}: {'disabled' if disabled else 'enabled'}")


@agents_app.command("disable")
def disable(
    email: Annotated[str, typer.Argument(help="The agent's login email.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Stop an agent from logging in and end their console sessions (open pages included).

    Their notes, ratings and audit entries stay. A help desk can no longer act as them, nor an
    admin assign to them. `omnivox agents enable` lets them log in again.
    """
    _switch(email, True, config, workspace, data_dir)


@agents_app.command("enable")
def enable(
    email: Annotated[str, typer.Argument(help="The agent's login email.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Let a disabled agent log in again (with their password; sessions ended stay ended)."""
    _switch(email, False, config, workspace, data_dir)


async def _remove(db: Database, workspace_id: str, email: str) -> RemovedAgent | None:
    return await HandoffStore(db).remove_agent(workspace_id, email)


@agents_app.command("remove")
def remove(
    email: Annotated[str, typer.Argument(help="The agent's login email.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove an agent for good; the conversations they hold go back to the queue.

    They can no longer log in (their sessions and open pages end) and the email is free for
    `omnivox agents add`. Their notes, ratings and handoffs keep naming them: an agent with any
    stays as a disabled record without the email, one with none is deleted. Exits 1 when there
    is no such agent.
    """
    settings, ws = workspace_command(config, workspace, data_dir)
    email = email.strip().lower()
    if not yes and not typer.confirm(f"Remove the agent {email} from {ws.id}?"):
        raise typer.Exit(1)
    removed = with_database(settings, lambda db: _remove(db, ws.id, email))
    if removed is None:
        err.print(f"[bold red]No agent[/] {email} in {ws.id}")
        raise typer.Exit(1)
    kept = " (kept as a disabled record: notes, ratings or handoffs name them)"
    err.print(
        f"[green]Agent[/] {email} removed from {ws.id}{kept if removed.kept else ''}; "
        f"{removed.released} conversation(s) they held went back to the queue"
    )
