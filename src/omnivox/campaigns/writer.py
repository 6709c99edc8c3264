"""Writes a campaign.

For each channel and variant: copy from the model (or the brief alone), checked for invented
numbers and banned phrases, then fitted to the channel.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from omnivox.bus import EventSink
from omnivox.campaigns.brief import Brief, CampaignChannel
from omnivox.campaigns.claims import ClaimCheck
from omnivox.campaigns.compose import compose
from omnivox.campaigns.formats import PARAGRAPHS, Copy, Parts, assemble
from omnivox.guardrails.grounding import GroundingChecker, GroundingSettings
from omnivox.guardrails.policy import BrandPolicy
from omnivox.knowledge.retriever import KnowledgeRetriever
from omnivox.knowledge.service import KnowledgeBase
from omnivox.llm.base import ChatMessage, Completion, CompletionRequest, ProviderError, Usage
from omnivox.llm.chain import ProviderChain
from omnivox.llm.metered import Caller, MeteredChain
from omnivox.llm.prompts import PromptBuilder
from omnivox.logs import get_logger
from omnivox.settings import Settings, WorkspaceSettings
from omnivox.types import Citation, Passage

log = get_logger(__name__)
REFERENCES = 3  # knowledge passages shown to the model and counted as sources of numbers
ANGLES = (
    "Lead with the offer itself.",
    "Lead with who it is for and why it matters to them.",
    "Lead with the call to action, without inventing a deadline.",
    "Open with a short question to the reader.",
    "Lead with the most concrete fact.",
)
ASKS: dict[CampaignChannel, tuple[str, int]] = {  # what the model is asked for, and its tokens
    "sms": ("one text message of at most 100 characters", 48),
    "whatsapp": ("one WhatsApp message of two or three short sentences", 120),
    "email": (
        "a marketing email: first a line 'Subject: ' with at most eight words, then a body of "
        "two short paragraphs",
        220,
    ),
    "messenger": ("one Messenger message of two or three short sentences", 120),
    "telegram": ("one Telegram message of two or three short sentences", 120),
    "web": ("one website banner line of at most 100 characters", 40),
}
# "Subject: ...", "**Subject:** ...", "Subject line: ..."
_SUBJECT = re.compile(r"^\W*subject(?: line)?\W*:\W*(.+)$", re.IGNORECASE | re.MULTILINE)
_NOISE = re.compile(r"https?://\S+|#\w+|\[[^\]]*\]|\{[^}]*\}|<[^>]*>|\*\*?")
MIN_WORDS = 4  # copy shorter than this after the checks is replaced by the brief's own


@dataclass(frozen=True, slots=True)
class Campaign:
    """The copies of one brief, the knowledge they could draw on, and the model's usage."""

    copies: tuple[Copy, ...]
    references: tuple[Citation, ...]
    usage: Usage

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (CLI ``--json`` and REST)."""
        return {
            "copies": [c.as_dict() for c in self.copies],
            "references": [r.as_dict() for r in self.references],
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "cost_usd": self.usage.cost_usd,
            },
        }


@dataclass(slots=True)
class _Job:
    """One brief being written: its workspace, checks, prompts and what it is about."""

    workspace: WorkspaceSettings
    brief: Brief
    passages: list[Passage]
    check: ClaimCheck
    about: NDArray[np.float32]  # the brief's statements embedded: copy must stay close to one
    prompts: PromptBuilder
    model_failed: str = ""  # once the model failed, the rest is composed (no wait for each)


class CopyWriter:
    """Writes campaigns for the workspaces of ``settings`` with the configured models.

    The extractive provider writes no copy (it picks sentences of passages): without another
    model every variant is composed from the brief. Model copy that strays from the brief
    (embedding similarity under ``campaigns.min_relevance``) or is too short once the checks
    removed what they must is replaced by the brief's own, so a model too small to write
    copy (the bundled one, mostly) cannot ship nonsense. Each model call's usage is recorded as
    an ``llm.usage`` event (purpose ``campaign``) in ``events``, whether it answered or not.
    """

    def __init__(
        self, settings: Settings, chain: ProviderChain, kb: KnowledgeBase, events: EventSink
    ) -> None:
        self.settings = settings
        models = [p for p in chain.providers if p.name != "extractive"]
        self.chain = MeteredChain(ProviderChain(models), events) if models else None
        self.retriever = KnowledgeRetriever(kb, settings.knowledge.min_similarity)
        self.embedder = kb.bundled
        g = settings.guardrails
        self.checker = GroundingChecker(kb.bundled, GroundingSettings(g.min_cosine, g.min_overlap))

    async def write(
        self,
        workspace: WorkspaceSettings,
        brief: Brief,
        done: Callable[[Copy], None] | None = None,
    ) -> Campaign:
        """Every channel of the brief, each in its variants; ``done`` hears of each copy."""
        job = await self._job(workspace, brief)
        copies: list[Copy] = []
        usage = Usage()
        count = brief.variants or workspace.campaigns.variants
        for channel in brief.channels:
            bodies: set[str] = set()
            for variant in range(1, count + 1):
                copy, used = await self._one(job, channel, variant)
                if copy.source == "model" and copy.body in bodies:  # said again: the brief's own
                    copy = _composed(job, channel, variant, "the model repeated a variant")
                bodies.add(copy.body)
                copies.append(copy)
                usage = _add(usage, used)
                if done is not None:
                    done(copy)
        sources: dict[str, Citation] = {}
        for passage in job.passages:  # one citation a source, its best passage's
            sources.setdefault(passage.source_id, passage.citation())
        return Campaign(tuple(copies), tuple(sources.values()), usage)

    async def _job(self, workspace: WorkspaceSettings, brief: Brief) -> _Job:
        passages = await self.retriever.search(workspace.id, brief.topic or brief.offer, REFERENCES)
        sources = brief.sources()
        check = ClaimCheck(BrandPolicy(workspace.persona), self.checker, sources, passages)
        about = await asyncio.to_thread(self.embedder.embed, [" ".join(sources), *sources])
        folder = workspace.prompts_dir
        prompts = PromptBuilder(self.settings.resolve_path(folder) if folder else None)
        return _Job(workspace, brief, passages, check, about, prompts)

    async def _one(self, job: _Job, channel: CampaignChannel, variant: int) -> tuple[Copy, Usage]:
        """The model's copy if it passes the checks, else the brief's own."""
        if self.chain is None or not job.workspace.campaigns.use_model:
            return _composed(job, channel, variant), Usage()
        completion = job.model_failed or await self._complete(self.chain, job, channel, variant)
        if isinstance(completion, str):
            job.model_failed = completion
            note = f"the model failed ({completion}): composed from the brief"
            return _composed(job, channel, variant, note), Usage()
        subject, body = _parse(completion.text)
        checked = await asyncio.to_thread(job.check, body)
        why = await self._unusable(job, checked.text)
        if why:
            note = f"the model's copy was not used ({why}): composed from the brief"
            return _composed(job, channel, variant, note), completion.usage
        title = (await asyncio.to_thread(job.check, subject)).text if subject else ""
        brand, rules = job.workspace.persona.brand, job.workspace.campaigns
        copy = assemble(channel, variant, Parts(checked.text, title), job.brief, brand, rules)
        return replace(copy, source="model", removed=checked.removed), completion.usage

    async def _unusable(self, job: _Job, text: str) -> str:
        """Why the checked copy cannot be used ("" when it can): too short, or off the brief."""
        if len(text.split()) < MIN_WORDS:
            return "too little left after the checks"
        vector = await asyncio.to_thread(self.embedder.embed, [text])
        relevance = float(np.max(job.about @ vector[0]))
        if relevance < job.workspace.campaigns.min_relevance:
            return f"off the brief: similarity {relevance:.2f}"
        return ""

    async def _complete(
        self, chain: MeteredChain, job: _Job, channel: CampaignChannel, variant: int
    ) -> Completion | str:
        """The model's completion, or why there is none."""
        tokens = ASKS[channel][1]
        prompt = _prompt(job, channel, variant)
        request = CompletionRequest(prompt, job.brief.offer, max_tokens=tokens, temperature=0.8)
        try:
            return await chain.complete(request, Caller(job.workspace.id, "campaign"))
        except ProviderError as exc:
            log.warning("campaign.model_failed", channel=channel, error=str(exc))
            return str(exc)


