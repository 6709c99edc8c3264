"""Each workspace's messaging channels, built from ``workspaces[].channels``.

A channel missing a secret is logged as ``channel.disabled`` and left out, so a config can name
every channel with ``${ENV:-}`` and switch each on by setting its environment variables.
"""

from __future__ import annotations

from omnivox.channels.config import (
    EmailSettings,
    MetaSettings,
    SlackSettings,
    TelegramSettings,
    TwilioSettings,
    WhatsAppSettings,
)
from omnivox.channels.mail.channel import EmailChannel
from omnivox.channels.messenger import MessengerChannel
from omnivox.channels.slack import SlackChannel
from omnivox.channels.telegram import TelegramChannel
from omnivox.channels.twilio_sms import TwilioSmsChannel
from omnivox.channels.twilio_voice import TwilioVoiceChannel
from omnivox.channels.whatsapp import Template, WhatsAppChannel
from omnivox.logs import get_logger
from omnivox.settings import Settings, WorkspaceSettings

log = get_logger(__name__)
MessagingChannel = (
    TelegramChannel
    | SlackChannel
    | TwilioSmsChannel
    | TwilioVoiceChannel
    | MessengerChannel
    | WhatsAppChannel
    | EmailChannel
)


def build_messaging(settings: Settings) -> dict[tuple[str, str], MessagingChannel]:
    """Each workspace's enabled messaging channels; a channel missing a secret is logged off."""
    out: dict[tuple[str, str], MessagingChannel] = {}
    for ws in settings.workspaces:
        configured = (
            ("telegram", ws.channels.telegram),
            ("slack", ws.channels.slack),
            ("sms", ws.channels.twilio),
            ("messenger", ws.channels.messenger),
            ("whatsapp", ws.channels.whatsapp),
            ("email", ws.channels.email),
        )
        for name, config in configured:
            if config is None:
                continue
            if config.missing:
                missing = ", ".join(config.missing)
                log.info("channel.disabled", workspace=ws.id, channel=name, missing=missing)
                continue
            if isinstance(config, EmailSettings):
                out[(ws.id, name)] = _email_channel(config, ws)
                continue
            out[(ws.id, name)] = _messaging_channel(config, ws.id, ws.channels.public_url)
            if isinstance(config, TwilioSettings):  # the same account answers calls
                secret = config.auth_token.get_secret_value()
                out[(ws.id, "voice")] = TwilioVoiceChannel(
                    config.account_sid, secret, config.api_base, config.timeout_s
                )
    return out


def _email_channel(config: EmailSettings, ws: WorkspaceSettings) -> EmailChannel:
    channel = EmailChannel(ws.id, config, ws.persona.brand, ws.persona.name)
    if not channel.sends:
        log.info(
            "channel.email.outbound_disabled",
            workspace=ws.id,
            reason="channels.email.relay is not set: replies are stored, not sent",
        )
    return channel


def _messaging_channel(
    config: TelegramSettings | SlackSettings | TwilioSettings | MetaSettings,
    workspace_id: str,
    public_url: str,
) -> MessagingChannel:
    if isinstance(config, TelegramSettings):
        return TelegramChannel(
            config.bot_token.get_secret_value(),
            config.secret_token.get_secret_value(),
            config.api_base,
            config.timeout_s,
            bot_username=config.bot_username,
            every_group_message=config.groups == "all",
        )
    if isinstance(config, WhatsAppSettings):
        templates = {t.name: Template(t.name, t.language, t.parameters) for t in config.templates}
        return WhatsAppChannel(*_meta_args(config), templates)
    if isinstance(config, MetaSettings):
        return MessengerChannel(*_meta_args(config))
    if isinstance(config, TwilioSettings):
        callback = f"{public_url.rstrip('/')}/webhooks/{workspace_id}/twilio/status"
        return TwilioSmsChannel(
            config.account_sid,
            config.auth_token.get_secret_value(),
            config.api_base,
            config.timeout_s,
            callback if public_url else None,
        )
    return SlackChannel(
        config.signing_secret.get_secret_value(),
        config.bot_token.get_secret_value(),
        config.api_base,
        config.timeout_s,
        bot_user_id=config.bot_user_id,
        every_channel_message=config.channels == "all",
    )


def _meta_args(config: MetaSettings) -> tuple[str, str, str, str, str, float]:
    """What Messenger and WhatsApp (one Meta app each) are built from."""
    return (
        config.app_secret.get_secret_value(),
        config.verify_token.get_secret_value(),
        config.access_token.get_secret_value(),
        config.api_base,
        config.api_version,
        config.timeout_s,
    )
