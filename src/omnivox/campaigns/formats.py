"""Each channel's shape for marketing copy: limits, required parts, and the assembled message.

- **sms**: ``Brand: body url Reply STOP to opt out.`` within ``campaigns.sms_segments``
  segments (GSM-7 160/153 characters, UCS-2 70/67); typographic quotes, dashes and ellipses are
  written as their GSM-7 twins so one curly apostrophe does not halve the room.
- **whatsapp**: a Marketing template's body (at most 1,024 characters) and its footer (the
  opt-out, at most 60); business-initiated messages need an approved template.
- **email**: subject (at most 60 characters, so inboxes show it whole), preheader (at most
  100), body, call to action, and a footer with the unsubscribe link and postal address;
  plain text and HTML (escaped, then nh3's allow-list).
- **messenger** (2,000 characters), **telegram** (4,096), **web** (a banner: 140 characters
  and a button label of at most 25).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nh3

from omnivox.campaigns.brief import Brief, CampaignChannel
from omnivox.channels.sms import is_gsm7, segments
from omnivox.settings import CampaignSettings
from omnivox.text import split_sentences

LIMITS: dict[CampaignChannel, int] = {
    "sms": 1600,
    "whatsapp": 1024,
    "email": 1500,
    "messenger": 2000,
    "telegram": 4096,
    "web": 140,
}
PARAGRAPHS = re.compile(r"\n\s*\n")
SUBJECT_CHARS = 60
PREHEADER_CHARS = 100
BUTTON_CHARS = 25
WHATSAPP_FOOTER_CHARS = 60
# characters a model or a word processor writes that GSM-7 lacks, and their GSM-7 twins
_GSM_TWINS = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
     "\u2026": "...", "\u00a0": " "}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Parts:
    """What the writer wrote for one message: a body, and for email a subject."""

    body: str
    subject: str = ""


@dataclass(frozen=True, slots=True)
class Copy:
    """One finished piece of copy for one channel, as the customer would see it."""

    channel: CampaignChannel
    variant: int
    text: str
    body: str
    source: str = "template"  # or "model": who wrote the body
    subject: str | None = None
    preheader: str | None = None
    footer: str | None = None
    button: str | None = None
    html: str | None = None
    segments: int | None = None
    encoding: str | None = None
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def characters(self) -> int:
        """Characters of the message as sent."""
        return len(self.text)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (CLI ``--json`` and REST)."""
        shown = {
            "channel": self.channel,
            "variant": self.variant,
            "text": self.text,
            "characters": self.characters,
            "source": self.source,
            "subject": self.subject,
            "preheader": self.preheader,
            "footer": self.footer,
            "button": self.button,
            "html": self.html,
            "segments": self.segments,
            "encoding": self.encoding,
        }
        return {
            **{k: v for k, v in shown.items() if v is not None},
            "removed": list(self.removed),
            "warnings": list(self.warnings),
        }


Builder = Callable[[int, Parts, Brief, str, CampaignSettings], Copy]


def trim(text: str, limit: int, fits: Callable[[str], bool] | None = None) -> str:
    """Whole sentences of ``text`` within ``limit`` characters; else its first words and "...".

    ``fits`` adds a test of its own (an SMS's segments). Never cuts a word or a number in half.
    Paragraphs (blank-line separated) stay apart when the whole text fits.
    """
    text = "\n\n".join(" ".join(p.split()) for p in PARAGRAPHS.split(text) if p.strip())

    def ok(candidate: str) -> bool:
        return len(candidate) <= limit and (fits is None or fits(candidate))

    if ok(text):
        return text
    kept = ""
    for sentence in split_sentences(text.replace("\n\n", " ")):
        if not ok(joined := f"{kept} {sentence}".strip()):
            break
        kept = joined
    if kept:
        return kept
    words = text.split()
    for n in range(len(words) - 1, 0, -1):
        cut = " ".join(words[:n]).rstrip(",;:-")
        if cut and ok(f"{cut}..."):
            return f"{cut}..."
    return ""


def gsm_safe(text: str) -> str:
    """``text`` with typographic punctuation written as GSM-7 characters."""
    return text.translate(_GSM_TWINS)


def assemble(
    channel: CampaignChannel,
    variant: int,
    parts: Parts,
    brief: Brief,
    brand: str,
    settings: CampaignSettings,
) -> Copy:
    """The message for ``channel``: the body fitted around the parts the channel requires."""
    return _BUILDERS[channel](variant, parts, brief, brand, settings)


