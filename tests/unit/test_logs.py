"""The package's logging: silent until configured, then text or JSON lines with the records'
extra fields and tracebacks; what the scheduler and the attempt runner swallow is logged."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from typing import Any

import pytest

from fuchsia import logs
from fuchsia.errors import StoreError
from fuchsia.server.schedule import Scheduler


@pytest.fixture
def configured() -> Any:
    """Configure the package's logging into a buffer; undo it afterwards."""
    loggers = [logging.getLogger(logs.ROOT), logging.getLogger()]
    before = [(list(g.handlers), g.level, g.propagate) for g in loggers]
    buffer = io.StringIO()

    def setup(fmt: str, level: str = "info", root: bool = False) -> io.StringIO:
        logs.configure(level, fmt, stream=buffer, root=root)
        return buffer

    yield setup
    for target, (handlers, level, propagate) in zip(loggers, before, strict=True):
        target.handlers[:], target.level, target.propagate = handlers, level, propagate


def test_the_package_is_silent_until_configured() -> None:
    code = "from fuchsia.logs import logger; logger('fuchsia.x').error('boom')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stderr == ""  # no "last resort" line on a program's standard error


def test_json_lines_carry_the_extra_fields_and_the_traceback(configured: Any) -> None:
    out = configured("json")
    log = logs.logger("fuchsia.test")
    log.info("started %s", "e1", extra={"execution_id": "e1", "attempt": 2})
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        log.exception("it failed", extra={"node": "a"})
    log.debug("not at info")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert {k: first[k] for k in ("level", "logger", "message", "execution_id", "attempt")} == {
        "level": "info",
        "logger": "fuchsia.test",
        "message": "started e1",
        "execution_id": "e1",
        "attempt": 2,
    }
    assert first["time"].endswith("Z")
    assert second["level"] == "error" and second["node"] == "a"
    assert "RuntimeError: a bug" in second["exception"]


def test_text_lines_put_the_fields_after_the_message(configured: Any) -> None:
    out = configured("text", "debug")
    logs.logger("fuchsia.test").debug("step", extra={"status": "ok", "note": "two words"})
    line = out.getvalue().strip()
    assert line.split(" ", 1)[1] == 'DEBUG   fuchsia.test step status=ok note="two words"'


def test_other_libraries_warnings_are_lines_of_the_same_format(configured: Any) -> None:
    """A library's warning (psycopg's when a connection is lost) is a line in the chosen
    format, not a bare message printed by logging's last resort; its info lines stay out."""
    out = configured("json", "debug", root=True)  # as `fuchsia serve` and `fuchsia worker` do
    logging.getLogger("psycopg").warning("error ignored terminating %s", "a pipeline")
    logging.getLogger("psycopg").info("connected")
    logs.logger("fuchsia.test").debug("ours")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["level"], line["logger"], line["message"]) for line in lines] == [
        ("warning", "psycopg", "error ignored terminating a pipeline"),
        ("debug", "fuchsia.test", "ours"),  # once: through its own handler, not the root's too
    ]


def test_uvicorns_coloured_copy_of_its_message_is_not_a_field(configured: Any) -> None:
    """uvicorn logs `extra={"color_message": ...}`, its message again with terminal colour
    codes; `fuchsia serve` wrote it after every uvicorn line, escape codes and all."""
    for fmt in ("text", "json"):
        out = configured(fmt)
        logging.getLogger("fuchsia.test").info(
            "Started server process [%d]",
            42,
            extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
        )
        line = out.getvalue().splitlines()[-1]
        assert "color_message" not in line and "\x1b" not in line
        assert line.endswith("Started server process [42]" if fmt == "text" else '[42]"}')


def test_a_program_that_embeds_the_engine_keeps_its_root_logger(configured: Any) -> None:
    """Configured from a host program (the README's way), the package's lines go to the
    stream; the host's root logger, its level and its handlers stay as the host set them."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    out = configured("json")
    logs.logger("fuchsia.test").info("ours")
    assert (list(root.handlers), root.level) == before
    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == ["ours"]


def test_configure_refuses_an_unknown_level_or_format() -> None:
    with pytest.raises(ValueError, match="level is one of"):
        logs.configure("loud", "text")
    with pytest.raises(ValueError, match="format one of"):
        logs.configure("info", "xml")


class _Failing:
    """An engine whose deployments cannot be read `failures` times, then read as none."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures

    async def current_deployments(self) -> list[Any]:
        if self.failures:
            raise self.failures.pop(0)
        return []


def test_the_scheduler_logs_a_failure_once_and_goes_on(configured: Any) -> None:
    out = configured("json")
    engine = _Failing([StoreError("down"), StoreError("still down"), KeyError("bug")])
    scheduler = Scheduler(engine, tick=0)  # type: ignore[arg-type]

    async def main() -> None:
        task = asyncio.create_task(scheduler.run())
        while "fire again" not in out.getvalue():
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("warning", "triggers cannot fire: down"),  # once, not again for "still down"
        ("error", "triggers cannot fire: internal error"),  # a bug: always, with its traceback
        ("info", "triggers fire again"),
    ]
    assert "KeyError: 'bug'" in lines[1]["exception"]
