"""Passages and queries embedded by an OpenAI-compatible ``/v1/embeddings`` server.

The scale-out twin of the bundled MiniLM (DESIGN.md): vLLM, Ollama, llama.cpp's server, Hugging
Face TEI or OpenAI itself serve a stronger encoder than a laptop can run, and every server of a
deployment gets the same vectors. Requests are OpenAI's documented shape (``model``, ``input``
as a list, ``encoding_format: "float"``, ``dimensions`` when configured); the answer's ``data``
items are put back in input order by their ``index``, and every vector is scaled to unit length
(not every server normalises), so inner product stays cosine similarity as the index expects.

Calls are synchronous: the knowledge base runs every embedding in a worker thread already
(:func:`asyncio.to_thread`), as it does for the in-process model. Passages (an ingest) and
queries (a customer's turn) are asked differently:

- **passages**: ``timeout_s`` a request; a timeout, a dropped connection, HTTP 408/409/425/429
  or 5xx is retried at most ``max_retries`` times, after the server's ``Retry-After`` (up to
  ``MAX_BULK_RETRY_AFTER_S``: a rate-limited hosted API asks for tens of seconds) or a short
  back-off;
- **queries**: one try of at most ``query_timeout_s``, never retried: a turn does not wait for a
  slow server, its search uses keywords instead.

After a failure the server is not asked again for ``breaker_s`` seconds (every call fails at
once meanwhile), so a server that hangs costs one wait, not one per turn. Anything else than the
retryable failures fails at once with :class:`EmbeddingError`, which names the server, the
status and the server's own message.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import numpy as np

from omnivox.knowledge.embeddings import RECENT_QUERIES, Vectors
from omnivox.settings import OpenAICompatEmbedderSettings

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BULK_RETRY_AFTER_S = 120.0  # the longest Retry-After an ingest waits for, each time
BACKOFF_S = 0.25  # first pause between attempts when the server names none; doubles each time
NAME_CHARS = 200  # the stored name of a vector space (kb_state.embedder)


class EmbeddingError(RuntimeError):
    """The embeddings server did not embed the texts (after the retries allowed)."""


def space_name(settings: OpenAICompatEmbedderSettings) -> str:
    """The name of the vectors ``settings`` make: model, width and passage prefix.

    Stored beside a workspace's chunks; a different name means their vectors must be made
    again. The query prefix and the server's address are not in it: they change no stored
    vector.
    """
    name = f"openai_compat:{settings.model}"
    if settings.dimensions is not None:
        name += f" dimensions={settings.dimensions}"
    if settings.document_prefix:
        name += f" document_prefix={settings.document_prefix!r}"
    if len(name) > NAME_CHARS:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = f"{name[: NAME_CHARS - 17]}~{digest}"
    return name


class OpenAICompatEmbedder:
    """Client for ``POST {base_url}/embeddings``."""

    def __init__(
        self,
        settings: OpenAICompatEmbedderSettings,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.name = space_name(settings)
        self.url = settings.base_url.rstrip("/") + "/embeddings"
        headers = {"Content-Type": "application/json"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._sleep, self._clock = sleep, clock
        self._down_until = 0.0  # the breaker: no call before this (clock) time
        self._query_timeout = httpx.Timeout(settings.query_timeout_s)
        self._recent: OrderedDict[str, Vectors] = OrderedDict()
        self._recent_lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Passages (with ``document_prefix``), in batches of ``batch_size``."""
        prefix, size = self.settings.document_prefix, self.settings.batch_size
        rows = [
            self._request([prefix + t for t in texts[i : i + size]])
            for i in range(0, len(texts), size)
        ]
        return _stack(rows)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Queries (with ``query_prefix``) in one request; recent ones are remembered."""
        with self._recent_lock:
            known = {t: self._recent[t] for t in texts if t in self._recent}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            prefix = self.settings.query_prefix
            fresh = self._request([prefix + t for t in missing], query=True)
            with self._recent_lock:
                for text, vector in zip(missing, fresh, strict=True):
                    known[text] = self._recent[text] = vector
                while len(self._recent) > RECENT_QUERIES:
                    self._recent.popitem(last=False)
        return _stack([np.stack([known[t] for t in texts])]) if texts else _stack([])

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _request(self, inputs: list[str], *, query: bool = False) -> Vectors:
        """One batch's vectors; a failure opens the breaker (see the module's docstring)."""
        wait = self._down_until - self._clock()
        if wait > 0:
            raise EmbeddingError(f"{self.url}: not answering; asked again in {wait:.0f} s")
        try:
            vectors = self._attempts(inputs, query)
        except EmbeddingError:
            self._down_until = self._clock() + self.settings.breaker_s
            raise
        self._down_until = 0.0
        return vectors

    def _attempts(self, inputs: list[str], query: bool) -> Vectors:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "input": [text if text.strip() else " " for text in inputs],  # "" is refused
            "encoding_format": "float",
        }
        if self.settings.dimensions is not None:
            body["dimensions"] = self.settings.dimensions
        attempts = 1 if query else self.settings.max_retries + 1
        timeout = self._query_timeout if query else httpx.USE_CLIENT_DEFAULT
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._client.post(self.url, json=body, timeout=timeout)
            except httpx.TransportError as exc:  # timeouts, refused or dropped connections
                if last:
                    raise EmbeddingError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
                self._sleep(BACKOFF_S * 2**attempt)
                continue
            if response.status_code in RETRYABLE_STATUS and not last:
                self._sleep(_retry_after(response) or BACKOFF_S * 2**attempt)
                continue
            return self._vectors(response, len(inputs))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _vectors(self, response: httpx.Response, expected: int) -> Vectors:
        if response.status_code != 200:
            raise EmbeddingError(
                f"{self.url}: HTTP {response.status_code}: {_server_message(response)}"
            )
        try:
            items = sorted(response.json()["data"], key=lambda item: int(item["index"]))
            vectors = [_decode(item["embedding"]) for item in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"{self.url}: not an embeddings response ({exc!r})") from exc
        if len(vectors) != expected:
            raise EmbeddingError(f"{self.url}: {len(vectors)} vectors for {expected} texts")
        widths = {len(v) for v in vectors}
        wanted = self.settings.dimensions
        if len(widths) != 1 or (wanted is not None and widths != {wanted}):
            raise EmbeddingError(
                f"{self.url}: vectors of width {sorted(widths)}"
                + (f", expected {wanted} (dimensions)" if wanted is not None else "")
            )
        return _unit(np.stack(vectors))


def _decode(raw: Any) -> Vectors:
    """One vector: a list of numbers, or base64 float32 (what some servers always send)."""
    if isinstance(raw, str):
        return np.frombuffer(base64.b64decode(raw), dtype=np.float32)
    if not isinstance(raw, list) or not raw or isinstance(raw[0], list):
        raise ValueError("an embedding must be a flat list of numbers (pooled)")
    return np.asarray(raw, dtype=np.float32)


def _unit(matrix: Vectors) -> Vectors:
    norms = np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return np.asarray(matrix / norms, dtype=np.float32)


def _stack(parts: list[Vectors]) -> Vectors:
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked to wait (header in seconds or as a date), capped."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_BULK_RETRY_AFTER_S)


def _server_message(response: httpx.Response) -> str:
    """The server's ``error.message`` (OpenAI's error shape), else the start of its body."""
    try:
        error = response.json().get("error")
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    return str(error)[:300] if error else response.text[:300]
