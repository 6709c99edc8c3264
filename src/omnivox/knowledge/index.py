"""Hybrid index: BM25 and dense vectors, fused by reciprocal rank fusion.

BM25 comes from bm25s (English stemmer and stopwords), dense search from FAISS (exact inner
product on unit vectors). One index per workspace and knowledge-base version.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnivox.knowledge.documents import Chunk
from omnivox.knowledge.embeddings import Vectors


@dataclass(frozen=True, slots=True)
class FusionSettings:
    """RRF constant, per-retriever weights and how deep each retriever is read."""

    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    depth: int = 50


@dataclass(frozen=True, slots=True)
class Hit:
    """A ranked chunk with its fused score and the ranks that produced it."""

    chunk: Chunk
    score: float
    dense_rank: int | None
    bm25_rank: int | None
    similarity: float | None = None  # cosine to the query, when in the dense ranking

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of a search result (CLI and REST)."""
        c = self.chunk
        return {
            "source_id": c.source_id,
            "title": c.title,
            "text": c.text,
            "score": round(self.score, 6),
            "similarity": self.similarity,
            "url": c.url,
            "heading_path": list(c.heading_path),
            "chunk_id": c.chunk_id,
        }


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _tokenize(texts: list[str], *, as_ids: bool = True) -> Any:
    import bm25s

    return bm25s.tokenize(
        texts, stopwords="en", stemmer=_stemmer(), return_ids=as_ids, show_progress=False
    )


class HybridIndex:
    """Keyword and vector search over one set of chunks."""

    def __init__(
        self, chunks: list[Chunk], vectors: Vectors, fusion: FusionSettings | None = None
    ) -> None:
        import bm25s
        import faiss

        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        self.chunks = chunks
        self.fusion = fusion or FusionSettings()
        self._dense: faiss.Index = faiss.IndexFlatIP(vectors.shape[1] if len(vectors) else 384)
        if len(vectors):
            self._dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self._bm25 = bm25s.BM25()
        if chunks:
            self._bm25.index(_tokenize([c.embed_text for c in chunks]), show_progress=False)

    def __len__(self) -> int:
        return len(self.chunks)

    def _allowed(self, filters: dict[str, Any] | None) -> np.ndarray | None:
        if not filters:
            return None
        keep = [
            i
            for i, c in enumerate(self.chunks)
            if all(
                c.metadata.get(k) == v or (k == "source_id" and c.source_id == v)
                for k, v in filters.items()
            )
        ]
        return np.asarray(keep, dtype=np.int64)

    def _dense_ranking(
        self, query: Vectors, allowed: np.ndarray | None, depth: int
    ) -> tuple[list[int], dict[int, float]]:
        import faiss

        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed)  # must outlive the search call
            params = faiss.SearchParameters()
            params.sel = selector
        sims, ids = self._dense.search(
            np.ascontiguousarray(query.reshape(1, -1)), depth, params=params
        )
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0]
        return [i for i, _ in pairs], dict(pairs)

    def _bm25_ranking(self, text: str, allowed: np.ndarray | None, depth: int) -> list[int]:
        words = _tokenize([text], as_ids=False)[0]
        known = [w for w in words if w in self._bm25.vocab_dict]
        if not known:
            return []
        scores = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        if allowed is not None:
            masked = np.full_like(scores, -1.0)
            masked[allowed] = scores[allowed]
            scores = masked
        top = np.argsort(-scores)[:depth]
        return [int(i) for i in top if scores[i] > 0]

    def search(
        self,
        query_vector: Vectors,
        query_text: str,
        k: int = 5,
        filters: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """Top ``k`` chunks by reciprocal rank fusion of the two rankings."""
        if not self.chunks:
            return []
        allowed = self._allowed(filters)
        depth = min(len(self.chunks), max(self.fusion.depth, k))
        dense, similarity = self._dense_ranking(query_vector, allowed, depth)
        bm25 = self._bm25_ranking(query_text, allowed, depth)
        scores: dict[int, float] = {}
        for weight, ranking in ((self.fusion.dense_weight, dense), (self.fusion.bm25_weight, bm25)):
            for rank, idx in enumerate(ranking):
                scores[idx] = scores.get(idx, 0.0) + weight / (self.fusion.rrf_k + rank + 1)
        d_rank = {idx: r for r, idx in enumerate(dense)}
        b_rank = {idx: r for r, idx in enumerate(bm25)}
        best = sorted(scores, key=lambda i: -scores[i])[:k]
        return [
            Hit(self.chunks[i], scores[i], d_rank.get(i), b_rank.get(i), similarity.get(i))
            for i in best
        ]

    def save(self, folder: Path) -> None:
        """Write the index files to ``folder``."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._dense, str(folder / "dense.faiss"))
        self._bm25.save(str(folder / "bm25"))
        rows = [{**asdict(c), "heading_path": list(c.heading_path)} for c in self.chunks]
        (folder / "chunks.json").write_text(json.dumps(rows), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, fusion: FusionSettings | None = None) -> HybridIndex:
        """Read an index written by :meth:`save`."""
        import bm25s
        import faiss

        index = cls.__new__(cls)
        rows = json.loads((folder / "chunks.json").read_text(encoding="utf-8"))
        index.chunks = [Chunk(**{**r, "heading_path": tuple(r["heading_path"])}) for r in rows]
        index.fusion = fusion or FusionSettings()
        index._dense = faiss.read_index(str(folder / "dense.faiss"))
        index._bm25 = bm25s.BM25.load(str(folder / "bm25"))
        return index
