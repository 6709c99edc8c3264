"""Hybrid index: BM25 and dense vectors, fused (:mod:`omnivox.knowledge.fusion`).

BM25 comes from bm25s (English stemmer and stopwords), dense search from FAISS (exact inner
product on unit vectors), plus one vector per distinct document title (a FAQ entry's question, a
page's title) when titles are matched. One index per workspace and knowledge-base version.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnivox.knowledge.documents import Chunk
from omnivox.knowledge.embeddings import Vectors
from omnivox.knowledge.fusion import FusionSettings, fuse

EmbedTexts = Callable[[Sequence[str]], Vectors]
SAVED_FILES = ("chunks.json", "dense.faiss", "titles.json", "titles.npy", "format.json")
FORMAT = 2  # 2: chunks know whether they come from a FAQ entry; older saved indexes are rebuilt


@dataclass(frozen=True, slots=True)
class Hit:
    """A ranked chunk with its fused score and the ranks that produced it."""

    chunk: Chunk
    score: float
    dense_rank: int | None
    bm25_rank: int | None
    # the chunk's own cosine to the query; None: found by its keywords alone (the encoder of
    # queries could not be reached, KnowledgeBase.search)
    similarity: float | None

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
        self,
        chunks: list[Chunk],
        vectors: Vectors,
        fusion: FusionSettings | None = None,
        embed_titles: EmbedTexts | None = None,
    ) -> None:
        """Index ``chunks`` (one row of ``vectors`` each); ``embed_titles`` embeds the titles."""
        import bm25s

        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        self.chunks = chunks
        self.fusion = fusion or FusionSettings()
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        self._dense = _flat_index(matrix if matrix.ndim == 2 else matrix.reshape(0, 384))
        self._matrix = _stored_vectors(self._dense)
        self._bm25 = bm25s.BM25()
        if chunks:
            self._bm25.index(_tokenize([c.embed_text for c in chunks]), show_progress=False)
        titles = sorted({c.title for c in chunks})
        title_vectors = embed_titles(titles) if embed_titles and titles else None
        self._set_titles(titles, title_vectors)

    def _set_titles(self, titles: list[str], vectors: Vectors | None) -> None:
        self._titles = titles
        self._title_vectors = vectors
        position = {t: i for i, t in enumerate(titles)}
        self._title_of = np.asarray([position[c.title] for c in self.chunks], dtype=np.int64)
        self._faq = np.asarray([c.faq for c in self.chunks], dtype=bool)
        self._chunks_of: list[list[int]] = [[] for _ in titles]
        for idx, title in enumerate(self._title_of):
            self._chunks_of[int(title)].append(idx)

    @property
    def width(self) -> int:
        """The width of the chunks' vectors (what a query vector must have)."""
        return int(self._dense.d)

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

    def _nearest(self, query: Vectors, allowed: np.ndarray | None, depth: int) -> list[int]:
        """The ``depth`` chunks of highest cosine (FAISS)."""
        import faiss

        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed)  # must outlive the search call
            params = faiss.SearchParameters()
            params.sel = selector
        _, ids = self._dense.search(
            np.ascontiguousarray(query.reshape(1, -1)), depth, params=params
        )
        return [int(i) for i in ids[0] if i >= 0]

    def _title_matches(self, query: Vectors, allowed: np.ndarray | None, floor: float) -> list[int]:
        """Chunks whose document title is closer to the query than ``floor``."""
        if self._title_vectors is None or not self.fusion.match_titles:
            return []
        close = np.flatnonzero(self._title_vectors @ query > floor)
        found = [idx for t in close for idx in self._chunks_of[int(t)]]
        if allowed is not None:
            keep = set(allowed.tolist())
            found = [idx for idx in found if idx in keep]
        return found

    def _vector_scores(self, query: Vectors, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(vector score, own cosine) of chunks ``ids``: the score counts the title too.

        A page's chunk scores the larger of the two cosines; a FAQ entry's chunk mostly its
        question's (:class:`~omnivox.knowledge.fusion.FusionSettings`).
        """
        rows = np.asarray(ids, dtype=np.int64)
        cosine = self._matrix[rows] @ query
        if self._title_vectors is None or not self.fusion.match_titles:
            return cosine, cosine
        titles = self._title_vectors[self._title_of[rows]] @ query
        weight = self.fusion.faq_question_weight
        faq_score = weight * titles + (1.0 - weight) * cosine
        return np.where(self._faq[rows], faq_score, np.maximum(cosine, titles)), cosine

    def _vector_candidates(
        self, query: Vectors, allowed: np.ndarray | None, depth: int
    ) -> list[int]:
        """The nearest chunks, and those whose title is nearer than the last of them."""
        nearest = self._nearest(query, allowed, depth)
        floor = float(self._matrix[nearest[-1]] @ query) if len(nearest) == depth else -2.0
        return list(dict.fromkeys([*nearest, *self._title_matches(query, allowed, floor)]))

    def _bm25_scores(self, text: str, allowed: np.ndarray | None) -> np.ndarray | None:
        """Every chunk's BM25 score (-1 outside ``allowed``); None if no query word is known."""
        words = _tokenize([text], as_ids=False)[0]
        known = [w for w in words if w in self._bm25.vocab_dict]
        if not known:
            return None
        scores = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        if allowed is not None:
            masked = np.full_like(scores, -1.0)
            masked[allowed] = scores[allowed]
            scores = masked
        return scores

    def search(
        self,
        query_vector: Vectors,
        query_text: str,
        k: int = 5,
        filters: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """Top ``k`` chunks by the fused score of the vector and the keyword ranking."""
        if not self.chunks:
            return []
        allowed = self._allowed(filters)
        depth = min(len(self.chunks), max(self.fusion.depth, k))
        candidates = self._vector_candidates(query_vector, allowed, depth)
        keyword = self._bm25_scores(query_text, allowed)
        bm25: list[int] = []
        if keyword is not None:
            top = np.argsort(-keyword, kind="stable")[:depth]
            bm25 = [int(i) for i in top if keyword[i] > 0]
        ids = list(dict.fromkeys([*candidates, *bm25]))
        if not ids:
            return []
        vector, cosine = self._vector_scores(query_vector, ids)
        vector_of = dict(zip(ids, vector.tolist(), strict=True))
        dense = sorted(candidates, key=lambda i: -vector_of[i])[:depth]
        best = float(keyword.max()) if keyword is not None else 0.0
        relative = keyword[ids] / best if keyword is not None and best > 0 else np.zeros(len(ids))
        scores = fuse(
            self.fusion,
            dense,
            bm25,
            vector_of,
            dict(zip(ids, np.maximum(relative, 0.0).tolist(), strict=True)),
            frozenset(i for i in ids if self._faq[i]),
        )
        own = dict(zip(ids, cosine.tolist(), strict=True))
        d_rank = {idx: r for r, idx in enumerate(dense)}
        b_rank = {idx: r for r, idx in enumerate(bm25)}
        best_ids = sorted(scores, key=lambda i: -scores[i])[:k]
        return [
            Hit(self.chunks[i], scores[i], d_rank.get(i), b_rank.get(i), own[i]) for i in best_ids
        ]

    def keyword_search(
        self, text: str, k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        """Top ``k`` chunks by BM25 alone, scored relative to the best (no query vector)."""
        if not self.chunks:
            return []
        keyword = self._bm25_scores(text, self._allowed(filters))
        if keyword is None or float(keyword.max()) <= 0:
            return []
        best = float(keyword.max())
        top = [int(i) for i in np.argsort(-keyword, kind="stable")[:k] if keyword[i] > 0]
        return [
            Hit(self.chunks[i], float(keyword[i]) / best, None, rank, None)
            for rank, i in enumerate(top)
        ]

    def save(self, folder: Path) -> None:
        """Write the index files to ``folder``."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._dense, str(folder / "dense.faiss"))
        self._bm25.save(str(folder / "bm25"))
        rows = [{**asdict(c), "heading_path": list(c.heading_path)} for c in self.chunks]
        (folder / "chunks.json").write_text(json.dumps(rows), encoding="utf-8")
        (folder / "titles.json").write_text(json.dumps(self._titles), encoding="utf-8")
        title_vectors = self._title_vectors
        np.save(
            folder / "titles.npy",
            np.zeros((0, 0), np.float32) if title_vectors is None else title_vectors,
        )
        (folder / "format.json").write_text(json.dumps({"format": FORMAT}), encoding="utf-8")

    @staticmethod
    def saved(folder: Path) -> bool:
        """Whether ``folder`` holds a complete index in this version's format."""
        if not all((folder / name).is_file() for name in SAVED_FILES):
            return False
        try:
            found = json.loads((folder / "format.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(found, dict) and found.get("format") == FORMAT

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
        index._matrix = _stored_vectors(index._dense)
        index._bm25 = bm25s.BM25.load(str(folder / "bm25"))
        titles = json.loads((folder / "titles.json").read_text(encoding="utf-8"))
        title_vectors = np.load(folder / "titles.npy")
        index._set_titles(titles, title_vectors if title_vectors.size else None)
        return index


def _stored_vectors(dense: Any) -> Vectors:
    """The vectors a flat FAISS index holds, as a numpy view (no copy; lives with ``dense``)."""
    import faiss

    count, width = dense.ntotal, dense.d
    if count == 0:
        return np.zeros((0, width), dtype=np.float32)
    return np.asarray(faiss.rev_swig_ptr(dense.get_xb(), count * width)).reshape(count, width)


def _flat_index(matrix: Vectors) -> Any:
    """A FAISS exact inner-product index over ``matrix`` (384 wide when empty)."""
    import faiss

    dense = faiss.IndexFlatIP(matrix.shape[1] if len(matrix) else 384)
    if len(matrix):
        dense.add(matrix)
    return dense
