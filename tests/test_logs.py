from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from omnivox.logs import configure_logging
from tests.conftest import LiveServer, make_settings


def test_json_logs_carry_dotted_events_and_turn_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "debug")
    try:
        with LiveServer(make_settings(tmp_path)) as server:
            reply = httpx.post(
                f"{server.url}/api/v1/messages",
                headers=server.auth(),
                json={"workspace": "acme", "customer": {"id": "c"}, "text": "hi"},
            ).json()
    finally:
        configure_logging("console", "info")
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    by_event = {line["event"]: line for line in lines}
    assert {"server.started", "pipeline.step", "turn.completed", "message.delivered"} <= set(
        by_event
    )
    completed = by_event["turn.completed"]
    assert completed["conversation_id"] == reply["conversation_id"]
    assert completed["turn_id"].startswith("turn_") and completed["workspace"] == "acme"
    steps = [line for line in lines if line["event"] == "pipeline.step"]
    assert all(s["turn_id"] == completed["turn_id"] for s in steps)


def test_stdlib_loggers_are_json_too(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    configure_logging("json", "info")
    try:
        logging.getLogger("uvicorn.error").info("Application startup complete.")
    finally:
        configure_logging("console", "info")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "Application startup complete."
    assert line["logger"] == "uvicorn.error" and line["level"] == "info"
