"""Every workspace's understanding, trained once at start (cached under the data dir)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from omnivox.knowledge.embeddings import Embedder
from omnivox.logs import get_logger
from omnivox.settings import Settings
from omnivox.understanding.analyzer import WorkspaceUnderstanding
from omnivox.understanding.sentiment import SentimentAnalyzer

log = get_logger(__name__)


class Understanding:
    """Per-workspace analyzers sharing one embedder and one sentiment model."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.cache_dir = Path(settings.data_dir) / "nlu"
        sentiment = SentimentAnalyzer()
        self.workspaces = {
            ws.id: WorkspaceUnderstanding(
                ws.understanding,
                embedder,
                sentiment,
                settings.resolve_path(ws.understanding.intents_csv)
                if ws.understanding.intents_csv
                else None,
            )
            for ws in settings.workspaces
        }

    def get(self, workspace_id: str) -> WorkspaceUnderstanding:
        """The analyzer of a workspace."""
        return self.workspaces[workspace_id]

    async def train(self) -> None:
        """Warm up and train (or load) every workspace's analyzers, off the event loop."""
        for workspace_id, nlu in self.workspaces.items():
            await asyncio.to_thread(nlu.warm_up)
            if not nlu.has_intents:
                continue
            started = time.perf_counter()
            cached = await asyncio.to_thread(nlu.train, self.cache_dir / workspace_id)
            log.info(
                "nlu.trained",
                workspace=workspace_id,
                intents=len(nlu.classifier.intents) if nlu.classifier else 0,
                cached=cached,
                ms=round((time.perf_counter() - started) * 1000),
            )
