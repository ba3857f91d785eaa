"""`fuchsia run`: start an execution of a workflow file and follow it to the end."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fuchsia.cli import remote
from fuchsia.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Components,
    DbOption,
    Interrupted,
    JsonOption,
    fail,
    out,
    print_json,
    settings,
    with_engine,
)
from fuchsia.errors import PayloadError
from fuchsia.states import ExecutionStatus

if TYPE_CHECKING:
    from fuchsia.cli.progress import Progress
    from fuchsia.config import Settings
    from fuchsia.runtime.engine import Engine
    from fuchsia.runtime.views import Execution


def read_payload(text: str | None, file: Path | None) -> Any:
    """The trigger payload from --input or --input-file ('-' reads standard input)."""
    from fuchsia import payload as payloads
    from fuchsia.reading import read_at_most

    if text is not None and file is not None:
        raise fail("give either --input or --input-file, not both", EXIT_USAGE)
    if file is not None:
        limit = payloads.MAX_PAYLOAD_BYTES
        if str(file) == "-":
            return payloads.parse(read_at_most(sys.stdin.buffer, limit), source="standard input")
        try:
            raw = read_at_most(file, limit)
        except OSError as exc:
            raise PayloadError(f"cannot read {file}: {exc.strerror}") from None
        return payloads.parse(raw, source=str(file))
    if text is not None:
        return payloads.parse(text, source="--input")
    return {}


def exit_code(execution: Execution) -> int:
    done = (ExecutionStatus.COMPLETED, ExecutionStatus.COMPLETED_WITH_ERRORS)
    return EXIT_OK if execution.status in done else EXIT_FAILED


def run_command(
    file: Annotated[Path, typer.Argument(help="Workflow file (YAML or JSON).", show_default=False)],
    input: Annotated[str | None, typer.Option("--input", "-i", help="Payload as JSON.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="Payload JSON file ('-': stdin).")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key", help="Return the existing execution started with this key."
        ),
    ] = None,
    json_output: JsonOption = False,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Record the execution for the live workers of the store to run (in a "
            "background process when there are none) and print its id.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Run a workflow file with live progress; exit 0 when it completes, 1 when it fails.
    Ctrl-C stops it resumably: the execution id and the command to resume it are printed."""
    from fuchsia.cli.render import print_execution
    from fuchsia.definition import load

    if remote.client_configured():
        raise fail(
            "`fuchsia --server URL run FILE` is not supported: deploy the workflow "
            "(`fuchsia --server URL deploy FILE`) and start it with "
            "`fuchsia --server URL workflows run NAME`",
            EXIT_USAGE,
        )
    config = settings(db)
    locked = load(file, Components())
    payload = read_payload(input, input_file)

    if detach:

        async def record(engine: Engine) -> tuple[str, bool]:
            live = await engine.workers()
            workers = any(w.alive and w.slots > 0 and not w.draining for w in live)
            started = await engine.start(
                locked, payload, idempotency_key=idempotency_key, detached=True
            )
            return started, workers

        execution_id, workers = with_engine(db, record, create=True)
        if not workers:  # nobody takes work from this store: drive it in the background
            _spawn_resume(config, execution_id)
        if json_output:
            print_json({"id": execution_id, "status": "pending"})
        else:
            out.print(execution_id, markup=False)
        return

    progress: Progress | None = None
    if not json_output:
        from fuchsia.cli.progress import Progress  # rich's live view only when it is shown

        progress = Progress(out.get(), locked)
    started: list[str] = []

    async def work(engine: Engine) -> Execution:
        if progress is not None:
            engine.subscribe(progress.on_events)
        execution_id = await engine.start(locked, payload, idempotency_key=idempotency_key)
        started.append(execution_id)
        if progress is None:
            return await _wait_or_interrupt(engine, execution_id)
        progress.execution_id = execution_id
        progress.lookup = lambda: engine.get(execution_id)
        with progress:
            return await _wait_or_interrupt(engine, execution_id)

    execution = with_engine(db, work, create=True)
    if json_output:
        print_json(execution.to_dict())
    else:
        print_execution(execution, nodes=False)
    raise typer.Exit(exit_code(execution))


INTERRUPT_GRACE = 2.0  # seconds running attempts get to finish after Ctrl-C


async def _wait_or_interrupt(engine: Engine, execution_id: str) -> Execution:
    """Wait for the execution; on SIGINT let running attempts finish for a short grace
    (starting nothing new), stop driving, and raise `Interrupted`."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)
    try:
        waiting = asyncio.ensure_future(engine.wait(execution_id))
        stop = asyncio.ensure_future(interrupted.wait())
        await asyncio.wait({waiting, stop}, return_when=asyncio.FIRST_COMPLETED)
        if waiting.done():
            stop.cancel()
            return waiting.result()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        raise Interrupted(
            f"interrupted: execution {execution_id} was stopped before it finished; "
            f"continue it with: fuchsia runs resume {execution_id}",
            grace=INTERRUPT_GRACE,
        )
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _spawn_resume(config: Settings, execution_id: str) -> None:
    """Drive a detached execution in a new session whose output goes to a log file."""
    from fuchsia.reading import os_reason

    logs = config.home / "logs"
    log_file = logs / f"{execution_id}.log"
    command = [sys.executable, "-m", "fuchsia", "runs", "resume", execution_id]
    try:
        logs.mkdir(parents=True, exist_ok=True)
        log_file.touch()
    except OSError as exc:
        raise fail(
            f"cannot write {log_file} for the background run: {os_reason(exc)}; execution "
            f"{execution_id} is recorded, drive it with `fuchsia runs resume {execution_id}`"
        ) from None
    with open(log_file, "ab") as log:
        subprocess.Popen(
            [*command, "--db", config.store_url],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
