"""Typed settings: ``omnivox.yaml`` + ``${ENV}`` interpolation + ``OMNIVOX_*`` overrides.

Loading order: the YAML file, then ``${VAR}`` / ``${VAR:-default}`` interpolation inside string
values, then environment overrides, then validation. Every failure raises :class:`ConfigError`
naming the file, the key path and what was expected.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
)

from omnivox import registry
from omnivox.channels.config import ChannelSettings
from omnivox.understanding.config import UnderstandingSettings
from omnivox.unique import first_repeat, unique

ENV_PREFIX = "OMNIVOX_"
# Short, documented aliases for the overrides people reach for first.
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "OMNIVOX_DATABASE_URL": ("database", "url"),
    "OMNIVOX_REDIS_URL": ("redis", "url"),
    "OMNIVOX_DATA_DIR": ("data_dir",),
    "OMNIVOX_HOST": ("server", "host"),
    "OMNIVOX_PORT": ("server", "port"),
    "OMNIVOX_SMTP_LISTEN": ("server", "smtp_listen"),
    "OMNIVOX_LOG_FORMAT": ("log_format",),
    "OMNIVOX_LOG_LEVEL": ("log_level",),
}
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A configuration problem, pointing at the file and key that caused it."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        self.file, self.key, self.expected = file, key, expected
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {expected}")


class _Model(BaseModel):
    # an environment override is parsed as YAML: a numeric secret or path stays a string
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class ServerSettings(_Model):
    """HTTP server options."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    webhook_max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_text_chars: int = Field(4000, ge=1)
    # on start, answer customer messages of the last N minutes that a stop left stored but
    # unanswered (0: never; omnivox/recovery.py)
    recover_minutes: int = Field(15, ge=0)
    # Signs verification codes and links; empty: a random key kept in <data_dir>/secret.key.
    secret_key: SecretStr = SecretStr("")
    # The inbound SMTP server (workspaces' ``channels.email``): host:port, or "off".
    smtp_listen: str = Field("127.0.0.1:2525", pattern=r"^(off|[^:\s]+:\d{1,5})$")
    # Larger mail is refused with SMTP 552 (announced in EHLO's SIZE, checked while reading).
    smtp_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    # Peers (a load balancer, a reverse proxy) whose X-Forwarded-For / X-Forwarded-Proto name
    # the client: addresses or CIDR networks. Login and web chat limits count the client's
    # address; "*" trusts every peer, so that any client could pick the address it is counted as.
    forwarded_allow_ips: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # uvicorn's limit_concurrency: open connections (WebSockets and idle keep-alive ones
    # included) past which a request is answered 503, so that slow clients cannot pile up
    # without end; 1 would refuse every request (the asking one counts).
    limit_concurrency: int = Field(1000, ge=2)
    # uvicorn's timeout_keep_alive: seconds an idle keep-alive connection is kept open.
    timeout_keep_alive: int = Field(5, ge=1)

    @field_validator("smtp_listen")
    @classmethod
    def _smtp_port_in_range(cls, value: str) -> str:
        if value != "off" and not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
            raise ValueError("the port must be 1 to 65535 (host:port, or off)")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: list[str]) -> list[str]:
        if value == ["*"]:
            return value
        for entry in value:
            try:  # strict, as uvicorn reads it: 10.0.0.1/8 would silently trust nobody
                ipaddress.ip_network(entry)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 10.0.0.0/8); "
                    'or the list ["*"] alone'
                ) from None
        return value


