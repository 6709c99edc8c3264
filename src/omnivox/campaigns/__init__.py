"""Channel-ready marketing copy in the brand's voice, with no invented facts (docs/campaigns.md)."""

from omnivox.campaigns.brief import CHANNELS, Brief, CampaignChannel
from omnivox.campaigns.formats import Copy
from omnivox.campaigns.writer import Campaign, CopyWriter

__all__ = ["CHANNELS", "Brief", "Campaign", "CampaignChannel", "Copy", "CopyWriter"]
