from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest
import structlog

from omnivox.bus import EventRecord
from omnivox.bus.memory import QueuedEventWriter
from omnivox.channels.api import ApiChannel
from omnivox.llm.chain import ProviderChain
from omnivox.pipeline.context import TurnContext
from omnivox.pipeline.runner import PipelineRunner
from omnivox.services import build_components, build_steps
from omnivox.settings import ScriptedSettings
from omnivox.storage import sqlite_driver
from omnivox.storage.db import Database
from omnivox.storage.repositories import Store
from omnivox.storage.sqlite_driver import short_statements
from omnivox.testing import ScriptedProvider
from omnivox.types import CustomerRef, InboundMessage, Reply
from tests.conftest import make_settings

DESIGN_ORDER = [
    "identify",
    "attach",
    "consent",  # not in DESIGN.md: SMS STOP/START end the turn before anything else
    "hold",  # not in DESIGN.md: the bot stays silent while people hold the conversation
    "verify",  # not in DESIGN.md: identifier proofs (codes) never reach the model
    "rate",  # not in DESIGN.md: a 1-5 answer after a resolved handoff is a rating
    "guard_input",
    "understand",
    "route",
    "retrieve",
    "generate",
    "guard_output",
    "render",
    "deliver",
    "record",
    "prepare",  # not in DESIGN.md: the next turn's memory and prompt, read ahead
]


def context(tmp_path: Path) -> TurnContext:
    settings = make_settings(tmp_path)
    return TurnContext(
        InboundMessage("acme", "api", CustomerRef("c"), "hi"),
        settings.workspaces[0],
        ApiChannel(),
        "turn_1",
    )


class Recorder:
    def __init__(
        self,
        name: str,
        log: list[str],
        *,
        finishing: bool = False,
        halt: bool = False,
        fail: bool = False,
    ) -> None:
        self.name, self.finishing = name, finishing
        self.log, self.halt, self.fail = log, halt, fail

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        self.log.append(self.name)
        if self.fail:
            raise RuntimeError("boom")
        if self.halt:
            ctx.halt("blocked", Reply("no"))
        return ctx


def test_pipeline_is_built_in_design_order(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db = Database("sqlite+aiosqlite://")
    chain = ProviderChain([ScriptedProvider(ScriptedSettings(type="scripted"))])
    events = QueuedEventWriter(Store(db).add_events)
    components = build_components(settings, db, chain, events, {})
    runner = PipelineRunner(build_steps(settings, components))
    assert runner.step_names == DESIGN_ORDER


async def test_every_step_is_timed(tmp_path: Path) -> None:
    log: list[str] = []
    runner = PipelineRunner([Recorder("a", log), Recorder("b", log)])
    ctx = await runner.run(context(tmp_path))
    assert log == ["a", "b"]
    assert set(ctx.timings) == {"a", "b", "total"}
    assert all(v >= 0 for v in ctx.timings.values())


async def test_halt_skips_to_finishing_steps(tmp_path: Path) -> None:
    log: list[str] = []
    runner = PipelineRunner(
        [
            Recorder("guard", log, halt=True),
            Recorder("generate", log),
            Recorder("deliver", log, finishing=True),
        ]
    )
    ctx = await runner.run(context(tmp_path))
    assert log == ["guard", "deliver"]
    assert ctx.halted == "blocked" and ctx.reply == Reply("no")


async def test_failure_is_reported_and_raised(tmp_path: Path) -> None:
    log: list[str] = []
    seen: list[tuple[str, str]] = []

    async def hook(ctx: TurnContext, step: str, exc: BaseException) -> None:
        seen.append((step, str(exc)))

    runner = PipelineRunner(
        [Recorder("a", log), Recorder("b", log, fail=True), Recorder("c", log)], on_failure=hook
    )
    with pytest.raises(RuntimeError, match="boom"):
        await runner.run(context(tmp_path))
    assert log == ["a", "b"] and seen == [("b", "boom")]


def test_duplicate_step_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        PipelineRunner([Recorder("a", []), Recorder("a", [])])


def test_context_fields_have_owners(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    names = {f.name for f in dataclasses.fields(ctx)}
    assert {"customer_id", "conversation_id", "passages", "reply", "outbound"} <= names
    assert ctx.question == "hi"


async def test_the_event_writer_keeps_no_context_of_the_turn_that_started_it() -> None:
    seen: list[tuple[dict[str, object], bool]] = []

    async def write(batch: Sequence[EventRecord]) -> None:
        seen.append((structlog.contextvars.get_contextvars(), sqlite_driver._short.get()))

    writer = QueuedEventWriter(write)
    with structlog.contextvars.bound_contextvars(turn_id="turn_1"), short_statements():
        writer.emit(EventRecord("turn.completed"))  # the first event starts the writer task
    await writer.flush()
    await writer.close()
    assert seen == [({}, False)]
