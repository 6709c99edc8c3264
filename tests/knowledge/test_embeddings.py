"""The bundled MiniLM on ONNX Runtime: the fused export gives the reference model's vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from omnivox.knowledge.embeddings import MiniLMEmbedder, bundled_model_dir
from omnivox.knowledge.onnx_export import ensure_onnx, onnx_path

TEXTS = [
    "yes",
    "How long does standard shipping take?",
    "Returns are accepted within 60 days of delivery with the receipt; worn boots too. " * 6,
    "¿Puedo cambiar la talla de mi pedido?",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh export into a cache of its own (not the shared ~/.cache one)."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMNIVOX_CACHE_DIR", str(cache))
        path = ensure_onnx(bundled_model_dir())
        assert path == onnx_path(bundled_model_dir())
    assert path.is_relative_to(cache)
    return path


def test_export_uses_fused_bert_operators(exported: Path) -> None:
    ops = {node.op_type for node in onnx.load(str(exported)).graph.node}
    assert {"Attention", "SkipLayerNormalization", "EmbedLayerNormalization"} <= ops
    assert "Softmax" not in ops  # attention is one node per layer, not its parts
    assert not list(exported.parent.glob("*.tmp"))  # nothing half-written left behind


def test_vectors_match_the_reference_model(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("OMNIVOX_CACHE_DIR", str(exported.parent.parent))
    ours = MiniLMEmbedder().embed(TEXTS)
    reference = SentenceTransformer(str(bundled_model_dir()), device="cpu").encode(
        TEXTS, normalize_embeddings=True
    )
    assert ours.shape == (len(TEXTS), 384)
    assert np.abs(ours - reference).max() < 1e-5
    one = MiniLMEmbedder().embed([TEXTS[1]])  # alone (no padding) as in a batch
    assert np.abs(one[0] - ours[1]).max() < 1e-5


def test_session_workers_do_not_spin(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat model's threads share the cores: spinning workers would stall its answers."""
    monkeypatch.setenv("OMNIVOX_CACHE_DIR", str(exported.parent.parent))
    session, _ = MiniLMEmbedder()._load()
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