def _sms(variant: int, parts: Parts, brief: Brief, brand: str, s: CampaignSettings) -> Copy:
    prefix = f"{gsm_safe(brand)}:" if brand else ""
    tail = " ".join(x for x in (brief.url, gsm_safe(s.sms_opt_out)) if x)

    def message(body: str) -> str:
        return " ".join(x for x in (prefix, body, tail) if x)

    fitted = trim(
        " ".join(gsm_safe(parts.body).split()),  # one paragraph: line breaks cost characters
        LIMITS["sms"],
        lambda body: segments(message(body)) <= s.sms_segments,
    )
    text = message(fitted)
    warnings = []
    if segments(text) > s.sms_segments:
        warnings.append(f"the brand, link and opt-out alone take {segments(text)} segments")
    elif not fitted:
        warnings.append("no room for the message next to the brand, link and opt-out")
    if not is_gsm7(text):
        warnings.append("characters outside GSM-7: each segment holds 70 characters, not 160")
    return Copy(
        "sms",
        variant,
        text,
        fitted,
        segments=segments(text),
        encoding="GSM-7" if is_gsm7(text) else "UCS-2",
        warnings=tuple(warnings),
    )


def _whatsapp(variant: int, parts: Parts, brief: Brief, brand: str, s: CampaignSettings) -> Copy:
    link = f"\n\n{brief.url}" if brief.url else ""
    body = trim(parts.body, LIMITS["whatsapp"] - len(link))
    footer = trim(s.sms_opt_out, WHATSAPP_FOOTER_CHARS)
    cut = footer != " ".join(s.sms_opt_out.split())
    warnings = (f"the opt-out is over {WHATSAPP_FOOTER_CHARS} characters: cut",) if cut else ()
    text = f"{body}{link}\n\n{footer}"
    return Copy("whatsapp", variant, text, body, footer=footer, warnings=warnings)


def _email(variant: int, parts: Parts, brief: Brief, brand: str, s: CampaignSettings) -> Copy:
    body = trim(parts.body, LIMITS["email"])
    subject = trim(parts.subject or brief.offer, SUBJECT_CHARS)
    preheader = trim(_preheader(body, subject) or brief.offer, PREHEADER_CHARS)
    action = f"{brief.call_to_action or 'Learn more'}: {brief.url}" if brief.url else ""
    who = f"{brand} news" if brand else "our news"
    footer = [
        f"You receive this because you subscribed to {who}.",
        f"Unsubscribe: {s.unsubscribe_url}",
    ]
    if s.postal_address:
        footer.append(s.postal_address)
    text = "\n\n".join(x for x in (body, action, "\n".join(footer)) if x)
    warnings = () if s.postal_address else ("no postal address (campaigns.postal_address)",)
    return Copy(
        "email",
        variant,
        text,
        body,
        subject=subject,
        preheader=preheader,
        footer="\n".join(footer),
        html=_email_html(body, brief, footer, s.unsubscribe_url),
        warnings=warnings,
    )


def _email_html(body: str, brief: Brief, footer: Sequence[str], unsubscribe: str) -> str:
    blocks = [f"<p>{html.escape(p)}</p>" for p in body.split("\n\n") if p.strip()]
    if brief.url:
        label = html.escape(brief.call_to_action or "Learn more")
        blocks.append(f'<p><a href="{html.escape(brief.url)}">{label}</a></p>')
    shown = "<br>".join(html.escape(line) for line in (footer[0], *footer[2:]))
    clean = nh3.clean(
        "".join(blocks) + f"<hr><p>{shown}</p>",
        tags={"p", "br", "a", "hr"},
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
    )
    # the operator's own link or their sending tool's placeholder (settings allow no quotes),
    # added after the clean-up, which would drop a placeholder's href
    href = html.escape(unsubscribe) if unsubscribe.startswith("http") else unsubscribe
    return f'{clean}<p><a href="{href}">Unsubscribe</a></p>'


def _preheader(body: str, subject: str) -> str:
    """The body's first sentence that does not repeat the subject."""
    said = subject.rstrip(".!?").lower()
    return next((x for x in split_sentences(body) if x.rstrip(".!?").lower() != said), "")


def _short(channel: CampaignChannel) -> Builder:
    def build(variant: int, parts: Parts, brief: Brief, brand: str, s: CampaignSettings) -> Copy:
        link = f"\n\n{brief.url}" if brief.url else ""
        body = trim(parts.body, LIMITS[channel] - len(link))
        return Copy(channel, variant, f"{body}{link}", body)

    return build


def _web(variant: int, parts: Parts, brief: Brief, brand: str, s: CampaignSettings) -> Copy:
    body = trim(parts.body, LIMITS["web"])
    button = trim(brief.call_to_action or "Learn more", BUTTON_CHARS)
    return Copy("web", variant, body, body, button=button)


_BUILDERS: dict[CampaignChannel, Builder] = {
    "sms": _sms,
    "whatsapp": _whatsapp,
    "email": _email,
    "messenger": _short("messenger"),
    "telegram": _short("telegram"),
    "web": _web,
}