def _prompt(job: _Job, channel: CampaignChannel, variant: int) -> tuple[ChatMessage, ...]:
    ask = ASKS[channel][0]
    text = job.prompts.render(
        "campaign.j2",
        brand=job.workspace.persona.brand,
        persona=job.workspace.persona,
        format=ask,
        angle=ANGLES[(variant - 1) % len(ANGLES)],
        brief=job.brief,
        passages=job.passages,
    )
    return (ChatMessage("system", text), ChatMessage("user", f"Write {ask}."))


def _parse(text: str) -> tuple[str, str]:
    """(subject, body) of what the model wrote, without links, tags, markup or quotes."""
    subject = ""
    if found := _SUBJECT.search(text):
        subject = found.group(1)
        text = text[: found.start()] + text[found.end() :]
    paragraphs = (_plain(p) for p in PARAGRAPHS.split(text))
    return _plain(subject), "\n\n".join(p for p in paragraphs if p)


def _plain(text: str) -> str:
    """``text`` on one line, without links, tags, markup or surrounding quotes."""
    return " ".join(_NOISE.sub(" ", text).split()).strip("\"' ")


def _composed(job: _Job, channel: CampaignChannel, variant: int, note: str = "") -> Copy:
    """The brief's own copy, through the brand policy (a banned phrase in it is removed)."""
    parts = compose(job.brief, channel, variant)
    body, subject = job.check(parts.body), job.check(parts.subject)
    brand, rules = job.workspace.persona.brand, job.workspace.campaigns
    copy = assemble(channel, variant, Parts(body.text, subject.text), job.brief, brand, rules)
    notes = [note] if note else []
    notes += [f"the brief's {r}" for r in (*body.removed, *subject.removed)]
    return replace(copy, warnings=(*notes, *copy.warnings))


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(
        a.prompt_tokens + b.prompt_tokens,
        a.completion_tokens + b.completion_tokens,
        a.cost_usd + b.cost_usd,
        a.estimated or b.estimated,
    )
