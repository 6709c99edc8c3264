"""Copy written from the brief alone.

What a campaign gets with no model, or when the model's copy does not pass the checks: plain,
correct, and different for each variant.
"""

from __future__ import annotations

from omnivox.campaigns.brief import Brief, CampaignChannel
from omnivox.campaigns.formats import Parts


def sentence(text: str) -> str:
    """``text`` as a sentence: a capital first letter and a final stop."""
    text = " ".join(text.split())
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else f"{text}."


def compose(brief: Brief, channel: CampaignChannel, variant: int) -> Parts:
    """Variant 1 leads with the offer, 2 with the audience, 3 and on with the call to action."""
    offer = sentence(brief.offer)
    facts = [sentence(f) for f in brief.facts]
    lead = _lead(brief, variant)
    detail = facts[(variant - 1) % len(facts)] if facts else ""
    action = sentence(brief.call_to_action) if brief.call_to_action else ""
    if channel in ("sms", "web"):
        body = " ".join(x for x in (lead, offer, detail) if x)
    elif channel == "email" and brief.url:  # its call to action is the link's own line
        body = " ".join(x for x in (lead, offer, *facts) if x)
    else:
        body = " ".join(x for x in (lead, offer, *facts, action) if x)
    subject = offer.rstrip(".") if variant == 1 else f"{lead.rstrip(':.!')}: {offer.rstrip('.')}"
    return Parts(body, subject if channel == "email" else "")


_LEADS = ("Don't miss it:", "Just for you:", "Heads up:")


def _lead(brief: Brief, variant: int) -> str:
    if variant == 1:
        return ""
    if variant == 2:
        return f"For {brief.audience}:" if brief.audience else "Good news:"
    return _LEADS[(variant - 3) % len(_LEADS)]
