"""How the vector and keyword rankings of one query become one ranking.

``linear`` (the default): ``dense_weight * cosine + bm25_weight * BM25 / best BM25 of the query``
over every chunk either side ranked. ``rrf``: reciprocal rank fusion, ``weight / (rrf_k + rank)``
summed over the two rankings. On doc2dial dev (``bench/retrieval.py``, docs/knowledge.md) the
linear fusion with BM25 at half the weight ranked the gold document first for 0.750 of the turns
against 0.721 with RRF: RRF throws the scores away, so a chunk far ahead on one side counts no
more than one just ahead, and on a small knowledge base almost every chunk is in both rankings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FusionMethod = Literal["linear", "rrf"]
DEFAULT_BM25_WEIGHT: dict[FusionMethod, float] = {"linear": 0.5, "rrf": 1.0}


@dataclass(frozen=True, slots=True)
class FusionSettings:
    """Fusion method and weights, how deep each side is read, whether titles are matched.

    ``match_titles``: a chunk's vector score is the larger of its cosine to the query and its
    document title's (a page's title), so a query that paraphrases a title finds the document
    even when the chunk's own text says it otherwise. A chunk of a FAQ entry scores
    ``faq_question_weight`` × its question's cosine + the rest × its own, and its BM25 counts
    ``faq_bm25_weight`` (linear fusion): customers paraphrase the question, and keywords the
    answer shares with sibling entries mislead (StackFAQ dev half R@1 0.965 against 0.929 with
    the documents' scoring, bench/retrieval.py; docs/knowledge.md).
    """

    method: FusionMethod = "linear"
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = DEFAULT_BM25_WEIGHT["linear"]
    depth: int = 50
    match_titles: bool = True
    faq_question_weight: float = 0.7
    faq_bm25_weight: float = 0.1


def fuse(
    settings: FusionSettings,
    dense: list[int],
    bm25: list[int],
    dense_of: dict[int, float],
    keyword_of: dict[int, float],
    faq: frozenset[int] = frozenset(),
) -> dict[int, float]:
    """Fused score of every chunk either ranking holds.

    ``dense`` and ``bm25`` are chunk positions, best first; ``dense_of`` is the vector score and
    ``keyword_of`` the BM25 score divided by the query's best (0 to 1) of each of those chunks;
    ``faq`` the positions of FAQ entries' chunks, whose BM25 counts ``faq_bm25_weight``.
    """
    if settings.method == "rrf":
        return _rrf(settings, dense, bm25)
    return {
        idx: settings.dense_weight * dense_of[idx]
        + (settings.faq_bm25_weight if idx in faq else settings.bm25_weight) * keyword_of[idx]
        for idx in dict.fromkeys([*dense, *bm25])
    }


def _rrf(settings: FusionSettings, dense: list[int], bm25: list[int]) -> dict[int, float]:
    scores: dict[int, float] = {}
    for weight, ranking in ((settings.dense_weight, dense), (settings.bm25_weight, bm25)):
        for rank, idx in enumerate(ranking):
            scores[idx] = scores.get(idx, 0.0) + weight / (settings.rrf_k + rank + 1)
    return scores
