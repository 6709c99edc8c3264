"""``omnivox keys rotate``, ``audit`` and ``retention``: the operator's privacy commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from omnivox.cli_apikeys import keys_app
from omnivox.cli_support import ConfigOpt, DataDirOpt, err, load_or_exit, out, with_database
from omnivox.logs import configure_logging
from omnivox.privacy.crypto import ENV, RING, install, load_ring
from omnivox.privacy.rotation import new_primary, resume
from omnivox.settings import Settings
from omnivox.storage.audit import AuditLog
from omnivox.storage.db import Database
from omnivox.storage.inuse import DataDirBusyError, DataDirLock
from omnivox.storage.retention import run_all


@keys_app.command("rotate")
def rotate(
    config: ConfigOpt = Path("omnivox.yaml"),
    data_dir: DataDirOpt = None,
    only_resume: Annotated[
        bool,
        typer.Option("--resume", help="Finish an interrupted rotation (no new key)."),
    ] = False,
) -> None:
    """Make a new primary key and re-encrypt every stored value with it (resumable)."""
    settings = load_or_exit(config, data_dir=str(data_dir) if data_dir else None)
    configure_logging("console", "warning")
    if not settings.privacy.encrypt:
        # a server with encryption off installs no key ring: it could read nothing rotated
        err.print(
            "[bold red]privacy.encrypt is false:[/] servers with this configuration read and "
            "write plaintext and load no key ring, so they could not read a database "
            "encrypted by a rotation. To encrypt stored data, set privacy.encrypt: true and "
            "run this again (it also encrypts what was written in plaintext)",
            highlight=False,
        )
        raise typer.Exit(2)
    if os.environ.get(ENV) and not only_resume:
        err.print(
            f"[bold red]The key ring comes from {ENV}:[/] add a new key there, make it primary, "
            "restart, then run [bold]omnivox keys rotate --resume[/]"
        )
        raise typer.Exit(2)
    lock = DataDirLock(settings.data_dir)
    try:  # a running server keeps its key ring in memory: it would write under the old key
        lock.hold(exclusive=True)
    except DataDirBusyError:
        err.print(
            f"[bold red]A server is running on {settings.data_dir}:[/] stop every server using "
            "this data dir and database, rotate, then start them again",
            highlight=False,
        )
        raise typer.Exit(2) from None
    try:
        _rotate(settings, only_resume)
    finally:
        lock.release()


def _rotate(settings: Settings, only_resume: bool) -> None:
    ring = load_ring(settings.data_dir)
    if not only_resume:
        kid = new_primary(ring, Path(settings.data_dir) / "keys.json")
        err.print(f"New primary key [bold]{kid}[/] saved; re-encrypting…")
    install(ring)
    changed = with_database(settings, _resume)
    err.print(f"[green]Done:[/] {changed} values now under key {RING.primary}")


async def _resume(db: Database) -> int:
    with Progress(transient=True) as progress:
        task = progress.add_task("re-encrypting", total=None)
        changed = await resume(db, progress=lambda _, n: progress.advance(task, n))
    await AuditLog(db).append(None, "cli", "keys.rotated", str(RING.primary), {"values": changed})
    return changed


audit_app = typer.Typer(help="Check the hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify(config: ConfigOpt = Path("omnivox.yaml"), data_dir: DataDirOpt = None) -> None:
    """Recompute every entry's hash; exit 1 and name the first entry that was tampered with.

    Prints the last entry's hash (the head) on stdout: keep it outside the database (a log
    pipeline, a ticket) and compare later, since entries cut from the end leave a valid chain.
    """
    settings = load_or_exit(config, data_dir=str(data_dir) if data_dir else None)
    configure_logging("console", "warning")

    verdict = with_database(settings, lambda db: AuditLog(db).verify())
    if not verdict.ok:
        err.print(f"[bold red]Audit log broken[/] at entry {verdict.broken_at}")
        raise typer.Exit(1)
    err.print(f"[green]Audit log intact:[/] {verdict.entries} entries")
    # the chain cannot show entries cut from its end: compare the head with one kept elsewhere
    out.print(f"head {verdict.head}")


retention_app = typer.Typer(help="Delete conversation data past retention.", no_args_is_help=True)


@retention_app.command("run")
def retention_run(config: ConfigOpt = Path("omnivox.yaml"), data_dir: DataDirOpt = None) -> None:
    """Purge every workspace's data older than its retention_days (the server also runs daily)."""
    settings = load_or_exit(config, data_dir=str(data_dir) if data_dir else None)
    configure_logging("console", "warning")
    periods = [(ws.id, ws.retention_days) for ws in settings.workspaces]

    for workspace, counts in with_database(settings, lambda db: run_all(db, periods)).items():
        deleted = ", ".join(f"{n} {table}" for table, n in counts.items() if n) or "nothing"
        err.print(f"{workspace}: {deleted}")
