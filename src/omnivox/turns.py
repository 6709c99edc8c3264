"""Turn service: workspace check, per-conversation lock, then the pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from omnivox import events
from omnivox.bus import EventRecord, EventSink
from omnivox.channels.base import ChannelAdapter
from omnivox.identity.consent import sms_keyword
from omnivox.ids import new_id
from omnivox.locks import KeyedLock
from omnivox.pipeline.activity import Activity
from omnivox.pipeline.context import DeltaSink, TurnContext, settle_stored
from omnivox.pipeline.runner import PipelineRunner, Step
from omnivox.pipeline.steps.record import usage_payload
from omnivox.ratelimit import MemoryWindows, Window, Windows, client_key
from omnivox.settings import LimitSettings, Settings
from omnivox.storage.sqlite_driver import short_statements
from omnivox.types import InboundMessage


class UnknownWorkspaceError(LookupError):
    """The message names a workspace this server does not serve."""


class RateLimitedError(Exception):
    """Too many messages a minute: from a customer, a web chat client address, or to a workspace."""

    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(f"more than {limit} messages a minute {scope}; try again shortly")
        self.scope, self.limit, self.retry_after_s = scope, limit, 60


class NotStoredYetError(Exception):
    """A message whose turn waits behind the customer's previous one is not stored yet.

    Its turn goes on; the sender is answered "try again" (webhook 503, SMTP 451), and its
    retry is deduplicated by the provider message id.
    """

    def __init__(self, channel: str) -> None:
        super().__init__(f"a {channel} message waits for the previous turn; retry")
        self.channel = channel


class TurnService:
    """Runs one inbound message through the pipeline, one turn per conversation at a time."""

    def __init__(
        self,
        settings: Settings,
        events: EventSink,
        locks: KeyedLock,
        steps: Sequence[Step],
        activity: Activity | None = None,
        stored: Callable[[InboundMessage], Awaitable[bool]] | None = None,
        windows: Windows | None = None,
    ) -> None:
        self.settings = settings
        self._stored = stored  # whether a message with this provider id is stored already
        self.events = events
        self.locks = locks
        self.activity = activity or Activity()
        self.runner = PipelineRunner(steps, on_failure=self.record_failure)
        self.windows = windows or MemoryWindows()

    async def admit(self, inbound: InboundMessage, *, client_address: str | None = None) -> None:
        """Count ``inbound`` against the limits now; RateLimitedError when over.

        For a channel that must answer its sender before the turn runs (SMTP's reply to DATA,
        web chat's refusal before other tabs see the message): it then passes ``admitted=True``
        to :meth:`handle`, which does not count it again. ``client_address`` (web chat's, the
        one the proxy headers name) is also counted against ``webchat_per_address_per_minute``.
        """
        workspace = self.settings.workspace(inbound.workspace_id)
        if workspace is None:
            raise UnknownWorkspaceError(inbound.workspace_id)
        if not _opt_out_keyword(inbound):  # a STOP is recorded however fast it comes
            await self._within_limits(inbound, workspace.limits, client_address)

    async def handle(
        self,
        inbound: InboundMessage,
        channel: ChannelAdapter[Any],
        sink: DeltaSink | None = None,
        *,
        admitted: bool = False,
        stored: asyncio.Future[bool] | None = None,
    ) -> TurnContext:
        """Answer ``inbound``; ``sink`` receives streamed deltas if the channel streams.

        ``stored`` is resolved as soon as the message is in the database (or the turn ends
        without storing it, or fails first: then with the error).
        """
        workspace = self.settings.workspace(inbound.workspace_id)
        if workspace is None:
            raise UnknownWorkspaceError(inbound.workspace_id)
        if not admitted:
            await self.admit(inbound)
        ctx = TurnContext(
            inbound=inbound,
            workspace=workspace,
            channel=channel,
            turn_id=new_id("turn"),
            sink=sink,
            stored=stored,
        )
        # a turn's statements read and write a few rows by index: on SQLite they run on the
        # loop's thread, with no handoff to aiosqlite's (omnivox.storage.sqlite_driver)
        try:
            with self.activity.turn(), short_statements():
                async with self.locks.hold(inbound.conversation_key), ctx.held:
                    return await self.runner.run(ctx)
        except Exception as exc:
            if stored is not None and not stored.done():
                stored.set_exception(exc)
            raise
        finally:
            settle_stored(ctx, False)

    async def _within_limits(
        self, inbound: InboundMessage, limits: LimitSettings, client_address: str | None
    ) -> None:
        """The limits, except for a retry of a stored message: it gets its stored answer."""
        try:
            await self._check_limits(inbound, limits, client_address)
        except RateLimitedError:
            if self._stored is None or not await self._stored(inbound):
                raise

    async def _check_limits(
        self, inbound: InboundMessage, limits: LimitSettings, client_address: str | None
    ) -> None:
        """Per customer (the sender on their channel), per client address and per workspace.

        Sliding minutes, all checked before any counts the message, so a message one limit
        refuses does not use up the others. Each workspace is a group of its own: a flood of
        senders in one cannot push another's customers out of memory. A message with a provider
        id counts once: the provider's retry after a 503 (the first attempt was admitted, then
        not stored yet, or Redis faltered) takes no second slot.
        """
        ws = inbound.workspace_id
        customer = f"customer:{inbound.conversation_key}"
        checks = [(Window(ws, customer, limits.per_customer_per_minute, 60.0), "from you")]
        if client_address is not None:
            per_address = limits.webchat_per_address_per_minute
            address = Window(ws, f"address:{client_key(client_address)}", per_address, 60.0)
            checks.append((address, "from your network"))
        checks.append(
            (Window(ws, "workspace", limits.per_workspace_per_minute, 60.0), "to this service")
        )
        refused = await self.windows.admit([window for window, _ in checks], _event(inbound))
        if refused is not None:
            window, scope = checks[refused]
            raise RateLimitedError(scope, window.limit)

    async def record_failure(self, ctx: TurnContext, step: str, exc: BaseException) -> None:
        """Failure hook for the runner: the turn is recorded even when it breaks.

        With what its model calls used so far (an answer written, then not delivered, was
        billed): the dashboard counts it in the cost. Not when ``record`` had already counted
        them in ``turn.completed`` (a later step broke).
        """
        used = usage_payload(ctx) if "record" not in ctx.timings else {}
        self.events.emit(
            EventRecord(
                events.TURN_FAILED,
                workspace_id=ctx.inbound.workspace_id,
                conversation_id=ctx.conversation_id,
                turn_id=ctx.turn_id,
                payload={"step": step, "error": repr(exc), **used},
                timings=dict(ctx.timings),
            )
        )


def _event(inbound: InboundMessage) -> str | None:
    """The message's name in the rate-limit windows: its channel's id for it, if any."""
    if inbound.provider_message_id is None:
        return None
    return f"{inbound.channel}:{inbound.provider_message_id}"


def _opt_out_keyword(inbound: InboundMessage) -> bool:
    """An SMS STOP/START keyword: carriers require it honoured, so no limit drops it."""
    return sms_keyword(inbound.channel, inbound.text) is not None
