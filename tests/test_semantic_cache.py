"""The semantic cache with the real embedder: near-duplicates hit, versions invalidate."""

from __future__ import annotations

from omnivox.cache.semantic import SemanticCache
from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.types import Citation, Reply

ANSWER = Reply(
    "You can return items within 60 days [1].",
    (Citation("returns.md", "Returns", "60 days"),),
    "llamacpp",
)


async def test_near_duplicates_hit_and_a_new_version_invalidates() -> None:
    versions = {"acme": "v1", "globex": "g1"}

    async def version(workspace_id: str) -> str | None:
        return versions.get(workspace_id)

    cache = SemanticCache(MiniLMEmbedder(), version, threshold=0.9, max_entries=2)
    assert await cache.lookup("acme", "What is your return window?") is None
    await cache.store("acme", "What is your return window?", ANSWER)
    assert await cache.lookup("acme", "what is your return window") == ANSWER
    assert await cache.lookup("acme", "Do you ship to Canada?") is None
    assert await cache.lookup("globex", "What is your return window?") is None  # isolation
    versions["acme"] = "v2"  # an ingest happened: the old answer may be stale
    assert await cache.lookup("acme", "What is your return window?") is None
    for q in ("one question about boots", "another about tents", "a third about socks"):
        await cache.store("acme", q, ANSWER)
    assert await cache.lookup("acme", "one question about boots") is None  # LRU bound of 2
    assert await cache.lookup("acme", "a third about socks") == ANSWER
