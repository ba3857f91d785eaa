"""`fuchsia run`: start an execution of a workflow file and follow it to the end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from fuchsia import payload as payloads
from fuchsia.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    DbOption,
    JsonOption,
    fail,
    out,
    print_json,
    with_engine,
)
from fuchsia.cli.progress import Progress
from fuchsia.cli.render import print_execution
from fuchsia.definition import load
from fuchsia.errors import PayloadError
from fuchsia.runtime.engine import Engine, default_db, default_registry
from fuchsia.runtime.views import Execution
from fuchsia.store.records import COMPLETED, COMPLETED_WITH_ERRORS


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def read_payload(text: str | None, file: Path | None) -> Any:
    """The trigger payload from --input or --input-file ('-' reads standard input)."""
    if text is not None and file is not None:
        raise fail("give either --input or --input-file, not both", EXIT_USAGE)
    if file is not None:
        if str(file) == "-":
            return payloads.parse(sys.stdin.buffer.read(), source="standard input")
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise PayloadError(f"cannot read {file}: {exc.strerror}") from None
        return payloads.parse(raw, source=str(file))
    if text is not None:
        return payloads.parse(text, source="--input")
    return {}


def exit_code(execution: Execution) -> int:
    return EXIT_OK if execution.status in (COMPLETED, COMPLETED_WITH_ERRORS) else EXIT_FAILED


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
        typer.Option("--detach", help="Start in a background process and print the execution id."),
    ] = False,
    db: DbOption = None,
) -> None:
    """Run a workflow file with live progress; exit 0 when it completes, 1 when it fails."""
    locked = load(file, default_registry())
    payload = read_payload(input, input_file)
    url = db or default_db()

    if detach:
        execution_id = with_engine(
            url, lambda e: e.start(locked, payload, idempotency_key=idempotency_key, detached=True)
        )
        _spawn_resume(url, execution_id)
        if json_output:
            print_json({"id": execution_id, "status": "pending"})
        else:
            out.print(execution_id, markup=False)
        return

    progress = Progress(out, locked) if not json_output else None

    async def work(engine: Engine) -> Execution:
        if progress is None:
            return await engine.run(locked, payload, idempotency_key=idempotency_key)
        engine.subscribe(progress.on_events)
        with progress:
            execution_id = await engine.start(locked, payload, idempotency_key=idempotency_key)
            progress.execution_id = execution_id
            return await engine.wait(execution_id)

    execution = with_engine(url, work)
    if json_output:
        print_json(execution.to_dict())
    else:
        print_execution(execution, nodes=False)
    raise typer.Exit(exit_code(execution))


def _spawn_resume(db: str, execution_id: str) -> None:
    """Drive a detached execution in a new session whose output goes to a log file."""
    home = Path(os.environ.get("FUCHSIA_HOME", ".fuchsia"))
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{execution_id}.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "fuchsia", "runs", "resume", execution_id, "--db", db],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
