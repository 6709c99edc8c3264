"""``omnivox kb``: ingest, search, list and remove knowledge."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import TaskID
from rich.table import Table
from rich.text import Text

from omnivox.cli_support import (
    ConfigOpt,
    DataDirOpt,
    WorkspaceOpt,
    err,
    load_or_exit,
    out,
    progress_bar,
    workspace_or_exit,
)
from omnivox.logs import configure_logging
from omnivox.settings import Settings

kb_app = typer.Typer(help="Manage a workspace's knowledge base.", no_args_is_help=True)
T = TypeVar("T")


def _open(config: Path, data_dir: Path | None, workspace: str | None) -> tuple[Settings, str]:
    """Settings (quiet logging) and the workspace id, or exit with the reason."""
    settings = load_or_exit(config, data_dir=str(data_dir) if data_dir else None)
    configure_logging("console", "error")  # the command reports skipped files itself
    return settings, workspace_or_exit(settings, workspace).id


@asynccontextmanager
async def _services(settings: Settings) -> AsyncIterator[Any]:
    from omnivox.services import build_services

    services = build_services(settings)
    await services.start(warm_up=False)
    try:
        yield services
    finally:
        await services.close()


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _services(settings) as services:
            return await work(services)

    return asyncio.run(main())


@kb_app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Ingest Markdown, HTML, PDF, text, CSV FAQ and JSONL files (incremental).

    Unchanged files are skipped; files gone from an ingested folder leave the index. A file
    that cannot be read is reported by name and skipped, the rest is ingested, and the
    command then exits with status 1. When ``knowledge.embedder`` names another encoder than
    the one that embedded what is stored, everything stored is embedded again first. An
    embeddings server that fails stops the command (status 1); what was stored stays, and
    running it again goes on from there.
    """
    settings, ws = _open(config, data_dir, workspace)
    for path in paths:
        if not path.exists():
            err.print(f"[bold red]Not found:[/] {escape(str(path))}")
            raise typer.Exit(2)
    with progress_bar() as bar:
        task = bar.add_task("Ingesting", total=None, item="")
        again: list[TaskID] = []

        def progress(done: int, total: int, file: str) -> None:
            bar.update(task, completed=done, total=total, item=Path(file).name)

        def reembedding(done: int, total: int, encoder: str) -> None:
            if not again:
                again.append(bar.add_task("Embedding again", total=total, item=encoder))
            bar.update(again[0], completed=done, total=total)

        report = _embedding(
            lambda: _run(settings, lambda s: s.kb.ingest(ws, paths, progress, reembedding))
        )
    for _path, reason in report.failed:
        err.print(f"[yellow]skipped[/] {escape(reason)}", soft_wrap=True)  # paths unbroken
    if report.reembedded:
        out.print(f"{report.reembedded} stored chunks embedded again for the new encoder")
    out.print(
        f"[green]{ws}[/]: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, "
        f"{len(report.failed)} failed; {report.chunks} chunks in {report.seconds:.1f}s "
        f"({report.chunks_per_second:.0f}/s); version {report.version}"
    )
    if report.failed:  # the rest is ingested; scripts still learn that something was skipped
        raise typer.Exit(1)


