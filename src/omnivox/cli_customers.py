"""``omnivox customers``: look at one customer across channels."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from omnivox.cli_support import (
    ConfigOpt,
    DataDirOpt,
    WorkspaceOpt,
    err,
    load_or_exit,
    out,
    workspace_or_exit,
)
from omnivox.logs import configure_logging
from omnivox.storage.db import Database
from omnivox.storage.identities import IdentityStore, Profile

customers_app = typer.Typer(help="Look at customers across channels.", no_args_is_help=True)


async def _load(url: str, schema: str | None, workspace: str, key: str) -> Profile | None:
    db = Database(url, schema=schema)
    try:
        await db.migrate()
        store = IdentityStore(db)
        profile = await store.profile(workspace, key)
        if profile is None:
            found = await store.by_external_id(workspace, key)
            profile = await store.profile(workspace, found) if found else None
        return profile
    finally:
        await db.close()


@customers_app.command("show")
def show(
    customer: Annotated[str, typer.Argument(help="Customer id (cus_…) or the business's own id.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the profile as JSON.")] = False,
) -> None:
    """A customer's profile: identifiers and how each was proven, conversations, consent."""
    settings = load_or_exit(config, data_dir=str(data_dir) if data_dir else None)
    configure_logging("console", "warning")
    ws = workspace_or_exit(settings, workspace)
    profile = asyncio.run(
        _load(settings.database_url, settings.database.schema_name, ws.id, customer)
    )
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
