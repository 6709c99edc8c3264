"""Runs the steps in order, timing each one, and reports failures."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import structlog
from structlog.typing import FilteringBoundLogger as BoundLogger

from omnivox import events
from omnivox.logs import get_logger
from omnivox.pipeline.context import TurnContext

log = get_logger(__name__)
FailureHook = Callable[[TurnContext, str, BaseException], Awaitable[None]]


class Step(Protocol):
    """One stage of the turn. ``finishing`` steps run even after the turn was halted."""

    name: str
    finishing: bool

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Read and write typed fields of the context."""
        ...


class PipelineRunner:
    """Knows only steps: runs them, times them, logs one event per step."""

    def __init__(self, steps: Sequence[Step], on_failure: FailureHook | None = None) -> None:
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique: {names}")
        self.steps = list(steps)
        self._on_failure = on_failure

    @property
    def step_names(self) -> list[str]:
        """Step names in run order."""
        return [s.name for s in self.steps]

    async def run(self, ctx: TurnContext) -> TurnContext:
        """Run every step (only finishing ones once halted); return the context."""
        with structlog.contextvars.bound_contextvars(
            turn_id=ctx.turn_id, workspace=ctx.inbound.workspace_id
        ):
            started = time.perf_counter()
            steplog = log.bind()  # the lazy logger resolves its configuration once per turn
            for step in self.steps:
                if ctx.halted and not step.finishing:
                    continue
                await self._run_step(step, ctx, steplog)
                if ctx.conversation_id:
                    structlog.contextvars.bind_contextvars(conversation_id=ctx.conversation_id)
            ctx.timings["total"] = _ms_since(started)
            structlog.contextvars.unbind_contextvars("conversation_id")
        return ctx

    async def _run_step(self, step: Step, ctx: TurnContext, steplog: BoundLogger) -> None:
        t0 = time.perf_counter()
        try:
            await step(ctx)
        except Exception as exc:
            ctx.timings[step.name] = _ms_since(t0)
            log.error(events.TURN_FAILED, step=step.name, error=repr(exc))
            if self._on_failure is not None:
                await self._on_failure(ctx, step.name, exc)
            raise
        ctx.timings[step.name] = _ms_since(t0)
        steplog.debug(events.PIPELINE_STEP, step=step.name, ms=ctx.timings[step.name])


def _ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)
