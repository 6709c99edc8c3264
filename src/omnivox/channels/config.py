"""Per-workspace channel settings (``workspaces[].channels``).

A channel whose secrets are empty is disabled, so a config can name every channel with
``${ENV:-}`` and switch each on by setting its environment variables.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr


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


class SlackSettings(_Channel):
    """A Slack app: its signing secret (inbound), bot token (outbound) and the Web API base."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("signing_secret", "bot_token")

    signing_secret: SecretStr = SecretStr("")
    bot_token: SecretStr = SecretStr("")
    api_base: str = "https://slack.com/api"
    timeout_s: float = Field(10.0, gt=0)


class TwilioSettings(_Channel):
    """A Twilio account: SID, auth token (signs webhooks, authenticates API calls), API base."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("account_sid", "auth_token")

    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
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


class ChannelSettings(_Model):
    """The messaging channels of one workspace (REST and web chat are always on)."""

    # The public base URL providers call (behind a proxy the server sees another one);
    # Twilio signs the full URL. Empty: the URL the request arrived at.
    public_url: str = ""
    telegram: TelegramSettings | None = None
    twilio: TwilioSettings | None = None
    messenger: MetaSettings | None = None
    whatsapp: WhatsAppSettings | None = None
    slack: SlackSettings | None = None
