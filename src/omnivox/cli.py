"""The ``omnivox`` command."""

from __future__ import annotations

import asyncio
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from omnivox import __version__
from omnivox.cli_agents import agents_app
from omnivox.cli_apikeys import keys_app
from omnivox.cli_campaigns import campaign_app
from omnivox.cli_customers import customers_app
from omnivox.cli_help import reflow_help
from omnivox.cli_kb import kb_app
from omnivox.cli_keys import audit_app, retention_app
from omnivox.cli_nlu import nlu_app
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
from omnivox.settings import Settings, WorkspaceSettings

if TYPE_CHECKING:  # the server's modules load only when a command needs them
    from omnivox.llm.base import Delta
    from omnivox.services import Services
    from omnivox.types import InboundMessage

app = typer.Typer(
    help="Omnivox: one AI assistant on every customer channel.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Check configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(kb_app, name="kb")
app.add_typer(nlu_app, name="nlu")
app.add_typer(customers_app, name="customers")
app.add_typer(agents_app, name="agents")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")
app.add_typer(campaign_app, name="campaign")


def _version(value: bool) -> None:
    if value:
        out.print(f"omnivox {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Omnivox: one AI assistant on every customer channel."""


@app.command()
def serve(
    config: ConfigOpt = Path("omnivox.yaml"),
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: DataDirOpt = None,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="console (readable) or json.")
    ] = None,
    smtp: Annotated[
        str | None,
        typer.Option(
            "--smtp",
            help="Where the inbound SMTP server listens for the workspaces' support mailboxes: "
            "host:port, or off. Default 127.0.0.1:2525 (env OMNIVOX_SMTP_LISTEN).",
        ),
    ] = None,
) -> None:
    """Start the server: REST API, web chat, demo page, webhooks and inbound email (SMTP)."""
    import uvicorn

    from omnivox.app import create_app, server_options

    settings = load_or_exit(
        config,
        **{
            "server.host": host,
            "server.port": port,
            "data_dir": str(data_dir) if data_dir else None,
            "log_format": log_format,
            "server.smtp_listen": smtp,
        },
    )
    _exit_on_missing_files(config, settings)  # else the server's start fails with a traceback
    _exit_on_unreachable_redis(config, settings)
    configure_logging(settings.log_format, settings.log_level)
    url = f"http://{settings.server.host}:{settings.server.port}"
    err.print(
        f"[bold green]Omnivox[/] serving {', '.join(w.name for w in settings.workspaces)}"
        f" at [link={url}]{url}[/] (data in {Path(settings.data_dir).resolve()})"
    )
    err.print(f"  web chat demo {url}/ · agent console {url}/console · dashboard {url}/dashboard")
    _warn_on_uvicorn_proxy_variable()
    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        timeout_graceful_shutdown=5,
        **server_options(settings),
    )


def _warn_on_uvicorn_proxy_variable() -> None:
    """Say that uvicorn's FORWARDED_ALLOW_IPS is overridden by ``server.forwarded_allow_ips``."""
    if os.environ.get("FORWARDED_ALLOW_IPS"):
        err.print(
            "[yellow]FORWARDED_ALLOW_IPS is not read:[/] set server.forwarded_allow_ips "
            "(or OMNIVOX_SERVER__FORWARDED_ALLOW_IPS)"
        )


