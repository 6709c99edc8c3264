"""Per-workspace channel settings (``workspaces[].channels``).

A channel whose secrets are empty is disabled, so a config can name every channel with
``${ENV:-}`` and switch each on by setting its environment variables.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_ADDRESS = re.compile(r"^[^@\s+]+@[^@\s]+\.[^@\s]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Channel(_Model):
    """A channel's settings; ``REQUIRED`` names the secrets it cannot work without."""

    REQUIRED: ClassVar[tuple[str, ...]] = ()

    @property
    def missing(self) -> list[str]:
        """The secrets that are not set (the channel is disabled while any is missing)."""
        values = {name: getattr(self, name) for name in self.REQUIRED}
        return [
            name
            for name, value in values.items()
            if not (value.get_secret_value() if isinstance(value, SecretStr) else value)
        ]


class TelegramSettings(_Channel):
    """A Telegram bot: its token, the webhook secret given to ``setWebhook``, the API base."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("bot_token", "secret_token")

    bot_token: SecretStr = SecretStr("")
    secret_token: SecretStr = SecretStr("")
    api_base: str = "https://api.telegram.org"
    timeout_s: float = Field(10.0, gt=0)
    # the bot's @username (without the @): a group message that mentions it is meant for it
    bot_username: str = Field("", pattern=r"^@?[A-Za-z0-9_]{0,64}$")
    # in groups, answer only messages meant for the bot (a mention, a reply to it, a command
    # to it) or every message (a group where the bot is the helpdesk)
    groups: Literal["addressed", "all"] = "addressed"


class SlackSettings(_Channel):
    """A Slack app: its signing secret (inbound), bot token (outbound) and the Web API base."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("signing_secret", "bot_token")

    signing_secret: SecretStr = SecretStr("")
    bot_token: SecretStr = SecretStr("")
    api_base: str = "https://slack.com/api"
    timeout_s: float = Field(10.0, gt=0)
    # the bot's member id (U…), when events do not carry it in ``authorizations``
    bot_user_id: str = Field("", pattern=r"^[A-Z0-9]{0,32}$")
    # in channels, answer only messages that mention the bot, or every message
    channels: Literal["mentioned", "all"] = "mentioned"


class TwilioSettings(_Channel):
    """A Twilio account: SID, auth token (signs webhooks, authenticates API calls), API base."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("account_sid", "auth_token")

    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    from_number: str = ""  # E.164 number that sends messages nobody replied to (codes)
    api_base: str = "https://api.twilio.com"
    timeout_s: float = Field(10.0, gt=0)


class MetaSettings(_Channel):
    """A Meta app and Page: app secret (signatures), verify token (handshake), Page token."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("app_secret", "verify_token", "access_token")

    app_secret: SecretStr = SecretStr("")
    verify_token: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    api_base: str = "https://graph.facebook.com"
    api_version: str = "v19.0"
    timeout_s: float = Field(10.0, gt=0)


class TemplateSettings(_Model):
    """An approved WhatsApp message template."""

    name: str
    language: str = "en_US"
    parameters: int = Field(0, ge=0)


class WhatsAppSettings(MetaSettings):
    """A WhatsApp Business account on the Cloud API, with its approved templates."""

    templates: list[TemplateSettings] = Field(default_factory=list)


class EmailSettings(_Channel):
    """A workspace's support mailboxes and the relay its replies leave through.

    Mail for ``addresses`` (and their ``+tag`` subaddresses) is accepted by the inbound SMTP
    server; ``relay`` (``host:port``) is where replies go out. Without a relay, inbound mail is
    still answered and stored but nothing is sent (a log line says so at start).
    """

    REQUIRED: ClassVar[tuple[str, ...]] = ("addresses",)

    addresses: list[str] = Field(default_factory=list)
    display_name: str = ""  # default: "<brand> Support"
    relay: str = ""
    tls: Literal["auto", "starttls", "implicit", "none"] = "auto"
    username: str = ""
    password: SecretStr = SecretStr("")
    ca_file: str = ""  # PEM bundle that signs the relay's certificate (a private CA)
    timeout_s: float = Field(30.0, gt=0)
    max_per_sender_per_hour: int = Field(20, ge=1)
    # answered per sender per hour; more are stored for an agent, not answered (a robot's loop)
    max_replies_per_sender_per_hour: int = Field(5, ge=1)

    @field_validator("addresses")
    @classmethod
    def _plain_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(
                    f"{address!r} is not a plain address like support@example.com (no name, "
                    "no +tag: tags are added to it for threading)"
                )
        return [a.lower() for a in value]

    @field_validator("relay")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value and not re.match(r"^[^:\s]+:\d{1,5}$", value):
            raise ValueError(f"{value!r} is not host:port (for example smtp.example.com:587)")
        return value


class ChannelSettings(_Model):
    """The messaging channels of one workspace (REST and web chat are always on)."""

    @field_validator("webchat_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin (https://host[:port], no path)")
        return [o.lower() for o in value]

    # The public base URL providers call (behind a proxy the server sees another one);
    # Twilio signs the full URL. Empty: the URL the request arrived at.
    public_url: str = ""
    # the web-chat widget sends what the customer is typing (at most about once a second) so
    # that the bundled model can read that draft's passages before the message is sent; the
    # draft is used for that search only, never stored or shown to a model (docs/channels.md)
    webchat_drafts: bool = True
    # the web pages allowed to open this workspace's chat (scheme://host[:port], e.g.
    # https://www.acme.example); empty: any page may embed it (the widget is public)
    webchat_origins: list[str] = Field(default_factory=list)
    telegram: TelegramSettings | None = None
    twilio: TwilioSettings | None = None
    messenger: MetaSettings | None = None
    whatsapp: WhatsAppSettings | None = None
    slack: SlackSettings | None = None
    email: EmailSettings | None = None
