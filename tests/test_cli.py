from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnivox import __version__
from omnivox.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"omnivox {__version__}"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "chat", "config"):
        assert command in result.output
    serve = runner.invoke(app, ["serve", "--help"])
    for option in ("--config", "--host", "--port", "--data-dir", "--log-format", "--smtp"):
        assert option in serve.output


def test_config_check_accepts_the_demo() -> None:
    result = runner.invoke(app, ["config", "check", str(ROOT / "examples/acme/omnivox.yaml")])
    assert result.exit_code == 0, result.output
    assert "workspace acme: Acme Outfitters (assistant Juniper)" in result.output
    assert "llm chain: llamacpp -> extractive" in result.output


def test_config_check_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: {port: 99999}\nworkspaces: [{id: a, name: A}]\n")
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "bad.yaml" in text and "server.port" in text and "less than or equal" in text


def chat(tmp_path: Path, typed: str, persona: str = "") -> str:
    """What ``omnivox chat`` prints for ``typed`` with a scripted echo and no knowledge base."""
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        "llm: {providers: [{type: scripted, reply: 'Echo: {question}'}]}\n"
        "guardrails: {grounding: false}\n"  # no knowledge base: the echo is the answer
        f"workspaces: [{{id: acme, name: Acme, persona: {{name: Juniper{persona}}}}}]\n"
    )
    result = runner.invoke(
        app,
        ["chat", "--config", str(config), "--data-dir", str(tmp_path / "var")],
        input=f"{typed}\n/quit\n",
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_chat_runs_a_turn_in_the_terminal(tmp_path: Path) -> None:
    assert "Echo: hello there" in chat(tmp_path, "hello there")
    assert (tmp_path / "var" / "omnivox.db").is_file()


def test_chat_shows_the_reply_as_checked_not_the_models_raw_words(tmp_path: Path) -> None:
    # the brand policy rewrites "cheap" after the model wrote it: the terminal showed the
    # streamed words only, so a sentence the guard or the policy changed was shown as written
    output = chat(tmp_path, "is the tent cheap", ", preferred_terms: {cheap: affordable}")
    assert "Juniper> Echo: is the tent affordable" in output
    assert "cheap" not in output
    assert "affordable\n\nyou> " in output  # the reply ends its line, then the prompt


def test_config_check_names_files_the_config_points_to_that_are_missing(tmp_path: Path) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        "workspaces:\n"
        "  - id: acme\n"
        "    name: Acme\n"
        "    knowledge_paths: [knowledge]\n"
        "    seed: {customers: customers.json}\n"
    )
    (tmp_path / "knowledge").mkdir()
    result = runner.invoke(app, ["config", "check", str(config)])
    assert result.exit_code == 2
    assert "workspaces[0].seed.customers" in result.output and "customers.json" in result.output
    assert "knowledge_paths" not in result.output  # that one is there


def test_serve_refuses_a_config_whose_files_are_missing_before_starting(tmp_path: Path) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        "workspaces:\n  - id: acme\n    name: Acme\n    seed: {orders: orders.json}\n"
    )
    result = runner.invoke(app, ["serve", "--config", str(config), "--port", "18999"])
    assert result.exit_code == 2  # was a ConfigError traceback from the app's start, exit 3
    assert "workspaces[0].seed.orders" in result.output and "orders.json" in result.output


def test_config_check_says_where_turn_locks_live_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text("workspaces: [{id: acme, name: Acme}]\n")
    alone = runner.invoke(app, ["config", "check", str(config)])
    assert "turn locks, rate limits, live events: in this process" in alone.output
    monkeypatch.setenv("OMNIVOX_REDIS_URL", "redis://:hunter2@cache.internal:6380/2")
    shared = runner.invoke(app, ["config", "check", str(config)])
    assert shared.exit_code == 0, shared.output
    text = " ".join(shared.output.split())  # rich wraps long lines
    assert "Redis redis://:***@cache.internal:6380/2, prefix 'omnivox'" in text
    assert "hunter2" not in shared.output


def test_serve_refuses_a_redis_that_does_not_answer_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        "redis: {url: 'redis://:hunter2@127.0.0.1:1/0'}\nworkspaces: [{id: acme, name: Acme}]\n"
    )
    result = runner.invoke(app, ["serve", "--config", str(config), "--port", "18998"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output  # was a traceback from the app's start, exit 3
    assert "redis.url" in text and "127.0.0.1:1" in text and "hunter2" not in text