@app.command()
def chat(
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Chat with the assistant in the terminal (same pipeline as the server)."""
    settings = load_or_exit(
        config, data_dir=str(data_dir) if data_dir else None, log_level="warning"
    )
    configure_logging("console", "warning")
    asyncio.run(_chat_loop(settings, workspace_or_exit(settings, workspace)))


async def _chat_loop(settings: Settings, workspace: WorkspaceSettings) -> None:
    from omnivox.services import build_services
    from omnivox.types import CustomerRef, InboundMessage

    services = build_services(settings)
    with err.status("Loading the model..."):
        await services.start()
    persona = workspace.persona
    err.print(f"Chatting with [bold]{persona.name}[/] ({workspace.id}). Ctrl-D or /quit ends.")
    sender = CustomerRef(address=f"cli:{getpass.getuser()}")
    try:
        while True:
            try:
                text = await asyncio.to_thread(input, "\nyou> ")
            except EOFError:
                break
            if text.strip() in ("/quit", "/exit"):
                break
            if text.strip():
                inbound = InboundMessage(workspace.id, "api", sender, text.strip())
                await _chat_turn(services, inbound, persona.name)
    finally:
        await services.close()


async def _chat_turn(services: Services, inbound: InboundMessage, name: str) -> None:
    """One turn: the model's words as it writes them, then the reply as checked and sent.

    The streamed words come before the grounding guard and the brand policy; like the web
    widget, the terminal replaces them with the final text (a piped output gets only that).
    """
    streamed: list[str] = []
    with Live(_said(name, ""), console=out, auto_refresh=False) as live:

        async def sink(delta: Delta) -> None:
            if delta.reset:  # the chain fell back to another provider: its words start over
                streamed.clear()
            streamed.append(delta.text)
            live.update(_said(name, "".join(streamed)), refresh=True)

        ctx = await services.turns.handle(inbound, services.api, sink)
        final = ctx.reply.text if ctx.reply else "(stored: a person holds this conversation)"
        live.update(_said(name, final), refresh=True)
    if not out.is_terminal:  # a terminal's Live ends its line itself, a pipe's does not
        out.print()
    for n, citation in enumerate(ctx.reply.citations if ctx.reply else (), start=1):
        where = f" <{citation.url}>" if citation.url else ""
        out.print(f"  [dim][{n}] {escape(citation.title)}{escape(where)}[/]")


def _said(name: str, text: str) -> Text:
    line = Text(f"{name}> ", style="bold")
    line.append(text)
    return line


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="The omnivox.yaml to check.")]) -> None:
    """Validate a config file and summarise it; exit code 2 when it is invalid."""
    settings = load_or_exit(path)
    _exit_on_missing_files(path, settings)
    out.print(f"[green]OK[/] {path}")
    for ws in settings.workspaces:
        out.print(f"  workspace [bold]{ws.id}[/]: {ws.name} (assistant {ws.persona.name})")
    chain = " -> ".join(p.type for p in settings.llm.providers)
    out.print(f"  llm chain: {chain}")
    db = settings.database_url
    out.print(f"  database: {_redact(db)}")
    if os.environ.get("OMNIVOX_DATABASE_URL"):
        out.print("  (database URL from OMNIVOX_DATABASE_URL)")
    redis = settings.redis.url
    shared = "in this process (one server)"
    if redis is not None:
        shared = f"Redis {_redact(redis.get_secret_value())}, prefix {settings.redis.prefix!r}"
    out.print(f"  turn locks, rate limits, live events: {shared}")


def _exit_on_unreachable_redis(config: Path, settings: Settings) -> None:
    """With ``redis.url`` set, a Redis that does not answer is a config error (exit 2)."""
    url = settings.redis.url
    if url is None:
        return
    import redis

    client = redis.Redis.from_url(url.get_secret_value(), socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        where = _redact(url.get_secret_value())
        err.print(
            f"Config error: {config}: redis.url: a Redis server this server can reach; "
            f"{where} did not answer ({exc})",
            markup=False,
        )
        raise typer.Exit(2) from None
    finally:
        client.close()


def _exit_on_missing_files(config: Path, settings: Settings) -> None:
    """Name every file or folder the config points to that is missing, and exit with 2."""
    missing = _missing_files(settings)
    for key, file in missing:
        err.print(f"{config}: {key}: no such file or folder {str(file)!r}", markup=False)
    if missing:
        raise typer.Exit(2)


def _missing_files(settings: Settings) -> list[tuple[str, Path]]:
    """(key path, resolved path) of every file or folder the config names that is not there."""
    named: list[tuple[str, str | None]] = []
    for n, ws in enumerate(settings.workspaces):
        at = f"workspaces[{n}]"
        named += [
            (f"{at}.seed.customers", ws.seed.customers),
            (f"{at}.seed.orders", ws.seed.orders),
        ]
        named += [(f"{at}.prompts_dir", ws.prompts_dir)]
        named += [(f"{at}.understanding.intents_csv", ws.understanding.intents_csv)]
        named += [(f"{at}.knowledge_paths[{i}]", p) for i, p in enumerate(ws.knowledge_paths)]
    resolved = [(key, settings.resolve_path(value)) for key, value in named if value]
    return [(key, file) for key, file in resolved if not file.exists()]


def _redact(url: str) -> str:
    """The database URL without its password, in the user part or in the query string."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(not a database URL)"
    hidden = {k: "***" for k in parsed.query if "pass" in k.lower() or "secret" in k.lower()}
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)


reflow_help(app)
