"""Shared fixtures: settings builders, database backends (SQLite and PostgreSQL), servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from omnivox.app import create_app, server_options
from omnivox.governance.rbac import Role
from omnivox.services import Services, build_services
from omnivox.settings import Settings, validate_settings

ROOT = Path(__file__).resolve().parent.parent
ACME = ROOT / "examples" / "acme"
PG_URL = os.environ.get("OMNIVOX_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def make_settings(
    tmp_path: Path,
    *,
    providers: list[dict[str, Any]] | None = None,
    database: dict[str, Any] | None = None,
    **extra: Any,
) -> Settings:
    """Settings for one test: the Acme persona, a scripted model unless told otherwise."""
    data: dict[str, Any] = {
        "data_dir": str(tmp_path / "var"),
        "llm": {
            "providers": providers or [{"type": "scripted", "reply": "You asked: {question}"}],
            "history_turns": 3,
        },
        "database": database or {},
        # plumbing tests use scripted answers with no knowledge; grounding has its own tests
        "guardrails": {"grounding": False},
        "workspaces": [
            {
                "id": "acme",
                "name": "Acme Outfitters",
                "persona": {"name": "Juniper", "brand": "Acme Outfitters"},
            },
            {"id": "globex", "name": "Globex"},
        ],
        "config_dir": str(ACME),
        **extra,
    }
    return validate_settings(data)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Database settings for SQLite (a temp file) and PostgreSQL (a throwaway schema)."""
    if request.param == "sqlite":
        yield {"url": f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"}
        return
    schema = f"t_{secrets.token_hex(6)}"
    yield {"url": PG_URL, "schema": schema}
    asyncio.run(_drop_schema(schema))


async def _drop_schema(schema: str) -> None:
    engine = create_async_engine(PG_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


@pytest.fixture
async def services(tmp_path: Path, database: dict[str, Any]) -> AsyncIterator[Services]:
    """Started services on each database backend, with the scripted provider."""
    built = build_services(make_settings(tmp_path, database=database))
    await built.start()
    try:
        yield built
    finally:
        await built.close()


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def llama_server(log_dir: Path, *options: str) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving the bundled GGUF (alias ``smollm2``) with
    ``options``, on a free port; yields its ``/v1`` base URL once ``/models`` answers."""
    from omnivox.llm.llamacpp import bundled_model_path

    port = free_port()
    log_path = log_dir / "server.log"
    model = str(bundled_model_path())
    command = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host",
               "127.0.0.1", "--port", str(port), "--model_alias", "smollm2", *options]  # fmt: skip
    # a file, not a pipe: llama.cpp logs a lot while loading
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 90
        while not _answers(f"{base}/models"):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"llama_cpp.server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class LiveServer:
    """uvicorn running ``create_app(settings)`` in a thread, on a free port."""

    def __init__(self, settings: Settings, *, warm_up: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.services = build_services(settings)
        self.app = create_app(settings, self.services, warm_up=warm_up)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, lifespan="on", **server_options(settings)
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.loop: asyncio.AbstractEventLoop
        self._keys: dict[tuple[str, str], str] = {}

    def key(self, role: str = "admin", workspace: str = "acme") -> str:
        """An API key of ``workspace`` with ``role`` (one per pair, created on first use)."""
        if (workspace, role) not in self._keys:
            created = self.services.api_keys.create(workspace, Role(role), f"test {role}")
            self._keys[workspace, role] = run_on_server(self, created)[1]
        return self._keys[workspace, role]

    def auth(self, role: str = "admin", workspace: str = "acme") -> dict[str, str]:
        """The ``Authorization`` header of :meth:`key`."""
        return {"Authorization": f"Bearer {self.key(role, workspace)}"}

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def wait_for_knowledge(server: LiveServer, timeout: float = 120) -> None:
    """Block until the live server has ingested and indexed its knowledge (``/readyz``)."""
    deadline = time.monotonic() + timeout
    while httpx.get(f"{server.url}/readyz").json()["checks"].get("knowledge") is not True:
        assert time.monotonic() < deadline, "knowledge never became ready"
        time.sleep(0.2)


def run_on_server(server: LiveServer, coro: Any, timeout: float = 30) -> Any:
    """Run a coroutine on the live server's event loop (its database pool lives there)."""
    loop = server.loop
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=timeout)


async def events_of(services: Services, conversation_id: str) -> list[Any]:
    """The conversation's events, once the queued ones are written."""
    await services.events.flush()
    return await services.store.events(conversation_id=conversation_id)
