"""The semantic cache with the real embedder: near-duplicates hit, versions invalidate."""

from __future__ import annotations

import time

from omnivox.cache.semantic import SemanticCache, particulars
from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.services import Services
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


async def test_entries_are_forgotten_per_customer_and_expire_with_retention() -> None:
    async def version(workspace_id: str) -> str | None:
        return "v1"

    cache = SemanticCache(MiniLMEmbedder(), version, threshold=0.9, max_entries=10)
    await cache.store("acme", "What is your return window?", ANSWER, "cus_maya")
    await cache.store("acme", "Do you ship to Canada?", ANSWER, "cus_ada")
    await cache.store("globex", "Do you ship to Canada?", ANSWER, "cus_maya")
    assert cache.forget("acme", "cus_maya") == 1
    assert await cache.lookup("acme", "What is your return window?") is None
    assert await cache.lookup("acme", "Do you ship to Canada?") == ANSWER
    assert await cache.lookup("globex", "Do you ship to Canada?") == ANSWER  # other workspace
    assert cache.expire("acme", older_than=time.time() - 3600) == 0  # all younger than an hour
    assert cache.expire("acme", older_than=time.time() + 1) == 1
    assert await cache.lookup("acme", "Do you ship to Canada?") is None
    assert cache.forget("initech", "cus_maya") == 0


async def test_the_servers_daily_retention_expires_cached_questions(services: Services) -> None:
    async def version(workspace_id: str) -> str | None:
        return "v1"  # as if a knowledge base were ingested (this workspace has none)

    services.cache.version = version
    await services.cache.store("acme", "What is your return window?", ANSWER, "cus_maya")
    services._expire_cache()  # what start_retention runs after each daily purge
    assert services.cache.forget("acme", "cus_maya") == 1  # younger than 90 days: kept
    await services.cache.store("acme", "What is your return window?", ANSWER, "cus_maya")
    services._expire_cache(now=time.time() + 91 * 86400)
    assert services.cache.forget("acme", "cus_maya") == 0  # expired with retention_days 90


async def test_particulars_must_match_and_a_stale_answer_is_not_kept() -> None:
    versions = {"acme": "v1"}

    async def version(workspace_id: str) -> str | None:
        return versions.get(workspace_id)

    cache = SemanticCache(MiniLMEmbedder(), version, threshold=0.9, max_entries=10)
    sunday = "What are the Denver store hours on Sunday?"
    await cache.store("acme", sunday, ANSWER, question=sunday, version="v1")
    assert await cache.lookup("acme", "what are the Denver store hours on Sunday") == ANSWER
    saturday = "What are the Denver store hours on Saturday?"
    assert await cache.lookup("acme", saturday, saturday) is None  # 0.97 alike, another day
    boulder = "What are the Boulder store hours on Sunday?"
    assert await cache.lookup("acme", boulder, boulder) is None
    assert particulars("Returns after 60 days, or sixty?") == {"60", "sixty"}

    versions["acme"] = "v2"  # ingested while the answer was being written from v1's passages
    late = "How long does standard shipping take?"
    await cache.store("acme", late, ANSWER, question=late, version="v1")
    assert await cache.lookup("acme", late, late) is None
