"""structlog set-up: dotted event names, ids bound per turn, console or JSON output."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Literal

import structlog

LogFormat = Literal["console", "json"]


class _Stderr:
    """Writes to whatever ``sys.stderr`` is at the time (it may be swapped after set-up)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


_STDERR = _Stderr()

# query parameters that are credentials: the web chat's visitor id resumes a visitor's
# conversation, like a password; signed links carry their signature or token
_SECRET_PARAMS = re.compile(r"\b(visitor|token|sig|signature|code|key)=[^&\s\"']+", re.I)


class _HideSecretParams(logging.Filter):
    """Masks credentials in URLs that standard-library loggers (uvicorn's) print."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _hide(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_hide(a) for a in record.args)
        return True


def _hide(value: Any) -> Any:
    return _SECRET_PARAMS.sub(r"\1=***", value) if isinstance(value, str) else value


# libraries that narrate their own start at info or debug: faiss tells how it fell back to its
# portable build ("Could not load library with AVX512 support due to: ModuleNotFoundError"),
# bm25s logs each index it builds at debug (and sets its own logger to DEBUG when imported, so
# a level set before its import does not hold: the handler filters them). Their warnings and
# errors still show.
QUIET = ("faiss", "bm25s")


class _QuietLibraries(logging.Filter):
    """Drops the records below WARNING of the ``QUIET`` libraries and their child loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] not in QUIET


def configure_logging(fmt: LogFormat = "console", level: str = "info") -> None:
    """Configure structlog and the standard library root logger once per process."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        # Tracebacks without local variables: a failed turn's frames hold customers' messages
        # and the encryption key ring, which must not reach the log (rich's default shows them).
        colors = sys.stderr.isatty()
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors,
            exception_formatter=structlog.dev.RichTracebackFormatter(
                color_system="truecolor" if colors else None, show_locals=False
            ),
        )
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_STDERR),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    # Standard-library loggers (uvicorn, alembic) go through the same renderer, so that
    # --log-format json really gives one JSON object a line.
    handler = logging.StreamHandler(_STDERR)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    handler.addFilter(_HideSecretParams())
    handler.addFilter(_QuietLibraries())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A lazy logger with a ``module`` key; it follows :func:`configure_logging` when called."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(module=name)
    return logger
