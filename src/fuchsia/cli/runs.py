"""`fuchsia runs`: list, show, logs, artifacts, and steer executions in the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fuchsia.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    DbOption,
    JsonOption,
    err,
    fail,
    out,
    print_json,
)
from fuchsia.cli.remote import with_operations
from fuchsia.cli.run import exit_code
from fuchsia.states import FINAL_STATUSES, OPEN_STATUSES, ExecutionStatus

EXECUTION_STATUSES = (*OPEN_STATUSES, *FINAL_STATUSES)
RESUME_PICKUP = 10.0  # seconds to wait for another process to pick up a resumed pause

if TYPE_CHECKING:
    from fuchsia.operations import Operations
    from fuchsia.runtime.views import Execution

app = typer.Typer(help="Inspect, resume and steer executions.", no_args_is_help=True)
IdArg = Annotated[
    str, typer.Argument(help="Execution id (a unique prefix is enough).", show_default=False)
]


def _show(execution: Execution, json_output: bool, *, nodes: bool = False) -> None:
    from fuchsia.cli.render import print_execution

    if json_output:
        print_json(execution.to_json())
    else:
        print_execution(execution, nodes=nodes)


@app.command("list")
def list_command(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000)] = 20,
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only this status: {', '.join(EXECUTION_STATUSES)}."),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Executions, newest first."""
    if status is not None and status not in EXECUTION_STATUSES:
        raise fail(
            f"--status {status!r} is not an execution status; "
            f"use one of: {', '.join(EXECUTION_STATUSES)}",
            EXIT_USAGE,
        )
    from fuchsia.cli.render import print_list

    summaries = with_operations(db, lambda ops: ops.executions(limit=limit, status=status))
    if json_output:
        print_json([s.to_json() for s in summaries])
    else:
        print_list(summaries)


@app.command("show")
def show_command(execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None) -> None:
    """One execution with its nodes and attempts."""
    _show(with_operations(db, lambda ops: ops.get(execution_id)), json_output, nodes=True)


@app.command("logs")
def logs_command(execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None) -> None:
    """The execution's event log, oldest first."""
    from fuchsia.cli.render import event_json, event_line

    events = with_operations(db, lambda ops: ops.events(execution_id))
    if json_output:
        print_json([event_json(e) for e in events])
        return
    for event in events:
        out.print(event_line(event), markup=False)


@app.command("resume")
def resume_command(
    execution_ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="Executions to resume [default: every interrupted one].", show_default=False
        ),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Continue paused executions, and executions whose process died (committed nodes are
    not run again)."""

    async def work(ops: Operations) -> list[tuple[Execution, bool]]:
        ids = None
        if execution_ids:
            ids = [(await ops.get(i)).id for i in execution_ids]
        resumed = await ops.resume(ids)
        shown = []
        for execution_id in ids if ids is not None else resumed:
            if execution_id not in resumed:  # a pause lifted; another process drives it
                await _left_pause(ops, execution_id)
            shown.append((await ops.get(execution_id), execution_id in resumed))
        return shown

    results = with_operations(db, work)
    if json_output:
        print_json([e.to_json() for e, _ in results])
    elif not results:
        out.print("nothing to resume", markup=False)
    else:
        for execution, here in results:
            _print_resumed(execution, here)
    raise typer.Exit(max((_resume_code(e, here) for e, here in results), default=EXIT_OK))


def _resume_code(execution: Execution, here: bool) -> int:
    """Driven here to its end: its exit code; going on elsewhere (a lifted pause): 0."""
    return exit_code(execution) if here or execution.status in FINAL_STATUSES else EXIT_OK


def _print_resumed(execution: Execution, here: bool) -> None:
    from fuchsia.cli.render import print_execution

    print_execution(execution, nodes=False)
    if not here and execution.status not in FINAL_STATUSES:
        out.print(
            f"resumed: {execution.id} goes on in the process that drives it "
            f"(follow it with: fuchsia runs show {execution.id})",
            markup=False,
        )


async def _left_pause(ops: Operations, execution_id: str) -> None:
    """Wait (a bounded while) until the process driving a paused execution takes up the
    resume request, so what is shown is the state after resuming, not before."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + RESUME_PICKUP
    while loop.time() < deadline:
        if (await ops.get(execution_id)).status != ExecutionStatus.PAUSED:
            return
        await asyncio.sleep(0.05)


@app.command("cancel")
def cancel_command(
    execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None
) -> None:
    """Cancel an execution (running in this or any other process); idempotent."""
    execution = with_operations(db, lambda ops: ops.cancel(execution_id))
    if json_output:
        print_json(execution.to_json())
    else:
        out.print(
            f"cancelled execution {execution.id}  {execution.workflow} v{execution.version}",
            markup=False,
        )


@app.command("signal")
def signal_command(
    execution_id: IdArg,
    name: Annotated[str, typer.Argument(help="The signal's name (a wait node's `signal`).")],
    payload: Annotated[str | None, typer.Option("--payload", "-p", help="JSON payload.")] = None,
    db: DbOption = None,
) -> None:
    """Send a signal to an open execution; the wait node for it continues with the payload."""
    from fuchsia import payload as payloads

    value = payloads.parse(payload, source="--payload") if payload is not None else None
    signal_id = with_operations(db, lambda ops: ops.signal(execution_id, name, value))
    out.print(f"signal {name!r} sent (signal id {signal_id})", markup=False)


@app.command("pause")
def pause_command(
    execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None
) -> None:
    """Pause an execution: running nodes finish, no new ones start until `runs resume ID`."""
    _show(with_operations(db, lambda ops: ops.pause(execution_id)), json_output)


@app.command("retry")
def retry_command(
    execution_id: IdArg,
    from_node: Annotated[
        str | None,
        typer.Option(
            "--from", help="Re-run this node and everything downstream [default: what failed]."
        ),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Run a new execution that reuses the outputs of the nodes that succeeded."""

    async def work(ops: Operations) -> Execution:
        new = await ops.retry(execution_id, from_node)
        # named before the wait, so a Ctrl-C during it leaves the id to resume or inspect
        err.print(f"retrying {execution_id} as execution {new}", markup=False, highlight=False)
        return await ops.wait(new)

    execution = with_operations(db, work)
    _show(execution, json_output, nodes=True)
    raise typer.Exit(exit_code(execution))


@app.command("artifacts")
def artifacts_command(
    execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None
) -> None:
    """The execution's artifacts: what its components stored, and values stored as artifacts
    because they were above the inline limit."""
    from fuchsia.cli.render import print_artifacts

    refs = with_operations(db, lambda ops: ops.artifacts(execution_id))
    if json_output:
        print_json([ref.to_json() for ref in refs])
    else:
        print_artifacts(refs)


@app.command("artifact")
def artifact_command(
    execution_id: IdArg,
    artifact_id: Annotated[str, typer.Argument(help="Artifact id (see `runs artifacts`).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file [default: standard output]."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Write one artifact's content to standard output or a file."""
    from fuchsia.cli.render import size_text
    from fuchsia.reading import os_reason

    ref, data = with_operations(db, lambda ops: ops.artifact(execution_id, artifact_id))
    content_type = ref.content_type
    if output is not None:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise fail(f"cannot write {output}: {os_reason(exc)}") from None
        err.print(f"wrote {size_text(len(data))} to {output}", markup=False)
        return
    textual = content_type.startswith("text/") or content_type.endswith(("json", "yaml", "xml"))
    if sys.stdout.isatty() and not textual:
        raise fail(f"{content_type} content would garble the terminal: use --output FILE")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
