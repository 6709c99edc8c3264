"""``omnivox keys create|list|revoke``: REST API keys (``rotate`` lives in cli_keys)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from omnivox.cli_support import (
    ConfigOpt,
    DataDirOpt,
    WorkspaceOpt,
    err,
    with_database,
    workspace_command,
)
from omnivox.governance.apikeys import ApiKeyStore, KeyInfo
from omnivox.governance.rbac import GRANTS, Role
from omnivox.settings import Settings
from omnivox.storage.audit import AuditLog
from omnivox.storage.db import Database
from omnivox.storage.repositories import Store

T = TypeVar("T")
keys_app = typer.Typer(
    help="API keys for the REST API (create, list, revoke) and the keys that encrypt data "
    "at rest (rotate).",
    no_args_is_help=True,
)
ROLES = ", ".join(f"{r.value} ({len(GRANTS[r])} permissions)" for r in Role)


def _with_keys(settings: Settings, work: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    async def synced(db: Database) -> T:  # a key names its workspace's row
        store = Store(db)
        for ws in settings.workspaces:
            await store.ensure_workspace(ws.id, ws.name)
        return await work(ApiKeyStore(db))

    return with_database(settings, synced)


@keys_app.command("create")
def create(
    role: Annotated[Role, typer.Option("--role", "-r", help=f"What the key may do: {ROLES}.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Who or what uses the key.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create an API key for one workspace and role; the key is printed once, never again."""
    settings, ws = workspace_command(config, workspace, data_dir)

    async def work(store: ApiKeyStore) -> tuple[KeyInfo, str]:
        info, token = await store.create(ws.id, role, name.strip() or role.value)
        details = {"role": role.value, "name": info.name}
        await AuditLog(store.db).append(ws.id, "cli", "apikey.created", info.id, details)
        return info, token

    info, token = _with_keys(settings, work)
    err.print(
        f"[green]Created[/] {info.id} ({role.value} in {ws.id}). Keep the key now; "
        "it is stored only as a hash and cannot be shown again:"
    )
    print(token)


@keys_app.command("list")
def list_keys(
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """The workspace's API keys (never their secrets), revoked ones included."""
    settings, ws = workspace_command(config, workspace, data_dir)
    keys = _with_keys(settings, lambda store: store.keys(ws.id))
    if not keys:
        err.print(f"No API keys in {ws.id}: omnivox keys create --role ROLE --name NAME")
    for k in keys:  # one line per key: readable at any width, and greppable
        state = f"revoked {_when(k.revoked_at, 10)}" if k.revoked_at else "active"
        print(
            f"{k.id:<16}  {k.role:<11}  {state:<18}  created {_when(k.created_at, 10)}  "
            f"last used {_when(k.last_used_at, 16):<16}  {k.name}"
        )


def _when(at: object, width: int) -> str:
    return str(at)[:width] if at else "-"


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_…), from omnivox keys list.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke an API key (a running server stops accepting it within 5 seconds)."""
    settings, ws = workspace_command(config, workspace, data_dir)

    async def work(store: ApiKeyStore) -> KeyInfo | None:
        info = await store.revoke(key_id, ws.id)
        if info is not None:
            await AuditLog(store.db).append(ws.id, "cli", "apikey.revoked", key_id)
        return info

    if _with_keys(settings, work) is None:
        err.print(f"[bold red]No key[/] {key_id!r} in workspace {ws.id}")
        raise typer.Exit(1)
    err.print(f"[green]Revoked[/] {key_id}")
