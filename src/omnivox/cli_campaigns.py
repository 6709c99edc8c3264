"""``omnivox campaign write``: marketing copy for each channel from a brief."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from omnivox.campaigns import CHANNELS, Brief, Campaign, Copy, CopyWriter
from omnivox.cli_support import (
    ConfigOpt,
    DataDirOpt,
    WorkspaceOpt,
    err,
    out,
    progress_bar,
    workspace_command,
)
from omnivox.settings import Settings, WorkspaceSettings

campaign_app = typer.Typer(help="Write channel-ready marketing copy.", no_args_is_help=True)


@campaign_app.command("write")
def write(
    brief_file: Annotated[
        Path | None,
        typer.Argument(
            help="A brief as YAML or JSON (offer, audience, facts, call_to_action, "
            "url, topic, channels, variants); the options below add to it or replace its values."
        ),
    ] = None,
    offer: Annotated[
        str | None, typer.Option(help="What the campaign announces, one line.")
    ] = None,
    fact: Annotated[
        list[str] | None,
        typer.Option(help="A detail you vouch for (a code, an end date); repeat for more."),
    ] = None,
    audience: Annotated[str | None, typer.Option(help="Who it is for.")] = None,
    cta: Annotated[str | None, typer.Option("--cta", help="The call to action.")] = None,
    url: Annotated[str | None, typer.Option(help="The link the copy carries.")] = None,
    topic: Annotated[
        str | None, typer.Option(help="What to look up in the knowledge base (default: offer).")
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option("--channel", help=f"One of {', '.join(CHANNELS)}; repeat (default: all)."),
    ] = None,
    variants: Annotated[
        int | None, typer.Option(min=1, max=5, help="Variants per channel (A/B tests).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOpt = Path("omnivox.yaml"),
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write copy for each channel in the workspace's brand voice, fitted to the channel.

    SMS copy fits its segments with the brand name and the opt-out; email gets a subject,
    preheader, plain text and HTML with the unsubscribe footer. A price, percentage or date
    that neither the brief nor the knowledge base states is removed (listed as removed).
    Nothing is sent. Exit 2 on a bad brief, naming the file and field.
    """
    values = _read(brief_file) if brief_file else {}
    given: dict[str, Any] = {"offer": offer, "facts": fact, "audience": audience}
    given |= {"call_to_action": cta, "url": url, "topic": topic}
    given |= {"channels": channel, "variants": variants}
    options = {k: v for k, v in given.items() if v is not None}
    where = str(brief_file) if brief_file else "the options"
    if brief_file and options:
        where += " with the options"
    brief = _validated(values | options, where)
    settings, ws = workspace_command(config, workspace, data_dir)
    campaign = _write(settings, ws, brief)
    if as_json:
        out.print_json(json.dumps(campaign.as_dict()))
        return
    for copy in campaign.copies:
        out.print(_panel(copy))
    for ref in campaign.references:
        out.print(Text(f"backed by: {ref.title} ({ref.source_id})", style="dim"))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        err.print(f"[bold red]Cannot read {escape(str(path))}[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    if not isinstance(data, dict):
        err.print(f"[bold red]{escape(str(path))}[/]: expected a mapping (offer: ..., facts: ...)")
        raise typer.Exit(2)
    return data


def _validated(values: dict[str, Any], where: str) -> Brief:
    try:
        return Brief.model_validate(values)
    except ValidationError as exc:
        for e in exc.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(brief)"
            err.print(f"[bold red]{escape(where)}[/]: {escape(key)}: {escape(e['msg'])}")
        raise typer.Exit(2) from None


def _write(settings: Settings, ws: WorkspaceSettings, brief: Brief) -> Campaign:
    from omnivox.services import build_services

    count = len(brief.channels) * (brief.variants or ws.campaigns.variants)

    async def main() -> Campaign:
        services = build_services(settings)
        await services.start(warm_up=False)
        try:
            with progress_bar() as bar:
                task = bar.add_task("Writing", total=count, item="")

                def done(copy: Copy) -> None:
                    bar.update(task, advance=1, item=f"{copy.channel} {copy.variant}")

                writer = CopyWriter(settings, services.chain, services.kb, services.events)
                return await writer.write(ws, brief, done)
        finally:
            await services.close()

    return asyncio.run(main())


def _panel(copy: Copy) -> Panel:
    facts = [copy.channel, f"variant {copy.variant}", copy.source, f"{copy.characters} chars"]
    if copy.segments is not None:
        facts.append(f"{copy.segments} segment(s) {copy.encoding}")
    body = Text()
    if copy.subject is not None:
        body.append(f"Subject: {copy.subject}\nPreheader: {copy.preheader}\n\n", style="bold")
    body.append(copy.text)
    if copy.button:
        body.append(f"\n[{copy.button}]", style="bold")
    for warning in copy.warnings:
        body.append(f"\nwarning: {warning}", style="yellow")
    for removed in copy.removed:
        body.append(f"\nremoved: {removed}", style="dim")
    return Panel(body, title=" · ".join(facts), title_align="left")
