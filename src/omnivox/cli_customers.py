"""``omnivox customers``: look at one customer across channels."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from omnivox.cli_support import (
    ConfigOpt,
    DataDirOpt,
    WorkspaceOpt,
    err,
    out,
    with_database,
    workspace_command,
)
from omnivox.identity.keys import load_or_create_key
from omnivox.settings import Settings
from omnivox.storage.identities import IdentityStore, Profile
from omnivox.storage.subjects import SubjectStore

customers_app = typer.Typer(
    help="Customers across channels: look, export, erase.", no_args_is_help=True
)
T = TypeVar("T")


async def _profile(store: SubjectStore, workspace: str, key: str) -> Profile | None:
    """The profile by our id, or else by the business's own id."""
    identities = IdentityStore(store.db)
    profile = await identities.profile(workspace, key)
    if profile is None:
        found = await identities.by_external_id(workspace, key)
        profile = await identities.profile(workspace, found) if found else None
    return profile


@customers_app.command("show")
def show(
    customer: Annotated[str, typer.Argument(help="Customer id (cus_…) or the business's own id.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the profile as JSON.")] = False,
) -> None:
    """A customer's profile: identifiers and how each was proven, conversations, consent."""
    settings, ws = workspace_command(config, workspace, data_dir)
    profile = _store_call(settings, lambda store: _profile(store, ws.id, customer))
    if profile is None:
        err.print(f"[bold red]No customer[/] {customer!r} in workspace {ws.id}")
        raise typer.Exit(1)
    if as_json:
        out.print_json(json.dumps(profile.as_dict()))
        return
    merged = f" (merged into {profile.merged_into})" if profile.merged_into else ""
    out.print(f"[bold]{profile.name or '(no name)'}[/] {profile.id}{merged}")
    identities = Table("kind", "address", "verified", "source")
    for i in profile.identities:
        identities.add_row(i["kind"], i["address"], "yes" if i["verified"] else "no", i["source"])
    out.print(identities)
    conversations = Table("conversation", "status", "last channel", "updated")
    for c in profile.conversations:
        conversations.add_row(c["id"], c["status"], c["last_channel"], c["updated_at"])
    out.print(conversations)
    for c in profile.consents:
        state = "granted" if c["granted"] else "withdrawn"
        out.print(f"consent {c['purpose']} on {c['channel']}: {state} ({c['source']}, {c['at']})")


def _store_call(settings: Settings, work: Callable[[SubjectStore], Awaitable[T]]) -> T:
    return with_database(settings, lambda db: work(SubjectStore(db)))


@customers_app.command("export")
def export(
    customer: Annotated[str, typer.Argument(help="Customer id (cus_…) or the business's own id.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Everything held about a customer, as one JSON document (a data-subject access request)."""
    settings, ws = workspace_command(config, workspace, data_dir)

    data = _store_call(settings, lambda store: store.export_logged(ws.id, customer, "cli"))
    if data is None:
        err.print(f"[bold red]No customer[/] {customer!r} in workspace {ws.id}")
        raise typer.Exit(1)
    document = json.dumps(data, indent=2, ensure_ascii=False)
    if output is None:
        print(document)
    else:
        output.write_text(document, encoding="utf-8")
        err.print(f"[green]Exported[/] {customer} to {output}")


@customers_app.command("erase")
def erase(
    customer: Annotated[str, typer.Argument(help="Customer id (cus_…) or the business's own id.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete everything held about a customer (safe to repeat); the log keeps a hashed id."""
    settings, ws = workspace_command(config, workspace, data_dir)
    if not yes and not typer.confirm(f"Erase all data of {customer} in {ws.id}?"):
        raise typer.Exit(1)
    key = load_or_create_key(settings.data_dir, settings.server.secret_key.get_secret_value())

    erasure = _store_call(settings, lambda store: store.erase_logged(ws.id, customer, key, "cli"))
    if erasure.before:
        err.print(f"Nothing held about {customer} in {ws.id}: it was erased before")
        return
    if not erasure.counts:
        err.print(f"[bold red]No customer[/] {customer!r} in workspace {ws.id}")
        raise typer.Exit(1)
    summary = ", ".join(f"{n} {table}" for table, n in erasure.counts.items() if n)
    profiles = ", ".join(erasure.customer_ids)
    err.print(f"[green]Erased[/] {customer} (profiles {profiles}): {summary}")
