from __future__ import annotations

import json
import time
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


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_logged_exception_shows_no_local_values(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from omnivox.logs import get_logger

    def fail(card: str) -> None:
        secret_key = bytes(range(65, 81))  # what a frame's locals hold: keys, messages
        raise ValueError(f"bad input of {len(card) + len(secret_key)} characters")

    card = " ".join(["".join(map(str, (4, 1, 1, 1)))] * 4)  # not in the traceback's source

    configure_logging(fmt, "info")  # type: ignore[arg-type]
    try:
        try:
            fail(card)
        except ValueError:
            get_logger("test").exception("turn.failed")
    finally:
        configure_logging("console", "info")
    err = capsys.readouterr().err
    assert "turn.failed" in err and "bad input of 35 characters" in err  # the traceback is there
    assert "4111" not in err and "ABCDEFGHIJKLMNOP" not in err


async def test_a_failed_statement_does_not_carry_its_values(tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from omnivox.storage.db import Database

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    try:
        async with db.sessions.begin() as session:
            await session.execute(text("CREATE TABLE t (v TEXT UNIQUE)"))
        with pytest.raises(IntegrityError) as failure:
            async with db.sessions.begin() as session:
                for _ in range(2):
                    await session.execute(text("INSERT INTO t VALUES (:v)"), {"v": "maya@x.org"})
    finally:
        await db.close()
    assert "UNIQUE" in str(failure.value) and "maya@x.org" not in str(failure.value)


def test_a_visitor_id_in_a_logged_url_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    configure_logging("json", "info")
    try:  # what uvicorn logs for every web chat connection (the id resumes the conversation)
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" [accepted]',
            "127.0.0.1:50312",
            "/ws/chat?workspace=acme&visitor=v_3f9a1c2b7d",
        )
    finally:
        configure_logging("console", "info")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "v_3f9a1c2b7d" not in line["event"]
    assert "/ws/chat?workspace=acme&visitor=***" in line["event"]


def test_library_start_chatter_is_quiet_but_its_warnings_show(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    configure_logging("console", "debug")
    try:
        logging.getLogger("faiss.loader").info("Could not load library with AVX512 support")
        logging.getLogger("bm25s").setLevel(logging.DEBUG)  # what importing bm25s does
        logging.getLogger("bm25s").debug("Building index from IDs objects")
        logging.getLogger("faiss.loader").warning("index file is corrupt")
        logging.getLogger("omnivox.something").debug("our own debug line")
    finally:
        configure_logging("console", "info")
    err = capsys.readouterr().err
    assert "AVX512" not in err and "Building index" not in err
    assert "index file is corrupt" in err and "our own debug line" in err


def test_the_server_says_when_it_is_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = ""
    configure_logging("json", "info")
    try:
        with LiveServer(make_settings(tmp_path), warm_up=True):
            deadline = time.monotonic() + 60
            while '"server.ready"' not in err and time.monotonic() < deadline:
                time.sleep(0.1)
                err += capsys.readouterr().err
    finally:
        configure_logging("console", "info")
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    ready = [e for e in events if e["event"] == "server.ready"]
    assert len(ready) == 1 and {"database", "model", "knowledge"} <= set(ready[0]["checks"])
    assert not [e for e in events if e["event"] == "server.not_ready"]
