"""The bundled model's weights re-encoded once by llama.cpp's own quantizer (no network)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from omnivox.llm.base import ChatMessage, CompletionRequest, ProviderError
from omnivox.llm.llama_weights import reencoded
from omnivox.llm.llamacpp import LlamaCppProvider, bundled_model_path
from omnivox.settings import LlamaCppSettings

pytestmark = pytest.mark.model


def test_reencoded_once_and_named_by_the_shipped_files_digest(tmp_path: Path) -> None:
    source = bundled_model_path()
    first = reencoded(source, tmp_path, "q8_0")
    assert first.parent == tmp_path and first.name.startswith("SmolLM2-135M-Instruct.")
    assert first.name.endswith(".q8_0.gguf") and first.read_bytes()[:4] == b"GGUF"
    # 8-bit blocks: larger than the 4-bit file, smaller than half floats
    assert source.stat().st_size < first.stat().st_size < 2 * source.stat().st_size
    made = first.stat().st_mtime_ns
    assert reencoded(source, tmp_path, "q8_0") == first and first.stat().st_mtime_ns == made
    assert reencoded(source, tmp_path, "shipped") == source
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no partial file left


async def test_q4_0_is_smaller_than_q8_0_and_the_provider_answers_with_it(
    tmp_path: Path,
) -> None:
    q4, q8 = (reencoded(bundled_model_path(), tmp_path, w) for w in ("q4_0", "q8_0"))
    assert q4.name.endswith(".q4_0.gguf") and q4.stat().st_size < 0.75 * q8.stat().st_size
    settings = LlamaCppSettings(
        type="llamacpp", n_ctx=1024, weights="q4_0", weights_dir=str(tmp_path)
    )
    completion = await LlamaCppProvider(settings).complete(_request("Name a hiking boot."))
    assert completion.text.strip() and completion.model.endswith(".q4_0")


def test_a_file_llama_cpp_cannot_read_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(4096))
    out = tmp_path / "models"
    with pytest.raises(ProviderError, match=r"could not re-encode .*broken\.gguf as q8_0"):
        reencoded(broken, out, "q8_0")
    assert list(out.iterdir()) == []


async def test_the_provider_answers_with_the_reencoded_weights(tmp_path: Path) -> None:
    settings = LlamaCppSettings(type="llamacpp", n_ctx=1024, weights_dir=str(tmp_path))
    completion = await LlamaCppProvider(settings).complete(
        _request("Suggest a name for a hiking boot.")
    )
    assert completion.text.strip() and completion.model.endswith(".q8_0")
    assert [p.suffix for p in await asyncio.to_thread(lambda: list(tmp_path.iterdir()))] == [
        ".gguf"
    ]


def _request(question: str) -> CompletionRequest:
    """A short greedy completion of ``question``."""
    return CompletionRequest(
        (ChatMessage("system", "You are a helpful assistant."), ChatMessage("user", question)),
        question,
        max_tokens=12,
        temperature=0.0,
    )
