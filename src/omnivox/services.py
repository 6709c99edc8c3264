"""The one composition root: builds storage, providers, channels and the pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from omnivox import registry
from omnivox.actions.base import Tool
from omnivox.actions.registry import build_tools
from omnivox.analytics.cache import DriftCache
from omnivox.bus import EventSink
from omnivox.bus.memory import QueuedEventWriter
from omnivox.cache.semantic import SemanticCache
from omnivox.channels.api import ApiChannel
from omnivox.channels.base import ChannelAdapter, bounded
from omnivox.channels.build import MessagingChannel, build_messaging
from omnivox.channels.mail.channel import EmailChannel
from omnivox.channels.mail.inbound import InboundMail, Mailboxes, start_smtp
from omnivox.channels.outbox import OutboxWorker
from omnivox.channels.webchat import WebChatChannel
from omnivox.experiments import Assigner
from omnivox.governance.apikeys import ApiKeyStore
from omnivox.governance.rbac import Role
from omnivox.guardrails.grounding import GroundingChecker, GroundingSettings
from omnivox.guardrails.policy import BrandPolicy
from omnivox.handoff.auth import hash_password, password_matches
from omnivox.handoff.console import Console
from omnivox.handoff.wiring import build_console
from omnivox.identity.consent import ConsentStore
from omnivox.identity.keys import load_or_create_key, stored_key
from omnivox.identity.kinds import identity_of
from omnivox.identity.sender import CodeSender
from omnivox.identity.verification import VerificationError, Verifier, normalize
from omnivox.knowledge.chunking import ChunkingSettings
from omnivox.knowledge.embeddings import Embedder, MiniLMEmbedder
from omnivox.knowledge.fusion import DEFAULT_BM25_WEIGHT, FusionSettings
from omnivox.knowledge.remote_embeddings import EmbeddingError, OpenAICompatEmbedder
from omnivox.knowledge.retriever import KnowledgeRetriever
from omnivox.knowledge.service import KnowledgeBase
from omnivox.llm.base import LLMProvider, ToolChooser
from omnivox.llm.chain import ProviderChain
from omnivox.llm.openai_compat import OpenAICompatProvider
from omnivox.llm.prompts import PromptBuilder
from omnivox.locks import KeyedLock
from omnivox.locks.memory import MemoryKeyedLock
from omnivox.logs import get_logger
from omnivox.memory.summarizer import ExtractiveSummarizer, ModelSummarizer, Summarizer
from omnivox.pipeline.activity import Activity
from omnivox.pipeline.runner import Step
from omnivox.pipeline.steps.attach import Attach
from omnivox.pipeline.steps.consent import ConsentKeywords
from omnivox.pipeline.steps.deliver import Deliver
from omnivox.pipeline.steps.experiment import Experiment
from omnivox.pipeline.steps.generate import Generate
from omnivox.pipeline.steps.guard_input import GuardInput
from omnivox.pipeline.steps.guard_output import GuardOutput
from omnivox.pipeline.steps.hold import Hold
from omnivox.pipeline.steps.identify import Identify
from omnivox.pipeline.steps.prepare import Prepare
from omnivox.pipeline.steps.rate import Rate
from omnivox.pipeline.steps.record import Record
from omnivox.pipeline.steps.render import Render
from omnivox.pipeline.steps.retrieve import Retrieve
from omnivox.pipeline.steps.route import RouteStep
from omnivox.pipeline.steps.understand import Understand
from omnivox.pipeline.steps.verify import Verify
from omnivox.privacy.crypto import install, load_ring
from omnivox.privacy.rotation import index_identities
from omnivox.recovery import recover
from omnivox.scaleout import Coordination, coordination
from omnivox.settings import (
    ConfigError,
    LlamaCppSettings,
    OpenAICompatEmbedderSettings,
    Settings,
    WorkspaceSettings,
)
from omnivox.storage.db import Database
from omnivox.storage.identities import IdentityStore
from omnivox.storage.inuse import DataDirBusyError, DataDirLock
from omnivox.storage.knowledge import EmbedderChanged, KnowledgeStore
from omnivox.storage.memory import MemoryRules
from omnivox.storage.outbox import OutboxStore
from omnivox.storage.repositories import Store
from omnivox.storage.retention import scheduled
from omnivox.storage.signals import SignalStore
from omnivox.storage.subjects import SubjectStore
from omnivox.threads import limit_blas_threads
from omnivox.turns import NotStoredYetError, RateLimitedError, TurnService
from omnivox.types import InboundMessage
from omnivox.understanding.service import Understanding

log = get_logger(__name__)
STORED_WAIT_S = 5.0  # the longest SMTP's answer waits for a mail to be stored
KB_RETRY_S = 30.0  # a workspace's knowledge_paths are ingested again after an encoder failure
# the longest a webhook's answer waits for all its messages to be stored: under Slack's 3 s
# (slower acknowledgements are retried, and repeated ones disable the app's events)
WEBHOOK_ACK_S = 2.5


def build_provider(config: Any, data_dir: Path) -> LLMProvider:
    """Instantiate a provider from its typed settings via the registry.

    The bundled model keeps its re-encoded weights under ``<data_dir>/models`` unless the
    configuration names another folder.
    """
    if isinstance(config, LlamaCppSettings) and config.weights_dir is None:
        config = config.model_copy(update={"weights_dir": str(data_dir / "models")})
    cls = registry.load("providers", config.type)
    provider: LLMProvider = cls(config)
    return provider


@dataclass
class Services:
    """Everything the app and the CLI use, opened and closed together."""

    settings: Settings
    db: Database
    store: Store
    events: QueuedEventWriter
    chain: ProviderChain
    turns: TurnService
    api: ApiChannel
    webchat: WebChatChannel
    kb: KnowledgeBase
    understanding: Understanding
    verifier: Verifier
    console: Console
    api_keys: ApiKeyStore
    cache: SemanticCache
    messaging: dict[tuple[str, str], MessagingChannel] = field(default_factory=dict)
    coordination: Coordination = field(default_factory=Coordination)
    drift_cache: DriftCache = field(default_factory=DriftCache)  # the dashboard's reports
    knowledge_ready: bool = False
    understanding_ready: bool = False
    _background: set[asyncio.Task[Any]] = field(default_factory=set)
    _outbox_task: asyncio.Task[None] | None = None
    _outbox: OutboxWorker | None = None
    smtp: asyncio.Server | None = None
    _retention_task: asyncio.Task[None] | None = None
    _knowledge_task: asyncio.Task[None] | None = None  # ingesting while the encoder is down
    _data_dir_lock: DataDirLock = field(init=False)

    def __post_init__(self) -> None:
        self._data_dir_lock = DataDirLock(self.settings.data_dir)

    def submit(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run a turn after its webhook was acknowledged; kept until done, awaited at close."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    async def answer_later(
        self, messages: Sequence[InboundMessage], channel: ChannelAdapter[Any]
    ) -> None:
        """Count a webhook's messages against the limits, then answer them after the ack.

        Counted first so that when Redis (several servers) is down the webhook gets a 503 and
        the provider retries, instead of a 200 for a message never stored; then answered once
        the message is stored (:meth:`answer_stored`), all of them within ``WEBHOOK_ACK_S``
        together. A message over the limits is dropped (a flood is not answered), as logged.
        Every message's turn is started; if one of them is not stored in time the webhook is
        answered 503 (:class:`NotStoredYetError`) once all are started, and the provider's
        retry is deduplicated by the provider message id.
        """
        deadline = asyncio.get_running_loop().time() + WEBHOOK_ACK_S
        not_stored: NotStoredYetError | None = None
        for message in messages:
            try:
                await self.turns.admit(message)
            except RateLimitedError as exc:
                log.warning("turn.rate_limited", channel=message.channel, error=str(exc))
                continue
            left = deadline - asyncio.get_running_loop().time()
            try:
                await self.answer_stored(message, channel, max(0.0, left))
            except NotStoredYetError as exc:
                not_stored = exc
        if not_stored is not None:
            raise not_stored

    async def answer_stored(
        self, message: InboundMessage, channel: ChannelAdapter[Any], wait_s: float = STORED_WAIT_S
    ) -> None:
        """Start answering an admitted message; return once it is in the database.

        A turn that fails before storing it (the database down) raises its error here, so
        the sender's retry (a webhook's 5xx, SMTP's 451) brings the message back. A turn
        waiting behind the customer's previous one for longer than ``wait_s`` (within the
        sender's timeout) goes on, but raises :class:`NotStoredYetError` here, so the sender
        is not told "received" for a message that a Redis failure during that wait would lose;
        its retry is recognised by the provider message id (stored by then: acknowledged; not
        yet: the same answer). A message with no provider id, which a retry would store twice,
        is acknowledged anyway.
        """
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        stored.add_done_callback(_seen)  # its error is logged by the turn, not by asyncio
        limit = self.settings.server.max_text_chars
        turn = self.turns.handle(bounded(message, limit), channel, admitted=True, stored=stored)
        self.submit(turn)
        try:
            async with asyncio.timeout(wait_s):
                await asyncio.shield(stored)
            return
        except TimeoutError:
            pass
        if message.provider_message_id is None:
            log.info("turn.acknowledged_before_stored", channel=message.channel)
            return
        if await self.store.has_provider_id(message):  # a retry of one stored before
            log.info("turn.acknowledged_stored_before", channel=message.channel)
            return
        log.info("turn.not_stored_yet", channel=message.channel)
        raise NotStoredYetError(message.channel)

    async def recover(self) -> int:
        """Answer the messages the last stop left unanswered (``omnivox.recovery``)."""
        minutes = self.settings.server.recover_minutes
        return await recover(self.store, self.turns, self.console.replies.channel_for, minutes)

    def prepare_step(self) -> Prepare | None:
        """The pipeline's prepare step (reads ahead for next turns), if it has one."""
        return next((s for s in self.turns.runner.steps if isinstance(s, Prepare)), None)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        if isinstance(task.exception(), RateLimitedError):  # dropped: a flood is not answered
            log.warning("turn.rate_limited", error=str(task.exception()))
            return
        # the runner already recorded turn.failed; this keeps the error in the log too
        log.error("webhook.turn_failed", error=repr(task.exception()))

    async def start(self, *, warm_up: bool = True) -> None:
        """Migrate the database, sync workspaces and seed data; optionally load the models."""
        try:  # shared by every server on this data dir; a key rotation takes it exclusively
            self._data_dir_lock.hold(exclusive=False)
        except DataDirBusyError:
            raise ConfigError(
                self.settings.config_file,
                "data_dir",
                f"{self.settings.data_dir} is being re-keyed (omnivox keys rotate): start the "
                "server when it is done",
            ) from None
        await self.coordination.start()  # Redis when scaled out: a bad redis.url fails here
        async with self.db.exclusive("omnivox:start"):  # one starting server at a time
            await self.db.migrate()
            await index_identities(self.db)
            for ws in self.settings.workspaces:
                await self.store.ensure_workspace(ws.id, ws.name)
                await self._seed(ws.id, ws.seed.customers, ws.understanding.phone_region)
                await self._seed_agents(ws)
                await self._seed_api_keys(ws)
        if self.messaging:
            worker = OutboxWorker(
                OutboxStore(self.db), self.messaging, consents=ConsentStore(self.db)
            )
            self._outbox = worker
            self._outbox_task = asyncio.create_task(worker.run())
        if warm_up:
            await self.start_models()

    async def _stop_outbox(self) -> None:
        """Let a send in progress finish (up to 30 s: a provider's timeout), then stop."""
        assert self._outbox_task is not None
        if self._outbox is not None:
            self._outbox.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._outbox_task), 30)
        self._outbox_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._outbox_task

    def start_retention(self) -> None:
        """Purge old conversation data now and daily (``retention_days``), in the background."""
        periods = [(ws.id, ws.retention_days) for ws in self.settings.workspaces]
        if any(days for _, days in periods):
            task = scheduled(self.db, periods, after=self._expire_cache)
            self._retention_task = asyncio.create_task(task)

    def _expire_cache(self, now: float | None = None) -> None:
        """Cached questions are conversation data: they leave with the retention period."""
        now = time.time() if now is None else now
        for ws in self.settings.workspaces:
            if ws.retention_days:
                self.cache.expire(ws.id, now - ws.retention_days * 86400)
                self.drift_cache.forget(ws.id)  # its knowledge gaps quote questions

    async def start_mail(self) -> None:
        """Listen for email (``server.smtp_listen``) when a workspace has support mailboxes."""
        channels = {
            ws: ch for (ws, _), ch in self.messaging.items() if isinstance(ch, EmailChannel)
        }
        listen = self.settings.server.smtp_listen
        if not channels or listen == "off":
            return
        host, port = listen.rsplit(":", 1)
        # counted against the limits, then stored, before SMTP says 250
        handler = InboundMail(
            Mailboxes(channels),
            self.answer_stored,
            self.coordination.windows,
            self.turns.admit,
            self.store.earlier_in_thread,
        )
        try:
            self.smtp = await start_smtp(
                handler, host, int(port), self.settings.server.smtp_max_bytes
            )
        except OSError as exc:
            raise ConfigError(
                self.settings.config_file,
                "server.smtp_listen",
                f"an address this server can listen on; {listen} failed ({exc.strerror}). "
                "Choose another with --smtp or OMNIVOX_SMTP_LISTEN, or 'off'",
            ) from None
        addresses = sorted(a for ch in channels.values() for a in ch.addresses)
        log.info("email.listening", address=self.smtp_address, mailboxes=addresses)

    @property
    def smtp_address(self) -> str | None:
        """``host:port`` the SMTP server listens on (the real port when 0 was asked for)."""
        if self.smtp is None or not self.smtp.sockets:
            return None
        host, port = self.smtp.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def start_models(self) -> None:
        """Load the local model, train intents, ingest each workspace's ``knowledge_paths``."""
        for provider in self.chain.providers:
            warm = getattr(provider, "warm_up", None)
            if warm is not None:
                await warm()
        await self.understanding.train()
        self.understanding_ready = True
        pending = [ws for ws in self.settings.workspaces if ws.knowledge_paths]
        pending = [ws for ws in pending if not await self._ingest_knowledge(ws)]
        if pending:  # an encoder that is down: ready once it answers
            self._knowledge_task = asyncio.create_task(self._ingest_until_done(pending))
        else:
            self.knowledge_ready = True

    async def _ingest_knowledge(self, ws: WorkspaceSettings) -> bool:
        """Ingest ``ws``'s ``knowledge_paths``; False when the encoder could not (try again).

        A server does not embed stored chunks again for a new encoder (``omnivox kb ingest``
        does, :mod:`omnivox.knowledge.service`): it logs what to run and searches by keywords.
        """
        paths = [self.settings.resolve_path(p) for p in ws.knowledge_paths]
        try:
            await self.kb.ingest(ws.id, paths, reembed=False)
            await self.kb.index(ws.id)
        except EmbedderChanged as exc:
            fix = "run omnivox kb ingest (or kb reembed) with this configuration"
            log.error("kb.ingest_refused", workspace=ws.id, error=str(exc), fix=fix)
        except EmbeddingError as exc:
            log.error("kb.ingest_failed", workspace=ws.id, error=str(exc), retry_s=KB_RETRY_S)
            return False
        return True

    async def _ingest_until_done(self, pending: list[WorkspaceSettings]) -> None:
        while pending:
            await asyncio.sleep(KB_RETRY_S)
            pending = [ws for ws in pending if not await self._ingest_knowledge(ws)]
        self.knowledge_ready = True

    async def _seed_agents(self, ws: WorkspaceSettings) -> None:
        """Create or update ``seed.agents``, except those ``omnivox agents remove`` removed.

        A removed agent stays removed (a warning names the seed entry); ``omnivox agents add``
        with the email makes a new account, which the seed then keeps up to date again.
        """
        handoffs, seeded = self.console.handoffs, 0
        for index, agent in enumerate(ws.seed.agents):
            secret, email = agent.password.get_secret_value(), agent.email.lower()
            stored = await handoffs.agent_by_email(ws.id, email)
            if stored is None and await handoffs.was_removed(ws.id, email):
                fix = "delete the entry, or omnivox agents add the agent again"
                entry = f"seed.agents[{index}]"
                log.warning("workspace.seed_agent_removed", workspace=ws.id, entry=entry, fix=fix)
                continue
            # an unchanged password keeps its hash: a new one would end the agent's sessions
            if stored is not None and await password_matches(stored.password_hash, secret):
                password = stored.password_hash
            else:
                password = await asyncio.to_thread(hash_password, secret)
            await handoffs.add_agent(ws.id, email, agent.name, agent.role, password)
            seeded += 1
        if seeded:
            log.info("workspace.agents_seeded", workspace=ws.id, agents=seeded)

    async def _seed_api_keys(self, ws: WorkspaceSettings) -> None:
        for seed in ws.seed.api_keys:
            token = seed.key.get_secret_value()
            if await self.api_keys.seed(ws.id, Role(seed.role), seed.name, token):
                log.warning("workspace.api_key_seeded", workspace=ws.id, name=seed.name)

    async def _seed(self, workspace_id: str, customers_file: str | None, region: str) -> None:
        if not customers_file:
            return
        path = self.settings.resolve_path(customers_file)
        key = f"workspaces[{workspace_id}].seed.customers"
        try:
            rows = json.loads(await asyncio.to_thread(Path(path).read_text, encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                str(path), key, f"a readable JSON list of customers ({exc})"
            ) from None
        phones = _seeded_phones(rows, region, str(path), key)  # all checked before any is written
        # a customer erased on request stays erased: the seed file is not a reason to keep them
        # (keyed with the key ring; records made before 2026-12-05: with a signing key)
        signing = [self.verifier.key, stored_key(self.settings.data_dir) or self.verifier.key]
        gone = await SubjectStore(self.db).erased(
            workspace_id, signing, [str(r["id"]) for r in rows]
        )
        for i, row in enumerate(rows):
            if str(row["id"]) in gone:
                continue
            identities = [identity_of("email", row["email"])] if row.get("email") else []
            stale = []
            if i in phones:
                phone = ("phone", phones[i])
                identities.append(phone)
                # until 2026-12-05 a seeded phone was stored as written ("+1 (720) 555-0177")
                written = identity_of("sms", str(row["phone"]))
                if written != phone:
                    stale.append(written)
            attributes = {k: v for k, v in row.items() if k not in ("id", "name")}
            await self.store.upsert_customer(
                workspace_id, row["id"], row.get("name"), attributes, identities, stale
            )
        log.info("workspace.seeded", workspace=workspace_id, customers=len(rows))

    async def ready(self) -> dict[str, bool]:
        """Readiness of each dependency."""
        shared = {"redis": await self.coordination.ping()} if self.coordination.pinger else {}
        return {
            **shared,
            "database": await self.db.ping(),
            "model": await self.chain.ready(),
            "knowledge": self.knowledge_ready
            or not any(ws.knowledge_paths for ws in self.settings.workspaces),
            "understanding": self.understanding_ready
            or not any(nlu.has_intents for nlu in self.understanding.workspaces.values()),
        }

    async def close(self) -> None:
        """Finish acknowledged turns, write events, close providers, channels and database."""
        if self.smtp is not None:
            self.smtp.close()
            await self.smtp.wait_closed()
        for task in (self._retention_task, self._knowledge_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._outbox_task is not None:  # stopped before the database closes under it
            await self._stop_outbox()
        if self._background:
            await asyncio.wait(set(self._background), timeout=30)
        prepare = self.prepare_step()
        if prepare is not None:  # reading ahead for a next turn that won't come
            await prepare.close()
        await self.console.close()
        for channel in self.messaging.values():
            await channel.close()
        await self.events.close()
        await self.kb.close()
        await self.chain.close()
        await self.coordination.close()
        await self.db.close()
        self._data_dir_lock.release()


@dataclass(frozen=True)
class Components:
    """What the pipeline steps are built from."""

    store: Store
    chain: ProviderChain
    events: EventSink
    kb: KnowledgeBase
    understanding: Understanding
    tools: dict[str, dict[str, Tool]]
    verifier: Verifier
    console: Console
    key: Callable[[], bytes]  # the server's signing key (placeholders, codes, sessions)
    cache: SemanticCache
    activity: Activity = field(default_factory=Activity)  # turns in progress
    # one turn at a time per sender and channel (the turn service) and per customer (identify)
    locks: KeyedLock = field(default_factory=MemoryKeyedLock)


def _seeded_phones(rows: Any, region: str, file: str, key: str) -> dict[int, str]:
    """The E.164 form of each seeded customer's ``phone``, by row (as verification writes it).

    A phone written any other way ("(720) 555-0177", "+1 720-555-0177") is the same identity an
    SMS, call or WhatsApp message from that number arrives as; one that is no phone number is
    a ConfigError naming the file, the key and the customer.
    """
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r for r in rows):
        raise ConfigError(file, key, "a JSON list of customers, each with an id")
    phones: dict[int, str] = {}
    for i, row in enumerate(rows):
        if not row.get("phone"):
            continue
        try:
            phones[i] = normalize("phone", str(row["phone"]), region)
        except VerificationError:
            raise ConfigError(
                file,
                f"{key}[{i}].phone",
                f"a phone number (customer {row['id']!r} has {row['phone']!r}; without a "
                f"country code it is read as in understanding.phone_region {region})",
            ) from None
    return phones


def summarizer(
    settings: Settings, chain: ProviderChain, events: EventSink | None = None
) -> Summarizer:
    """The model writes summaries when asked to, or (auto) when one is worth asking.

    A model's summaries record their usage in ``events`` (``llm.usage``, purpose ``summary``).
    """
    limit, choice = settings.memory.summary_chars, settings.memory.summarizer
    capable = next((p for p in chain.providers if isinstance(p, OpenAICompatProvider)), None)
    if choice == "model" and capable is None:
        raise ConfigError(
            settings.config_file,
            "memory.summarizer",
            "'model' needs an openai_compat provider in llm.providers (or use auto/extractive)",
        )
    if choice != "extractive" and capable is not None:
        return ModelSummarizer(capable, limit, events)
    return ExtractiveSummarizer(limit)


def tool_chooser(chain: ProviderChain) -> ToolChooser | None:
    """The first provider configured to let its model choose tools (``tools: true``)."""
    for provider in chain.providers:
        if isinstance(provider, OpenAICompatProvider) and provider.settings.tools:
            return provider
    return None


def build_components(
    settings: Settings,
    db: Database,
    chain: ProviderChain,
    events: EventSink,
    messaging: Mapping[tuple[str, str], MessagingChannel],
    builtin: tuple[ChannelAdapter[Any], ...] = (),
    coord: Coordination | None = None,
) -> Components:
    """Stores, knowledge base, understanding, each workspace's tools, the verifier."""
    store, signals = Store(db), SignalStore(db)
    kb = build_knowledge(settings, db)
    tools = {ws.id: build_tools(settings, ws, signals) for ws in settings.workspaces}
    sms_from = {
        ws.id: ws.channels.twilio.from_number
        for ws in settings.workspaces
        if ws.channels.twilio is not None
    }

    @functools.cache  # read (or created) once: every turn's redaction vault needs it
    def key() -> bytes:
        return load_or_create_key(settings.data_dir, settings.server.secret_key.get_secret_value())

    verifier = Verifier(IdentityStore(db), CodeSender(messaging, sms_from), key, events)
    channels: dict[tuple[str, str], ChannelAdapter[Any]] = {
        **messaging,
        **{("*", ch.name): ch for ch in builtin},
    }
    coord = coord or Coordination()
    console = build_console(settings, store, chain, kb, channels, key, events, coord.peers)
    understanding = Understanding(settings, kb.bundled)
    k = settings.knowledge
    cache = SemanticCache(kb.bundled, kb.version, k.cache_threshold, k.cache_entries)
    return Components(
        store,
        chain,
        events,
        kb,
        understanding,
        tools,
        verifier,
        console,
        key,
        cache,
        locks=coord.locks,
    )


def build_steps(settings: Settings, c: Components) -> list[Step]:
    """The pipeline in DESIGN.md's order."""
    store, chain, events, kb = c.store, c.chain, c.events, c.kb
    signals, cache = SignalStore(store.db), c.cache
    prompts = {
        ws.id: PromptBuilder(settings.resolve_path(ws.prompts_dir) if ws.prompts_dir else None)
        for ws in settings.workspaces
    }
    guard = GuardInput(store, c.key) if settings.privacy.redact else GuardInput()
    attach = Attach(
        store,
        settings.llm.history_turns,
        timedelta(hours=settings.memory.continuity_hours),
        MemoryRules(settings.memory.summarize_every * 2, settings.memory.fold_wait_turns * 2),
        summarizer(settings, chain, events),
        guard.vault,
    )
    generate = Generate(
        chain,
        prompts,
        max_tokens=settings.llm.max_tokens,
        temperature=settings.llm.temperature,
        restore=frozenset(settings.privacy.restore),
        prompt_words=settings.knowledge.prompt_words,
    )
    retrieve = Retrieve(
        KnowledgeRetriever(kb, settings.knowledge.min_similarity, settings.knowledge.question_lead),
        settings.knowledge.top_k,
        history_messages=settings.knowledge.history_messages,
        cache=cache,
    )
    assigners = {ws.id: Assigner(ws, ws.experiment) for ws in settings.workspaces if ws.experiment}
    return [
        Identify(store, c.locks),
        *([Experiment(assigners)] if assigners else []),
        attach,
        ConsentKeywords(ConsentStore(store.db)),
        # while a person holds the conversation, nothing of the bot's speaks: not a code
        # offer (verify) nor a rating thanks for a number the customer gave the agent (rate)
        Hold(c.console.bus),
        Verify(c.verifier, store, c.console.desk),
        Rate(c.console.handoffs),
        guard,
        Understand(c.understanding, signals),
        RouteStep(
            c.understanding,
            c.tools,
            events,
            tool_chooser(chain),
            c.console.desk,
            restore=frozenset(settings.privacy.restore),
        ),
        retrieve,
        generate,
        GuardOutput(
            grounding_checker(settings, kb),
            {ws.id: BrandPolicy(ws.persona) for ws in settings.workspaces},
            cache=cache,
        ),
        Render(),
        Deliver(store, OutboxStore(store.db), ConsentStore(store.db)),
        Record(events),
        Prepare(attach, generate, c.activity, retrieve, guard),
    ]


def build_services(settings: Settings) -> Services:
    """Wire everything from settings; nothing is opened until :meth:`Services.start`."""
    limit_blas_threads()
    if settings.privacy.encrypt:
        install(load_ring(settings.data_dir))
    db = Database(
        settings.database_url, schema=settings.database.schema_name, echo=settings.database.echo
    )
    data_dir = Path(settings.data_dir)
    chain = ProviderChain([build_provider(p, data_dir) for p in settings.llm.providers])
    store = Store(db)
    events = QueuedEventWriter(store.add_events)
    messaging = build_messaging(settings)
    coord = coordination(settings)
    api, webchat = ApiChannel(), WebChatChannel(settings.server.max_text_chars, coord.peers)
    c = build_components(settings, db, chain, events, messaging, (api, webchat), coord)
    steps = build_steps(settings, c)
    turns = TurnService(
        settings, events, c.locks, steps, c.activity, c.store.has_provider_id, coord.windows
    )
    return Services(
        settings,
        db,
        c.store,
        events,
        chain,
        turns,
        api,
        webchat,
        c.kb,
        c.understanding,
        c.verifier,
        c.console,
        ApiKeyStore(db),
        c.cache,
        messaging,
        coord,
    )


def grounding_checker(settings: Settings, kb: KnowledgeBase) -> GroundingChecker | None:
    """The grounding guard, unless switched off in ``guardrails.grounding``."""
    g = settings.guardrails
    if not g.grounding:
        return None
    return GroundingChecker(
        kb.bundled, GroundingSettings(g.min_cosine, g.min_overlap, g.min_kept_fraction)
    )


def build_knowledge(settings: Settings, db: Database) -> KnowledgeBase:
    """The knowledge base with the configured encoder, chunking and fusion."""
    k = settings.knowledge
    bundled = MiniLMEmbedder()
    embedder: Embedder = bundled
    if isinstance(k.embedder, OpenAICompatEmbedderSettings):
        embedder = OpenAICompatEmbedder(k.embedder)
    return KnowledgeBase(
        KnowledgeStore(db),
        embedder,
        Path(settings.data_dir),
        ChunkingSettings(max_words=k.chunk_words),
        FusionSettings(
            method=k.fusion,
            rrf_k=k.rrf_k,
            dense_weight=k.dense_weight,
            bm25_weight=DEFAULT_BM25_WEIGHT[k.fusion] if k.bm25_weight is None else k.bm25_weight,
            match_titles=k.match_titles,
            faq_question_weight=k.faq_question_weight,
            faq_bm25_weight=k.faq_bm25_weight,
        ),
        bundled,
    )


def _seen(future: asyncio.Future[bool]) -> None:
    """Mark a stored-future's outcome as looked at (the webhook may have answered already)."""
    if not future.cancelled():
        future.exception()
