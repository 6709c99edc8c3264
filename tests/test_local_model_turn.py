"""A whole turn with the embedded defaults: the bundled model, then the extractive fallback."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, events_of, make_settings, run_on_server

pytestmark = pytest.mark.model


def test_turn_with_the_bundled_model(tmp_path: Path) -> None:
    providers = [{"type": "llamacpp", "n_ctx": 1024}, {"type": "extractive"}]
    settings = make_settings(tmp_path, providers=providers)
    with LiveServer(settings, warm_up=True) as server:
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "model never became ready"
            time.sleep(0.2)
        for text in ("Hello! Who are you?", "What do you sell?"):
            response = httpx.post(
                f"{server.url}/api/v1/messages",
                headers=server.auth(),
                timeout=60,
                json={"workspace": "acme", "customer": {"id": "c"}, "text": text},
            )
            assert response.status_code == 200
            data = response.json()
            assert data["reply"]["text"].strip()
        events = run_on_server(server, events_of(server.services, data["conversation_id"]))
    first, second = [e.payload for e in events if e.type == "turn.completed"]
    assert first["provider"] == "llamacpp" and first["fallbacks"] == []
    assert first["prompt_tokens"] > 20 and first["completion_tokens"] > 0
    assert first["first_token_ms"] is not None
    # the second turn's prompt begins with the first one's: the model kept it
    assert first["prompt_tokens"] <= second["cached_tokens"] < second["prompt_tokens"]
    # the bundled weights were re-encoded once into the data dir (llm/llama_weights.py)
    made = sorted(p.name for p in (Path(settings.data_dir) / "models").iterdir())
    assert len(made) == 1 and made[0].endswith(".q8_0.gguf")
