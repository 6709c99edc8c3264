"""``omnivox nlu``: train a workspace's intent classifier and test it on labelled messages."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from omnivox.cli_support import DataDirOpt, WorkspaceOpt, err, load_or_exit, out, workspace_or_exit
from omnivox.logs import configure_logging
from omnivox.settings import ConfigError
from omnivox.threads import limit_blas_threads
from omnivox.understanding.config import DEFAULT_OOS_THRESHOLD
from omnivox.understanding.evaluation import (
    Report,
    best_threshold,
    gold_labels,
    label_at,
    score,
)
from omnivox.understanding.examples import read_csv
from omnivox.understanding.intents import Example, IntentClassifier, IntentPrediction

nlu_app = typer.Typer(help="Train and test intent classification.", no_args_is_help=True)
BATCH = 256

OptionalConfig = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="OMNIVOX_CONFIG", help="Path to omnivox.yaml."),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        min=0.0,
        max=1.0,
        help="Out-of-scope threshold on the scope score (0 turns detection off). "
        "Default: the workspace's oos_threshold.",
    ),
]


def _read(path: Path, what: str) -> list[Example]:
    try:
        rows = read_csv(path, what)
    except ConfigError as exc:
        err.print(f"[bold red]Cannot read {what}:[/] {exc}")
        raise typer.Exit(2) from None
    if not rows:
        err.print(f"[bold red]{path}[/] has no rows with both text and intent")
        raise typer.Exit(2)
    return rows


def _classifier(
    config: Path | None, train: Path | None, workspace: str | None, data_dir: Path | None
) -> IntentClassifier:
    """A trained classifier: from ``--train`` rows, or the workspace's intents (cached)."""
    from omnivox.knowledge.embeddings import MiniLMEmbedder
    from omnivox.understanding.analyzer import WorkspaceUnderstanding
    from omnivox.understanding.sentiment import SentimentAnalyzer

    configure_logging("console", "warning")
    limit_blas_threads()
    embedder = MiniLMEmbedder(batch_size=64)
    if train is not None:
        rows = _read(train, "--train")
        clf = IntentClassifier(embedder, DEFAULT_OOS_THRESHOLD)
        with err.status(f"Training on {len(rows)} examples from {train}..."):
            clf.fit(rows)
        return clf
    if config is None:
        err.print("[bold red]Give --config (the workspace's intents) or --train FILE.csv[/]")
        raise typer.Exit(2)
    settings = load_or_exit(config, data_dir=str(data_dir) if data_dir else None)
    ws = workspace_or_exit(settings, workspace)
    nlu_settings = ws.understanding
    csv_path = settings.resolve_path(nlu_settings.intents_csv) if nlu_settings.intents_csv else None
    nlu = WorkspaceUnderstanding(nlu_settings, embedder, SentimentAnalyzer(), csv_path)
    if not nlu.has_intents:
        err.print(f"[bold red]Workspace {ws.id} defines no intents[/] (understanding.intents)")
        raise typer.Exit(2)
    started = time.perf_counter()
    with err.status(f"Training the intents of workspace {ws.id}..."):
        try:
            cached = nlu.train(Path(settings.data_dir) / "nlu" / ws.id)
        except ConfigError as exc:
            err.print(f"[bold red]Config error:[/] {exc}")
            raise typer.Exit(2) from None
    assert nlu.classifier is not None
    how = "loaded from cache" if cached else f"trained in {time.perf_counter() - started:.1f} s"
    err.print(f"{len(nlu.classifier.intents)} intents, {how}")
    return nlu.classifier


def _predict(clf: IntentClassifier, rows: Sequence[Example]) -> list[IntentPrediction]:
    out_list: list[IntentPrediction] = []
    columns = (TextColumn("Classifying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("classify", total=len(rows))
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            out_list.extend(clf.predict_many([r.text for r in batch]))
            progress.advance(task, len(batch))
    return out_list


def _print(report: Report) -> None:
    table = Table(title=f"{report.n} messages, out-of-scope threshold {report.threshold:.4f}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in (
        ("accuracy", report.accuracy),
        ("macro-F1 (in-scope intents)", report.macro_f1),
        ("in-scope accuracy", report.in_scope_accuracy),
        ("out-of-scope precision", report.oos_precision),
        ("out-of-scope recall", report.oos_recall),
    ):
        table.add_row(name, "-" if value is None else f"{value:.4f}")
    out.print(table)
    if report.confused:
        confused = Table(title="Most confused (expected -> predicted)")
        for column in ("expected", "predicted", "count"):
            confused.add_column(column)
        for gold, predicted, count in report.confused:
            confused.add_row(gold, predicted, str(count))
        out.print(confused)


@nlu_app.command("test")
def test(
    file: Annotated[Path, typer.Argument(help="CSV with columns text,intent to score.")],
    config: OptionalConfig = None,
    train: Annotated[
        Path | None,
        typer.Option("--train", help="Train on this text,intent CSV instead of the config."),
    ] = None,
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
    threshold: ThresholdOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score intents on FILE.csv: accuracy, macro-F1, confused pairs, out-of-scope P/R.

    Rows whose intent is `oos` or not one the classifier knows count as out of scope.
    """
    rows = _read(file, "FILE")
    clf = _classifier(config, train, workspace, data_dir)
    at = clf.threshold if threshold is None else threshold
    predictions = _predict(clf, rows)
    report = score(gold_labels(clf, rows), [label_at(p, at) for p in predictions], at)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        _print(report)


@nlu_app.command("train")
def train_cmd(
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="OMNIVOX_CONFIG", help="Path to omnivox.yaml.")
    ],
    workspace: WorkspaceOpt = None,
    data_dir: DataDirOpt = None,
    val: Annotated[
        Path | None,
        typer.Option("--val", help="Tune the out-of-scope threshold on this text,intent CSV."),
    ] = None,
    min_accuracy: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="In-scope accuracy to keep when tuning.")
    ] = 0.95,
) -> None:
    """Train (or refresh the cache of) a workspace's intent classifier.

    The server trains at start too; the model is cached under the data dir by a hash of the
    intent data, so training again with unchanged intents is instant. With --val, print the
    threshold to put in understanding.oos_threshold.
    """
    clf = _classifier(config, None, workspace, data_dir)
    if val is None:
        return
    rows = _read(val, "--val")
    predictions = _predict(clf, rows)
    gold = gold_labels(clf, rows)
    best = best_threshold(gold, predictions, min_accuracy)
    _print(score(gold, [label_at(p, best) for p in predictions], best))
    out.print(f"Suggested setting: understanding.oos_threshold: {best:.4f}")
