"""A local OpenAI-compatible embeddings server that serves the bundled MiniLM.

For tests and for trying ``knowledge.embedder: {type: openai_compat}`` without a network:
``POST /v1/embeddings`` and ``GET /v1/models`` in OpenAI's documented shapes (``input`` as a
string or a list of strings, ``encoding_format`` ``float`` or ``base64``, errors as
``{"error": {"message", "type", "code"}}``), with an optional bearer key. Tests can make the
next requests fail (:meth:`EmbeddingsServer.fail_next`) and read what was asked
(:attr:`EmbeddingsServer.requests`).

Run one by hand: ``python -m omnivox.testing.embeddings_server --port 8090``.
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from omnivox.knowledge.embeddings import MiniLMEmbedder

MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True, slots=True)
class Fault:
    """An answer given instead of embeddings: a status, headers, and a pause before it."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class EmbeddingsServer:
    """The server on ``127.0.0.1:port`` (0: a free one) in a background thread."""

    def __init__(self, port: int = 0, api_key: str | None = None) -> None:
        self.embedder = MiniLMEmbedder()
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []  # bodies of the embeddings requests, in order
        self.headers: list[dict[str, str]] = []  # and their headers
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The ``base_url`` to configure (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` embeddings requests with ``fault``."""
        with self._lock:
            self._faults.extend([fault] * times)

    def take_fault(self) -> Fault | None:
        """The fault for the request being answered, if one is queued."""
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        """Remember one request (thread-safe)."""
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)

    def __enter__(self) -> EmbeddingsServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


def embeddings_response(server: EmbeddingsServer, body: dict[str, Any]) -> tuple[int, Any]:
    """(status, JSON body) for one ``POST /v1/embeddings`` request body."""
    if body.get("model") != MODEL:
        return 404, _error(f"The model '{body.get('model')}' does not exist", "model_not_found")
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return 400, _error("'input' must be a string or a list of strings", "invalid_input")
    if any(not t for t in texts):
        return 400, _error("'input' cannot contain an empty string", "invalid_input")
    if body.get("dimensions") not in (None, server.embedder.dim):
        return 400, _error("This model does not support specifying dimensions.", "invalid_value")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return 400, _error("'encoding_format' must be 'float' or 'base64'", "invalid_value")
    vectors = server.embedder.embed(texts)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(v.tobytes()).decode()
            if encoding == "base64"
            else [float(x) for x in v],
        }
        for i, v in enumerate(vectors)
    ]
    tokens = sum(len(t.split()) for t in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return 200, {"object": "list", "data": data, "model": MODEL, "usage": usage}


def _error(message: str, code: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _handler(server: EmbeddingsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timed out)
                self.close_connection = True

        def _authorized(self) -> bool:
            if server.api_key is None:
                return True
            if self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            message = "Incorrect API key provided."
            self._send(401, _error(message, "invalid_api_key", "authentication_error"))
            return False

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/models":
                self._send(404, _error("not found", "not_found"))
            elif self._authorized():
                model = {"id": MODEL, "object": "model", "created": 0, "owned_by": "omnivox"}
                self._send(200, {"object": "list", "data": [model]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/embeddings":
                self._send(404, _error("not found", "not_found"))
                return
            if not self._authorized():
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, _error("the body is not JSON", "invalid_json"))
                return
            server.record(body, dict(self.headers.items()))
            fault = server.take_fault()
            if fault is not None:
                threading.Event().wait(fault.delay_s)
                self._send(fault.status, _error("injected fault", "fault"), fault.headers)
                return
            self._send(*embeddings_response(server, body))

    return Handler


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090, help="port on 127.0.0.1")
    parser.add_argument("--api-key", default=None, help="bearer key to require (default: none)")
    args = parser.parse_args()
    with EmbeddingsServer(args.port, args.api_key) as server:
        print(f"serving {MODEL} at {server.base_url} (Ctrl-C stops)")
        threading.Event().wait()


if __name__ == "__main__":
    main()
