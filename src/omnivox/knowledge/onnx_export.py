"""Export the bundled MiniLM to ONNX once, so it runs on ONNX Runtime.

Runs on the CPU that is here, from the weights in site-packages: nothing is downloaded. The
file is cached under ``$OMNIVOX_CACHE_DIR`` (default ``~/.cache/omnivox``), named by a digest
of the model's config, the sizes of its weight and tokenizer files and the exporter's versions,
written to a temporary name and renamed, so concurrent processes never read half a file.
Export takes ~2 s; torch is imported only here.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from importlib.metadata import version
from pathlib import Path

MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
OPSET = 17


def cache_dir() -> Path:
    """Where derived model files live (shared by every data dir and every clone)."""
    configured = os.environ.get("OMNIVOX_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "omnivox"


def onnx_path(model_dir: Path) -> Path:
    """The cached ONNX file for this model and these library versions."""
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        stat = (model_dir / name).stat()
        digest.update(f"{name}:{stat.st_size}\n".encode())
    digest.update((model_dir / "config.json").read_bytes())
    for package in ("torch", "transformers", "onnx"):
        digest.update(f"{package}={version(package)}\n".encode())
    return cache_dir() / "onnx" / f"{model_dir.parent.name}-{digest.hexdigest()[:16]}.onnx"


def ensure_onnx(model_dir: Path) -> Path:
    """The ONNX file of the bundled model, exported first if it is not cached yet."""
    target = onnx_path(model_dir)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    _export(model_dir, tmp)
    tmp.replace(target)
    return target


def _export(model_dir: Path, out: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class Encoder(torch.nn.Module):
        """Token states of the transformer (pooling is done outside, in numpy)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=ids, attention_mask=mask)[0]  # type: ignore[no-any-return]

    sample = torch.ones((1, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shapes fixed by the sample input
        torch.onnx.export(
            Encoder(),
            (sample, sample),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["hidden"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
            opset_version=OPSET,
            dynamo=False,
        )
