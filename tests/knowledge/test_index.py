"""The hybrid index's fusion and title matching, on vectors chosen by hand.

Axis-aligned vectors make every cosine 0 or 1, so the fused scores can be checked exactly; the
knowledge base tests (test_service.py) run the same index on the bundled MiniLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnivox.knowledge.documents import Chunk
from omnivox.knowledge.embeddings import Vectors
from omnivox.knowledge.fusion import FusionSettings
from omnivox.knowledge.index import Hit, HybridIndex
from omnivox.knowledge.service import best_of

E = np.eye(4, dtype=np.float32)
CHUNKS = [
    Chunk("c0", "refunds", 0, "Refunds", (), "Your money comes back within 30 days."),
    Chunk("c1", "shipping", 0, "Shipping", (), "Parcels travel by courier."),
    Chunk("c2", "shipping", 1, "Shipping", (), "A tracking number arrives by email."),
]


def index(titles: dict[str, np.ndarray] | None = None, **fusion: Any) -> HybridIndex:
    """The three chunks on axes 0-2; titles on axis 3 (away from every chunk) by default."""
    table = titles or {"Refunds": E[3], "Shipping": E[3]}

    def embed_titles(texts: Sequence[str]) -> Vectors:
        return np.stack([table[t] for t in texts])

    vectors = np.stack([E[0], E[1], E[2]])
    return HybridIndex(CHUNKS, vectors, FusionSettings(**fusion), embed_titles)


def test_linear_fusion_adds_the_relative_bm25_score_to_the_cosine() -> None:
    hits = index(bm25_weight=0.5).search(E[1], "tracking email", k=3)
    assert [h.chunk.chunk_id for h in hits[:2]] == ["c1", "c2"]
    assert hits[0].score == pytest.approx(1.0)  # cosine 1, no query word
    assert hits[1].score == pytest.approx(0.5)  # cosine 0, the best BM25 score: 0.5 x 1
    assert hits[1].bm25_rank == 0 and hits[1].similarity == pytest.approx(0.0)
    heavy = index(bm25_weight=2.0).search(E[1], "tracking email", k=1)
    assert heavy[0].chunk.chunk_id == "c2" and heavy[0].score == pytest.approx(2.0)


def test_rrf_fusion_sums_weighted_reciprocal_ranks() -> None:
    query = np.array([0.3, 0.9, 0.1, 0.0], np.float32)  # cosines: c1 > c0 > c2
    hits = index(method="rrf", bm25_weight=1.0).search(query, "tracking email", k=3)
    # ranks alone: c2, last on the vector side but first on BM25, passes c1 (cosine 1)
    assert [h.chunk.chunk_id for h in hits[:2]] == ["c2", "c1"]
    assert hits[0].dense_rank == 2 and hits[0].bm25_rank == 0
    assert hits[0].score == pytest.approx(1 / 63 + 1 / 61)
    assert hits[1].score == pytest.approx(1 / 61)


def test_a_query_close_to_a_title_finds_its_chunks() -> None:
    titled = index({"Refunds": E[3], "Shipping": E[0]}).search(E[3], "zzz", k=3)
    assert titled[0].chunk.chunk_id == "c0" and titled[0].score == pytest.approx(1.0)
    assert titled[0].similarity == pytest.approx(0.0)  # the passage's own cosine is kept
    plain = index({"Refunds": E[3], "Shipping": E[0]}, match_titles=False).search(E[3], "zzz", k=3)
    assert all(h.score == pytest.approx(0.0) for h in plain)


def test_filters_hold_for_chunks_found_by_title() -> None:
    hits = index({"Refunds": E[3], "Shipping": E[0]}).search(
        E[3], "zzz", k=3, filters={"source_id": "shipping"}
    )
    assert {h.chunk.source_id for h in hits} == {"shipping"}


def test_saved_index_keeps_titles_and_old_folders_are_not_loaded(tmp_path: Path) -> None:
    built = index({"Refunds": E[3], "Shipping": E[0]})
    built.save(tmp_path / "v1")
    assert HybridIndex.saved(tmp_path / "v1")
    loaded = HybridIndex.load(tmp_path / "v1")
    before = [(h.chunk.chunk_id, h.score) for h in built.search(E[3], "money", k=3)]
    assert [(h.chunk.chunk_id, h.score) for h in loaded.search(E[3], "money", k=3)] == before
    (tmp_path / "v1" / "titles.npy").unlink()  # the format before titles were matched
    assert not HybridIndex.saved(tmp_path / "v1")


def test_an_empty_index_finds_nothing() -> None:
    empty = HybridIndex([], np.zeros((0, 384), np.float32), embed_titles=lambda t: E[: len(t)])
    assert empty.search(np.ones(384, np.float32), "anything") == []


def test_best_of_two_rankings_keeps_each_chunk_once_with_its_best_score() -> None:
    in_context = [Hit(CHUNKS[1], 1.2, 0, 0, 0.6), Hit(CHUNKS[0], 0.5, 1, None, 0.2)]
    alone = [Hit(CHUNKS[0], 0.9, 0, 0, 0.7), Hit(CHUNKS[1], 0.4, 1, 1, 0.8)]
    merged = best_of([(in_context, 0.0), (alone, 0.1)], 5)
    assert [h.chunk.chunk_id for h in merged] == ["c1", "c0"]
    assert merged[0].score == 1.2 and merged[0].dense_rank == 0  # the context scored it best
    assert merged[0].similarity == 0.8  # but the message alone is closer to it
    assert merged[1].score == pytest.approx(1.0) and merged[1].similarity == 0.7
    assert merged[1].dense_rank == 0  # the ranks of the ranking that scored it best
    led = best_of([(in_context, 0.0), (alone, 0.4)], 1)
    assert [h.chunk.chunk_id for h in led] == ["c0"] and led[0].score == pytest.approx(1.3)


FAQ = [
    Chunk("f0", "faq#1", 0, "Where is my parcel?", (), "Where is my parcel?\nTrack it.", faq=True),
    Chunk("p0", "shipping", 0, "Shipping", (), "Parcels travel by courier."),
]


def faq_index(**fusion: Any) -> HybridIndex:
    """A FAQ entry's chunk on axis 0, a page's chunk on axis 1; both titles on axis 3."""

    def embed_titles(texts: Sequence[str]) -> Vectors:
        return np.stack([E[3] for _ in texts])

    return HybridIndex(FAQ, np.stack([E[0], E[1]]), FusionSettings(**fusion), embed_titles)


def test_a_faq_entry_scores_mostly_by_its_question_and_little_by_keywords() -> None:
    by_title = faq_index().search(E[3], "zzz", k=2)
    scores = {h.chunk.chunk_id: h.score for h in by_title}
    assert scores["p0"] == pytest.approx(1.0)  # a page: the larger of the two cosines
    assert scores["f0"] == pytest.approx(0.7)  # a FAQ entry: 0.7 x question + 0.3 x own
    own = faq_index(faq_question_weight=0.25).search(E[0], "zzz", k=2)
    assert own[0].chunk.chunk_id == "f0" and own[0].score == pytest.approx(0.75)
    keyword = faq_index().search(E[2], "track", k=2)  # only the FAQ entry holds the word
    assert keyword[0].chunk.chunk_id == "f0" and keyword[0].score == pytest.approx(0.1)
    heavier = faq_index(faq_bm25_weight=0.5).search(E[2], "track", k=1)
    assert heavier[0].score == pytest.approx(0.5)
    page = faq_index().search(E[2], "courier", k=1)  # a page's BM25 keeps its own weight
    assert page[0].chunk.chunk_id == "p0" and page[0].score == pytest.approx(0.5)


def test_a_saved_index_keeps_the_faq_mark_and_older_formats_are_rebuilt(tmp_path: Path) -> None:
    faq_index().save(tmp_path / "v2")
    loaded = HybridIndex.load(tmp_path / "v2")
    assert [c.faq for c in loaded.chunks] == [True, False]
    assert loaded.search(E[3], "zzz", k=2)[1].score == pytest.approx(0.7)
    (tmp_path / "v2" / "format.json").write_text('{"format": 1}')
    assert not HybridIndex.saved(tmp_path / "v2")
    (tmp_path / "v2" / "format.json").unlink()  # saved before formats were numbered
    assert not HybridIndex.saved(tmp_path / "v2")
