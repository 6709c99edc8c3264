"""Model calls made for a workspace outside a turn's answer record what they used.

A turn's model calls (the tool choice's too) are counted in its ``turn.completed`` event, or in
its ``turn.failed`` one when it broke after them. The others (a handoff's suggested reply,
campaign copy, the rolling summary a model writes) each write one
``llm.usage`` event through :class:`MeteredChain`: its ``purpose``, the ``provider`` that
answered (None when none did), ``outcome`` (``ok``, ``failed`` or ``cancelled``), the tokens and
cost of every attempt, failed ones included as :class:`~omnivox.llm.chain.ChainTrace` counts
them, and the failed attempts themselves as ``fallbacks``. The dashboard adds them to the turns'
tokens and cost (:mod:`omnivox.analytics.metrics`).

A call cancelled on its way (the server shutting down, a task given up) records what it used so
far, the provider then answering with its streamed tokens estimated, as ``cancelled``; the event
is only queued (nothing awaited), so the cancellation goes on at once. Until 2026-12-06 such a
call wrote no event.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from omnivox import events
from omnivox.bus import EventRecord, EventSink
from omnivox.llm.base import Completion, CompletionRequest
from omnivox.llm.chain import ChainTrace, ProviderChain

Purpose = Literal["suggestion", "campaign", "summary"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom a model call is made for, and why (the ``llm.usage`` event's owner and purpose)."""

    workspace_id: str
    purpose: Purpose
    conversation_id: str | None = None


class MeteredChain:
    """A provider chain whose every call writes an ``llm.usage`` event.

    Without ``events`` (a component used on its own, as in tests) nothing is written.
    """

    def __init__(self, chain: ProviderChain, events: EventSink | None) -> None:
        self.chain = chain
        self.events = events

    async def complete(self, request: CompletionRequest, caller: Caller | None) -> Completion:
        """The chain's completion; its usage is recorded for ``caller``, failed or not.

        Cancelled, it records what was used so far and the cancellation propagates. With no
        ``caller`` (a component called on its own) nothing is written.
        """
        trace = ChainTrace()
        try:
            completion = await self.chain.complete(request, trace)
        except asyncio.CancelledError:
            self._record(caller, trace, "cancelled")
            raise
        except Exception:
            self._record(caller, trace, "failed")
            raise
        self._record(caller, trace, "ok")
        return completion

    def _record(self, caller: Caller | None, trace: ChainTrace, outcome: str) -> None:
        if self.events is not None and caller is not None:
            self.events.emit(usage_event(caller, trace, outcome))


def usage_event(caller: Caller, trace: ChainTrace, outcome: str) -> EventRecord:
    """The ``llm.usage`` event of one call: every attempt's tokens and cost."""
    spent = trace.spent()
    payload: dict[str, Any] = {
        "purpose": caller.purpose,
        "provider": trace.provider,
        "outcome": outcome,
        "prompt_tokens": spent.prompt_tokens,
        "completion_tokens": spent.completion_tokens,
        "cached_tokens": spent.cached_tokens,
        "cost_usd": spent.cost_usd,
        "estimated": spent.estimated,
        "fallbacks": trace.failures,
        "model_ms": trace.model_ms,
    }
    return EventRecord(
        events.LLM_USAGE,
        workspace_id=caller.workspace_id,
        conversation_id=caller.conversation_id,
        payload=payload,
    )