class DatabaseSettings(_Model):
    """Where state lives. ``url`` unset means SQLite at ``<data_dir>/omnivox.db``."""

    url: str | None = None
    # PostgreSQL folds unquoted names to lower case: a name with capitals or a hyphen was
    # created quoted, then not found on the search path
    schema_name: str | None = Field(None, alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    echo: bool = False


class RedisSettings(_Model):
    """Scale-out: several servers share turn locks, rate limits and live events through Redis.

    ``url`` unset (the default) keeps all of it in the process (one server). The URL may carry
    a password (``redis://:secret@host:6379/0``); ``rediss://`` speaks TLS.
    """

    url: SecretStr | None = None
    # every key and channel name starts with it: several deployments can share one Redis
    prefix: str = Field("omnivox", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # a lock's lease, renewed while held: a server that dies frees its turns' locks after this
    lock_lease_s: float = Field(30.0, ge=1.0, le=600.0)

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.match(r"^(redis|rediss|unix)://", value.get_secret_value()):
            raise ValueError("a redis://, rediss:// or unix:// URL")
        return value


# how the bundled model's weights are stored for llama.cpp (llm/llama_weights.py)
Weights = Literal["q8_0", "q4_0", "f16", "shipped"]


class LlamaCppSettings(_Model):
    """The bundled local model (SmolLM2-135M-Instruct GGUF) run by llama-cpp-python."""

    type: Literal["llamacpp"]
    model_path: str | None = None
    # the bundled model's weights as llama.cpp reads them (llm/llama_weights.py): re-encoded
    # once from the shipped Q4_1 into weights_dir (the server: <data-dir>/models) as q8_0
    # (prompts read ~1.5x faster on AVX2), f16 (reads faster, writes slower), q4_0 (reads
    # like f16, writes fastest, answers measurably worse: docs/knowledge.md), or "shipped" to
    # load the file as it is. A model_path is always loaded as it is, and so is the bundled
    # file when weights_dir is unset.
    weights: Weights = "q8_0"
    weights_dir: str | None = None
    # 4096 holds the verbatim history at its longest (history_turns + summarize_every +
    # memory.fold_wait_turns turns of short messages) without cutting, so the prompt's start
    # stays put between folds (KV ~23 KB a token)
    n_ctx: int = Field(4096, ge=256)
    n_threads: int | None = None
    # llama.cpp's fused ("flash") attention: on 2 AMD EPYC cores it reads a long new part of a
    # prompt (passages) in 0.83-0.93x the time, but short ones (a question whose passages a
    # draft read ahead) and each written token up to 1.6x slower the longer the context held
    # (bench/attention.py; docs/performance.md, "First web-chat token"): off by default
    flash_attn: bool = False
    timeout_s: float = Field(30.0, gt=0)
    # saved conversation states (llm/llama_state.py): a long conversation's is 20-35 MB
    prompt_cache_mb: int = Field(256, ge=0)


class OpenAICompatSettings(_Model):
    """Any server that speaks OpenAI's ``/v1/chat/completions`` (vLLM, Ollama, OpenAI...)."""

    type: Literal["openai_compat"]
    base_url: str
    model: str
    api_key: SecretStr | None = None
    timeout_s: float = Field(30.0, gt=0)
    connect_timeout_s: float = Field(5.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    # The model supports OpenAI tool calls: it may choose an action (order_status, ...) itself
    # when no intent rule did (one extra short call per answered turn).
    tools: bool = False
    # The model's context window; prompts are cut to it (oldest history first).
    context_tokens: int = Field(8192, ge=512)
    price_per_1k_input: float = Field(0.0, ge=0)
    price_per_1k_output: float = Field(0.0, ge=0)


class ExtractiveSettings(_Model):
    """No model: answers with the best sentences of the retrieved passages."""

    type: Literal["extractive"]
    max_sentences: int = Field(3, ge=1)
    timeout_s: float = Field(5.0, gt=0)


class ScriptedSettings(_Model):
    """Test double (``omnivox.testing``): replies from a script, with optional delay/failure."""

    type: Literal["scripted"]
    reply: str = "{question}"
    delay_s: float = Field(0.0, ge=0)
    word_delay_s: float = Field(0.0, ge=0)
    fail: bool = False
    timeout_s: float = Field(5.0, gt=0)


class PluginProviderSettings(_Model):
    """A provider installed by another package (entry point ``omnivox.providers``).

    Every key beside ``type`` and ``timeout_s`` is kept as written for the plug-in to read.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str
    timeout_s: float = Field(30.0, gt=0)

    @field_validator("type")
    @classmethod
    def _installed(cls, value: str) -> str:
        known = registry.names("providers")
        if value not in known:
            raise ValueError(f"a provider type: one of {', '.join(known)}")
        return value


_BUILTIN_PROVIDER_TYPES = ("llamacpp", "openai_compat", "extractive", "scripted")


def _provider_tag(value: Any) -> str:
    """The settings class of a provider entry: its built-in type, else a plug-in's."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in _BUILTIN_PROVIDER_TYPES else "plugin"


ProviderSettings = Annotated[
    Annotated[LlamaCppSettings, Tag("llamacpp")]
    | Annotated[OpenAICompatSettings, Tag("openai_compat")]
    | Annotated[ExtractiveSettings, Tag("extractive")]
    | Annotated[ScriptedSettings, Tag("scripted")]
    | Annotated[PluginProviderSettings, Tag("plugin")],
    Discriminator(_provider_tag),
]


def _default_providers() -> list[ProviderSettings]:
    return [LlamaCppSettings(type="llamacpp"), ExtractiveSettings(type="extractive")]


class LLMSettings(_Model):
    """The provider chain: tried in order, falling back on error or timeout."""

    providers: list[ProviderSettings] = Field(default_factory=_default_providers)
    max_tokens: int = Field(200, ge=1, le=8192)
    temperature: float = Field(0.3, ge=0, le=2)
    history_turns: int = Field(6, ge=0, le=100)

    @field_validator("providers")
    @classmethod
    def _not_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("at least one provider is required")
        return value


class MemorySettings(_Model):
    """What a conversation remembers, and across channels for how long (docs/identity.md)."""

    # a known customer writing on any channel within this many hours resumes their open
    # conversation; after it, a new one starts (email replies naming a thread always join it)
    continuity_hours: float = Field(72.0, gt=0)
    # earlier turns are folded into a rolling summary this many turns at a time
    summarize_every: int = Field(10, ge=2, le=50)
    # a due fold waits for a quiet moment (no turn in progress); a turn folds for itself only
    # this many turns later. A fold makes the local model re-read the whole conversation.
    fold_wait_turns: int = Field(10, ge=0, le=50)
    summary_chars: int = Field(1200, ge=200, le=20000)
    # who writes the summary: auto = a model when the chain has an OpenAI-compatible provider
    summarizer: Literal["auto", "extractive", "model"] = "auto"


PiiKind = Literal["EMAIL", "PHONE", "NAME", "CARD", "IBAN", "SSN", "IP"]


def _default_restore() -> list[PiiKind]:
    return ["EMAIL", "PHONE", "NAME"]


class PrivacySettings(_Model):
    """Personal data and the models (docs/privacy.md)."""

    # replace emails, phones, cards, IBANs, SSNs, IPs and the customer's own name, email and
    # phone with placeholders before any model sees the text
    redact: bool = True
    # placeholder kinds put back into replies; the others are shown masked (•••• 4242)
    restore: list[PiiKind] = Field(default_factory=_default_restore)
    # encrypt message text, summaries, notes, tickets and profile attributes at rest (AES-GCM)
    encrypt: bool = True


class BundledEmbedderSettings(_Model):
    """The bundled all-MiniLM-L6-v2, in process (no network)."""

    type: Literal["bundled"] = "bundled"


class OpenAICompatEmbedderSettings(_Model):
    """Any server that speaks OpenAI's ``/v1/embeddings`` (vLLM, Ollama, TEI, OpenAI...).

    Used for the knowledge base's passages and queries only (docs/knowledge.md, "A stronger
    encoder"); ``query_prefix`` and ``document_prefix`` are what models such as E5 ("query: ",
    "passage: ") or nomic-embed-text ("search_query: ", "search_document: ") expect.
    """

    type: Literal["openai_compat"]
    base_url: str
    model: str
    api_key: SecretStr | None = None
    # ask the server for vectors this wide (OpenAI text-embedding-3-*); unset: the model's own
    dimensions: int | None = Field(None, ge=1, le=16384)
    batch_size: int = Field(64, ge=1, le=2048)
    timeout_s: float = Field(30.0, gt=0)  # one request of passages (ingest)
    connect_timeout_s: float = Field(5.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)  # passages only: a query is never retried
    # a turn's query: one try this long, then the search uses keywords (and the server is not
    # asked again for breaker_s seconds)
    query_timeout_s: float = Field(2.0, gt=0)
    breaker_s: float = Field(30.0, ge=0)
    query_prefix: str = ""
    document_prefix: str = ""


EmbedderSettings = Annotated[
    BundledEmbedderSettings | OpenAICompatEmbedderSettings, Field(discriminator="type")
]


class KnowledgeSettings(_Model):
    """Chunking and retrieval; defaults tuned with bench/retrieval.py (docs/knowledge.md)."""

    chunk_words: int = Field(120, ge=20, le=2000)
    top_k: int = Field(4, ge=1, le=50)
    # passage words in the model's prompt: the sentences that best match the question are kept
    # (knowledge/focus.py); 0 sends whole passages. Citations and the guard see whole passages.
    prompt_words: int = Field(120, ge=0, le=20000)
    history_messages: int = Field(6, ge=0, le=40)
    # the latest message is searched alone too; its scores are raised by this much against the
    # in-context search's (a customer who changes the subject; docs/knowledge.md)
    question_lead: float = Field(0.1, ge=0, le=2)
    min_similarity: float = Field(0.25, ge=-1, le=1)
    cache_threshold: float = Field(0.92, ge=0, le=1)
    cache_entries: int = Field(2000, ge=0)
    # linear: dense_weight * cosine + bm25_weight * BM25 / the query's best BM25; rrf: reciprocal
    # rank fusion with rrf_k (knowledge/fusion.py). bm25_weight unset: 0.5 linear, 1.0 rrf.
    fusion: Literal["linear", "rrf"] = "linear"
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    bm25_weight: float | None = Field(None, ge=0)
    match_titles: bool = True  # a chunk's vector score is at least its document title's cosine
    # a FAQ entry's chunk (CSV row, JSONL question/answer): vector score = this x its question's
    # cosine + the rest x its own; its BM25 weighs faq_bm25_weight (linear fusion)
    faq_question_weight: float = Field(0.7, ge=0, le=1)
    faq_bm25_weight: float = Field(0.1, ge=0)
    # the encoder of passages and queries; the answer cache, the grounding guard and intents
    # keep the bundled MiniLM (their thresholds are tuned on it)
    embedder: EmbedderSettings = Field(default_factory=BundledEmbedderSettings)


class GuardrailSettings(_Model):
    """Checks on answers; thresholds tuned with bench/answers.py on doc2dial dev."""

    grounding: bool = True
    min_cosine: float = Field(0.62, ge=-1, le=1)
    min_overlap: float = Field(0.6, ge=0, le=1)
    min_kept_fraction: float = Field(0.5, ge=0, le=1)


class PersonaSettings(_Model):
    """The assistant's identity and brand voice."""

    name: str = "Assistant"
    brand: str = ""
    voice: str = "Friendly, concise and precise."
    preferred_terms: dict[str, str] = Field(default_factory=dict)
    avoided_terms: list[str] = Field(default_factory=list)
    banned_phrases: list[str] = Field(default_factory=list)


class CannedReply(_Model):
    """A ready-made reply agents insert with one click."""

    title: str
    text: str


class LimitSettings(_Model):
    """Messages accepted per minute, per customer (sender on a channel) and per workspace."""

    per_customer_per_minute: int = Field(20, ge=1)
    per_workspace_per_minute: int = Field(1200, ge=1)
    # web chat messages from one client address, all its visitors together: a client that
    # opens new visitor ids does not get a new minute with each (an office's NAT shares one)
    webchat_per_address_per_minute: int = Field(60, ge=1)
    # web chat sockets one client address (an IPv6 /64) holds open at once in one server
    # process: the next is closed with 1013 before any work, so that one host cannot fill
    # server.limit_concurrency (also a per-process count) and get every request a 503
    webchat_sockets_per_address: int = Field(20, ge=1)
    # verification codes (SMS, email) the workspace sends an hour, whoever asks: a bound on
    # what anonymous claims can cost (SMS pumping)
    verification_codes_per_hour: int = Field(30, ge=1)


class HandoffWebhook(_Model):
    """An external help desk told about handoffs: each POST is signed with ``secret``."""

    url: str = Field(pattern=r"^https?://")
    secret: SecretStr


class HandoffSettings(_Model):
    """What a customer is told when a conversation goes to people (docs/handoff.md)."""

    hours: str = "Monday to Friday, 9:00 to 17:00"
    expected_wait_minutes: int = Field(5, ge=1)
    canned: list[CannedReply] = Field(default_factory=list)
    webhooks: list[HandoffWebhook] = Field(default_factory=list)


class AgentSeed(_Model):
    """An agent created at start (a demo convenience; use ``omnivox agents add`` for real)."""

    email: str
    name: str
    password: SecretStr
    role: Literal["agent", "admin"] = "agent"


class ApiKeySeed(_Model):
    """An API key created at start if missing (for demos: real ones come from ``keys create``)."""

    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "agent", "analyst", "marketer", "integration"]
    key: SecretStr

    @field_validator("key")
    @classmethod
    def _well_formed(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"ovx_[0-9a-f]{12}_[A-Za-z0-9_-]{16,100}", value.get_secret_value()):
            raise ValueError("expected ovx_<12 hex digits>_<16 to 100 letters, digits, - or _>")
        return value


class SeedSettings(_Model):
    """Sample data loaded at start (idempotently): JSON files relative to the config file."""

    customers: str | None = None
    orders: str | None = None
    agents: list[AgentSeed] = Field(default_factory=list)
    api_keys: list[ApiKeySeed] = Field(default_factory=list)


class CampaignSettings(_Model):
    """What every piece of marketing copy must carry (``omnivox campaign write``)."""

    # SMS copy fits this many segments, brand name and opt-out included
    sms_segments: int = Field(1, ge=1, le=4)
    sms_opt_out: str = Field("Reply STOP to opt out.", min_length=1)
    # commercial email must show a postal address (CAN-SPAM); copy without one is flagged
    postal_address: str = ""
    # the unsubscribe link of marketing email: an http(s) URL, or the sending tool's placeholder
    # ({{unsubscribe_url}} by default; <%asm_group_unsubscribe_raw_url%>, *|UNSUB|*, ...)
    unsubscribe_url: str = Field(
        "{{unsubscribe_url}}",
        pattern=r"^(https?://[^\s\"'<>]+|\{\{\s*\w+\s*\}\}|<%\w+%>|\*\|\w+\|\*|%%?\w+%%?|\[\w+\])$",
    )
    variants: int = Field(2, ge=1, le=5)  # per channel, unless the brief asks for another count
    # write with the LLM chain's models (the extractive provider never writes copy); false:
    # compose every variant from the brief (the bundled 135M model's copy rarely passes)
    use_model: bool = True
    # model copy less similar than this to every statement of the brief (MiniLM cosine, the
    # best match) is replaced by the brief's own: on-brief copy measured 0.67-0.82, the bundled
    # model's strays 0.08-0.61 (a handful of examples, docs/campaigns.md)
    min_relevance: float = Field(0.62, ge=-1, le=1)


class VariantPersona(_Model):
    """A variant's persona keys: each one given replaces the workspace persona's key."""

    name: str | None = None
    brand: str | None = None
    voice: str | None = None
    preferred_terms: dict[str, str] | None = None
    avoided_terms: list[str] | None = None
    banned_phrases: list[str] | None = None


_EXPERIMENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class VariantSettings(_Model):
    """One arm of an experiment: its share of customers and what it changes (docs/analytics.md)."""

    name: str = Field(pattern=_EXPERIMENT_NAME)
    weight: float = Field(1.0, gt=0)
    persona: VariantPersona = Field(default_factory=VariantPersona)
    temperature: float | None = Field(None, ge=0, le=2)  # unset: llm.temperature


class ExperimentSettings(_Model):
    """The workspace's running A/B experiment: customers split between 2 to 4 variants."""

    name: str = Field(pattern=_EXPERIMENT_NAME)
    variants: list[VariantSettings] = Field(min_length=2, max_length=4)

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, value: list[VariantSettings]) -> list[VariantSettings]:
        unique((v.name for v in value), "variant names")
        return value


class WorkspaceSettings(_Model):
    """One business (tenant) served by this Omnivox."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    name: str
    persona: PersonaSettings = Field(default_factory=PersonaSettings)
    knowledge_paths: list[str] = Field(default_factory=list)
    prompts_dir: str | None = None
    seed: SeedSettings = Field(default_factory=SeedSettings)
    understanding: UnderstandingSettings = Field(default_factory=UnderstandingSettings)
    # The REST API's customer.id is the business's own customer id (external_id, e.g. from
    # seed.customers), so such a caller acts as that customer. Give such a workspace's admin
    # and integration keys (the roles that may send) only to your own systems.
    trust_api_customer_ids: bool = False
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    handoff: HandoffSettings = Field(default_factory=HandoffSettings)
    # conversation data older than this is deleted (omnivox retention run; daily in the server);
    # 0 keeps everything
    retention_days: int = Field(90, ge=0)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    experiment: ExperimentSettings | None = None


class Settings(_Model):
    """Everything Omnivox reads at start."""

    data_dir: str = "./var"
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    workspaces: list[WorkspaceSettings] = Field(min_length=1)
    config_dir: str = Field(".", exclude=True)
    config_file: str = Field("<settings>", exclude=True)

    @field_validator("workspaces")
    @classmethod
    def _unique_ids(cls, value: list[WorkspaceSettings]) -> list[WorkspaceSettings]:
        unique((w.id for w in value), "workspace ids")
        return value

    def workspace(self, workspace_id: str) -> WorkspaceSettings | None:
        """The workspace with this id, or None."""
        return next((w for w in self.workspaces if w.id == workspace_id), None)

    def resolve_path(self, path: str) -> Path:
        """A path from the config file, relative to the file's folder."""
        return (Path(self.config_dir) / path).resolve()

    @property
    def database_url(self) -> str:
        """The effective SQLAlchemy URL (async driver)."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'omnivox.db'}"


def load_settings(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, interpolate, override and validate a config file."""
    env = os.environ if env is None else env
    file = str(path)
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(file, "", "file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(file, "", "is not UTF-8 text") from None
    except OSError as exc:  # a folder, no permission
        raise ConfigError(file, "", f"cannot be read ({exc.strerror or exc})") from None
    except DuplicateKeyError as exc:
        raise ConfigError(file, exc.key, exc.where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, "", f"is not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(file, "", "expected a mapping at the top level")
    data = _interpolate(raw, env, file, "")
    sources = _apply_env(data, env)
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_path(data, tuple(key.split(".")), value)
            sources[tuple(key.split("."))] = f"command-line option for {key}"
    data["config_dir"] = str(Path(path).resolve().parent)
    data["config_file"] = file
    return validate_settings(data, file, sources)


def validate_settings(
    data: dict[str, Any],
    file: str = "<settings>",
    sources: Mapping[tuple[str, ...], str] | None = None,
) -> Settings:
    """Validate a settings mapping, converting pydantic errors to :class:`ConfigError`.

    ``sources`` names where a key path's value came from when not from ``file`` (an
    environment variable, a command-line option): an error under it blames that source.
    """
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _format_loc(first["loc"])
        expected = first["msg"]
        if first["type"] == "extra_forbidden":
            expected = REMOVED.get(str(first["loc"][-1]), "unknown key")
        elif "input" in first and first["type"] not in ("missing",) and _showable(first):
            expected = f"{expected} (got {first['input']!r})"
        raise ConfigError(_blamed(key, file, sources or {}), key, expected) from None
    shared = _shared_mailbox(settings)
    if shared is not None:
        key, expected = shared
        raise ConfigError(_blamed(key, file, sources or {}), key, expected)
    return settings


def _shared_mailbox(settings: Settings) -> tuple[str, str] | None:
    """(key, problem) of a support address that two workspaces (or one, twice) list.

    The inbound SMTP server gives each address to one workspace: the later would silently take
    all of the earlier's mail.
    """
    owner: dict[str, str] = {}  # config key -> its workspace's id
    addresses: list[tuple[str, str]] = []
    for w, ws in enumerate(settings.workspaces):
        for a, address in enumerate(ws.channels.email.addresses if ws.channels.email else []):
            key = f"workspaces[{w}].channels.email.addresses[{a}]"
            owner[key] = ws.id
            addresses.append((address, key))
    repeat = first_repeat(addresses)
    if repeat is None:
        return None
    address, first, key = repeat
    return key, (
        f"a support address of one workspace only: {address} is already {first} "
        f"(workspace {owner[first]!r})"
    )


def _blamed(key: str, file: str, sources: Mapping[tuple[str, ...], str]) -> str:
    """Where ``key``'s value came from: the override of it or of a key above it, else the file."""
    parts = tuple(key.replace("[", ".").replace("]", "").split("."))
    for path, source in sources.items():
        if parts[: len(path)] == path:
            return source
    return file


class DuplicateKeyError(yaml.YAMLError):
    """A mapping in the config names one key twice (PyYAML would keep the last silently)."""

    def __init__(self, key: str, first: int, second: int) -> None:
        super().__init__(key)
        self.key = key
        self.where = f"appears twice (lines {first} and {second}); write it once"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping with a repeated key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges; a key written beside it overrides, as YAML says
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, str | int | float | bool) and key in seen:
                raise DuplicateKeyError(str(key), seen[key], line)
            if isinstance(key, str | int | float | bool):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


_SECRET_WORDS = ("secret", "token", "password", "passwd", "key", "auth", "credential", "url")


def _showable(error: Any) -> bool:
    """Whether an error may quote its input: a short scalar, under no secret-sounding key."""
    value, names = error["input"], [str(p).lower() for p in error["loc"]]
    if any(word in name for name in names for word in _SECRET_WORDS):
        return False
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 80


# keys that existed once, and what replaced them
REMOVED = {
    "api_keys": "unknown key: help-desk keys are now API keys made with "
    "`omnivox keys create --role integration` (docs/security.md)",
}


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in (*_BUILTIN_PROVIDER_TYPES, "plugin"):
            continue  # discriminated-union tag, not a real key
        else:
            out += f".{part}" if out else str(part)
    return out


def _interpolate(node: Any, env: Mapping[str, str], file: str, key: str) -> Any:
    if isinstance(node, dict):
        return {
            k: _interpolate(v, env, file, f"{key}.{k}" if key else str(k)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_interpolate(v, env, file, f"{key}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if default is not None and not env.get(name):  # as the shell: unset or empty
                return default
            if name in env:
                return env[name]
            raise ConfigError(
                file,
                key,
                f"environment variable {name} is not set "
                f"(write ${{{name}:-default}} to give a default)",
            )

        return _INTERPOLATION.sub(repl, node)
    return node


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Apply ``OMNIVOX_*`` overrides; return each key path set and the variable that set it."""
    sources: dict[tuple[str, ...], str] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        if name in ENV_ALIASES:
            path = ENV_ALIASES[name]
        elif "__" in name:
            path = tuple(p.lower() for p in name[len(ENV_PREFIX) :].split("__"))
        else:
            continue
        _set_path(data, path, _env_value(value))
        sources[path] = f"environment variable {name}"
    return sources


def _env_value(value: str) -> Any:
    """An override's value: YAML for numbers, booleans and lists; text as it is written.

    YAML alone would cut ``abc #def`` at the comment, or fail on ``@secret``.
    """
    if not value:
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return value if parsed is None or isinstance(parsed, str) else parsed


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