def _embedding(work: Callable[[], T]) -> T:
    """``work()``, or exit 1 saying why the chunks could not be embedded."""
    from omnivox.knowledge.remote_embeddings import EmbeddingError
    from omnivox.knowledge.service import KnowledgeChanged
    from omnivox.storage.knowledge import EmbedderChanged

    try:
        return work()
    except (EmbeddingError, EmbedderChanged, KnowledgeChanged) as exc:
        err.print(f"[bold red]Could not embed:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


@kb_app.command("reembed")
def reembed(
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Embed the stored chunks again with the configured encoder (``knowledge.embedder``).

    Needed after changing the encoder: until then servers search the workspace by keywords
    alone. ``kb ingest`` does the same before ingesting. Nothing is done when the stored
    vectors are already the configured encoder's.
    """
    settings, ws = _open(config, data_dir, workspace)
    with progress_bar() as bar:
        task = bar.add_task("Embedding again", total=None, item="")

        def progress(done: int, total: int, encoder: str) -> None:
            bar.update(task, completed=done, total=total, item=encoder)

        done = _embedding(lambda: _run(settings, lambda s: s.kb.reembed(ws, progress)))
    name = escape(done.encoder)
    if done.chunks:
        out.print(f"[green]{ws}[/]: {done.chunks} chunks embedded again with {name}")
    else:
        out.print(f"[green]{ws}[/]: the stored vectors are {name}'s already")


@kb_app.command("search")
def search(
    query: Annotated[str | None, typer.Argument(help="What to search for.")] = None,
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="How many results.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    queries: Annotated[
        Path | None,
        typer.Option(
            help='JSONL file of {"id": ..., "query": ...}; prints one JSON line per query.'
        ),
    ] = None,
) -> None:
    """Print the best passages with their scores and sources."""
    settings, ws = _open(config, data_dir, workspace)
    if queries is not None:
        _batch(settings, ws, queries, k)
        return
    if not query:
        err.print("[bold red]Give a query[/] or --queries FILE.jsonl")
        raise typer.Exit(2)
    hits = _run(settings, lambda s: s.kb.search(ws, query, k))
    rows = [h.as_dict() for h in hits]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("score", "source", "title", "text")
    for row in rows:
        table.add_row(  # documents' text is shown as is, never read as markup
            f"{row['score']:.4f}",
            Text(row["source_id"]),
            Text(row["title"]),
            Text(row["text"][:160].replace("\n", " ")),
        )
    out.print(table if rows else "[dim]no results[/]")


def _batch(settings: Settings, ws: str, queries: Path, k: int) -> None:
    try:
        lines = queries.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        err.print(f"[bold red]Cannot read {escape(str(queries))}[/]: {escape(str(reason))}")
        raise typer.Exit(2) from None
    items = []
    for n, line in enumerate(lines, start=1):
        if line.strip():
            try:
                obj = json.loads(line)
                items.append((obj["id"], str(obj["query"])))
            except (json.JSONDecodeError, KeyError, TypeError):
                where = escape(f"{queries}:{n}")
                err.print(f'[bold red]{where}[/]: expected {{"id": ..., "query": ...}}')
                raise typer.Exit(2) from None

    async def work(services: Any) -> None:
        for qid, text in items:
            hits = await services.kb.search(ws, text, k)
            print(json.dumps({"id": qid, "results": [h.as_dict() for h in hits]}), flush=True)

    _run(settings, work)


@kb_app.command("list")
def list_files(
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List ingested files with their documents and chunks."""
    settings, ws = _open(config, data_dir, workspace)
    files = _run(settings, lambda s: s.kb.files(ws))
    table = Table("source", "documents", "chunks", "updated", "path")
    for f in files:
        table.add_row(
            Text(f.source_id),
            str(f.documents),
            str(f.chunks),
            f.updated_at.strftime("%Y-%m-%d %H:%M"),
            Text(f.path),
        )
    out.print(table if files else f"[dim]{ws}: the knowledge base is empty[/]")


@kb_app.command("remove")
def remove(
    targets: Annotated[list[str], typer.Argument(help="Paths or source ids to remove.")],
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Remove files from the knowledge base.

    A name that is the source of several files (two ``faq.csv`` in different folders) removes
    nothing: their paths are listed, and the command exits with status 2.
    """
    from omnivox.knowledge.service import AmbiguousTarget

    settings, ws = _open(config, data_dir, workspace)
    try:
        removed = _run(settings, lambda s: s.kb.remove(ws, targets))
    except AmbiguousTarget as exc:
        for name, paths in exc.matches.items():
            err.print(
                f"[bold red]{escape(name)}[/] is the source of {len(paths)} files; "
                "give the path of the one to remove:"
            )
            for path in paths:
                err.print(Text(f"  {path}"), soft_wrap=True)
        raise typer.Exit(2) from None
    if not removed:
        err.print(
            "[yellow]Nothing matched[/]: "
            + escape(", ".join(targets))
            + " (give a file's path, or its source as `kb list` shows it)"
        )
        raise typer.Exit(1)
    out.print(f"Removed {len(removed)} file(s) from {ws}.")
