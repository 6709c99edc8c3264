"""``omnivox nlu test`` and ``omnivox nlu train``: figures, JSON, threshold tuning, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnivox.cli import app

runner = CliRunner()
TRAIN = {
    "order_status": ["where is my order", "has my package shipped", "track my parcel",
                     "my order has not arrived", "when will my delivery come"],
    "returns": ["how do I return an item", "what is the return policy", "can I send boots back",
                "I want a refund for my jacket", "return window for sale items"],
    "store_hours": ["what time do you open", "are you open on sunday", "store opening hours",
                    "when does the shop close today", "holiday hours for the store"],
}  # fmt: skip
TEST = [
    ("has my parcel been sent yet", "order_status"),
    ("I'd like to send back a jacket", "returns"),
    ("are you open late on friday", "store_hours"),
    ("what's the weather on mars", "oos"),
    ("recommend a pizza recipe", "cooking"),  # not an intent of the config: out of scope
]


def write_csv(
    path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "intent")
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("OMNIVOX_DATA_DIR", str(tmp_path / "data"))
    train = write_csv(tmp_path / "train.csv", [(t, i) for i, ts in TRAIN.items() for t in ts])
    test = write_csv(tmp_path / "test.csv", TEST)
    intents = [{"name": name, "examples": texts} for name, texts in TRAIN.items()]
    config = tmp_path / "omnivox.yaml"
    workspace = {
        "id": "acme",
        "name": "Acme",
        "understanding": {"intents": intents, "oos_threshold": 0.35},
    }
    config.write_text(json.dumps({"workspaces": [workspace]}))
    return {"train": train, "test": test, "config": config}


def test_json_figures_from_a_training_csv(files: dict[str, Path]) -> None:
    result = runner.invoke(
        app,
        [
            "nlu",
            "test",
            "--train",
            str(files["train"]),
            str(files["test"]),
            "--json",
            "--threshold",
            "0.35",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"accuracy", "macro_f1", "oos_precision", "oos_recall"} <= figures.keys()
    assert figures["n"] == 5 and figures["accuracy"] == 1.0
    assert figures["oos_recall"] == 1.0 and figures["oos_precision"] == 1.0


def test_threshold_zero_turns_out_of_scope_off(files: dict[str, Path]) -> None:
    result = runner.invoke(
        app,
        [
            "nlu",
            "test",
            "--train",
            str(files["train"]),
            str(files["test"]),
            "--json",
            "--threshold",
            "0",
        ],
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["oos_recall"] == 0.0 and figures["accuracy"] == 0.6
    assert len(figures["confused"]) == 2


def test_table_from_the_config_and_the_cache(files: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["nlu", "test", "--config", str(files["config"]), str(files["test"])]
    )
    assert result.exit_code == 0, result.output
    assert "out-of-scope recall" in result.stdout and "3 intents, trained in" in result.output
    assert list((tmp_path / "data" / "nlu" / "acme").glob("intents-*.pkl"))
    again = runner.invoke(app, ["nlu", "train", "--config", str(files["config"])])
    assert "loaded from cache" in again.output


def test_train_tunes_a_threshold_on_validation_rows(files: dict[str, Path]) -> None:
    result = runner.invoke(
        app,
        [
            "nlu",
            "train",
            "--config",
            str(files["config"]),
            "--val",
            str(files["test"]),
            "--min-accuracy",
            "1.0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Suggested setting: understanding.oos_threshold:" in result.stdout


def test_bad_input_is_explained(files: dict[str, Path], tmp_path: Path) -> None:
    neither = runner.invoke(app, ["nlu", "test", str(files["test"])])
    assert neither.exit_code == 2 and "--config" in neither.output
    wrong = write_csv(tmp_path / "wrong.csv", [("a", "b")], header=("utterance", "label"))
    bad = runner.invoke(app, ["nlu", "test", "--train", str(wrong), str(files["test"])])
    assert bad.exit_code == 2 and "text,intent" in bad.output
    labels = write_csv(tmp_path / "labels.csv", [("where is it", "Order Status")] * 2)
    config = tmp_path / "csv.yaml"
    workspace = {"id": "acme", "name": "Acme", "understanding": {"intents_csv": str(labels)}}
    config.write_text(json.dumps({"workspaces": [workspace]}))
    bad_label = runner.invoke(app, ["nlu", "test", "--config", str(config), str(files["test"])])
    assert bad_label.exit_code == 2 and "'Order Status'" in " ".join(bad_label.output.split())
    missing = runner.invoke(
        app, ["nlu", "test", "--train", str(tmp_path / "nope.csv"), str(files["test"])]
    )
    assert missing.exit_code == 2 and "nope.csv" in missing.output
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("text,intent\ncafé crème,order_status\n".encode("latin-1"))
    for args in (
        ["--train", str(latin), str(files["test"])],
        ["--train", str(files["train"]), str(latin)],
    ):
        unreadable = runner.invoke(app, ["nlu", "test", *args])
        assert unreadable.exit_code == 2, unreadable.output  # was a UnicodeDecodeError traceback
        assert "latin1.csv" in unreadable.output and "UTF-8" in unreadable.output
