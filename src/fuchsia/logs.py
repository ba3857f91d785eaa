"""How Fuchsia's processes log: a `logging` logger per module (`logger(__name__)`:
`fuchsia.runtime.engine`, `fuchsia.store.writer`, `fuchsia.server.schedule`, ...), silent in
a program that embeds the engine until it configures logging itself (a `NullHandler` on
`fuchsia`), and written to standard error by `fuchsia serve` and `fuchsia worker`
(`configure`), as text or as one JSON object per line.

A record's extra fields (`log.info("...", extra={"execution_id": ...})`) are part of both
formats: `key=value` after a text line's message, keys of a JSON line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
ROOT = "fuchsia"
# what every LogRecord has: the rest of its attributes are a record's extra fields
# (but uvicorn's `color_message`, its message again with terminal colour codes)
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """A record's extra fields, in the order they were given."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def _when(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """`TIME LEVEL LOGGER message key=value ...`, then the traceback, if any."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={_text(v)}" for k, v in fields_of(record).items())
        line = f"{_when(record)} {record.levelname:<7} {record.name} {record.getMessage()}"
        line = f"{line} {extra}" if extra else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the extra fields, and
    `exception` (its traceback) for a record logged with one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _when(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields_of(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


def configure(
    level: str = "info",
    fmt: str = "text",
    stream: TextIO | None = None,
    also: tuple[str, ...] = (),
    root: bool = False,
) -> None:
    """Write the package's records (and those of the loggers `also` names: a library's
    whose lines should read the same) at `level` and above to `stream` (standard error) in
    `fmt`, replacing what an earlier call set up. With `root`, every other library's
    warnings and errors (psycopg's, OpenTelemetry's exporters') go the same way, through the
    root logger: for a process of Fuchsia's own (`fuchsia serve`, `fuchsia worker`), whose
    lines a pipeline reads expecting each in `fmt`; a program that embeds the engine keeps
    its own root logger."""
    if level not in LEVELS or fmt not in FORMATS:
        raise ValueError(f"level is one of {LEVELS}, format one of {FORMATS}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.fuchsia = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    chosen = logging.getLevelName(level.upper())
    for name in (ROOT, *also):
        _attach(logging.getLogger(name), handler, chosen)
        logging.getLogger(name).propagate = False  # the root's handler prints them not twice
    if root:
        _attach(logging.getLogger(), handler, max(chosen, logging.WARNING))


def _attach(target: logging.Logger, handler: logging.Handler, level: int) -> None:
    """`handler` in place of the one an earlier `configure` gave `target`."""
    for old in [h for h in target.handlers if getattr(h, "fuchsia", False)]:
        target.removeHandler(old)
    target.addHandler(handler)
    target.setLevel(level)


def logger(name: str) -> logging.Logger:
    """The logger of module `name` (under `fuchsia`, silent until configured)."""
    return logging.getLogger(name)


logging.getLogger(ROOT).addHandler(logging.NullHandler())
