"""`fuchsia runs`: list, show, logs, artifacts, and steer executions in the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fuchsia.cli import remote
from fuchsia.cli.common import DbOption, JsonOption, err, fail, out, print_json, with_engine
from fuchsia.cli.run import exit_code

if TYPE_CHECKING:
    from fuchsia.runtime.engine import Engine
    from fuchsia.runtime.views import Execution

app = typer.Typer(help="Inspect, resume and steer executions.", no_args_is_help=True)
IdArg = Annotated[
    str, typer.Argument(help="Execution id (a unique prefix is enough).", show_default=False)
]


def _show(execution: Execution, json_output: bool) -> None:
    from fuchsia.cli.render import print_execution

    if json_output:
        print_json(execution.to_dict())
    else:
        print_execution(execution, nodes=False)


@app.command("list")
def list_command(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000)] = 20,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Executions, newest first."""
    from fuchsia.cli.render import print_list
    from fuchsia.runtime.views import summary

    if (client := remote.client()) is not None:
        with client:
            remote.show(client.executions(status=status, limit=limit), json_output)
        return
    records = with_engine(db, lambda e: e.list(limit=limit, status=status))
    if json_output:
        print_json([summary(r) for r in records])
    else:
        print_list(records)


@app.command("show")
def show_command(execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None) -> None:
    """One execution with its nodes and attempts."""
    from fuchsia.cli.render import print_execution

    if (client := remote.client()) is not None:
        with client:
            remote.show(client.get(execution_id), json_output)
        return
    execution = with_engine(db, lambda e: e.get(execution_id))
    if json_output:
        print_json(execution.to_dict())
    else:
        print_execution(execution)


@app.command("logs")
def logs_command(execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None) -> None:
    """The execution's event log, oldest first."""
    from fuchsia.runtime.views import iso

    if (client := remote.client()) is not None:
        with client:
            print_json(client.events(execution_id))
        return

    async def work(engine: Engine) -> list[dict[str, object]]:
        full = (await engine.get(execution_id)).id
        return [
            {"seq": e.seq, "at": iso(e.at), "type": e.type, "node": e.node_id, "data": e.data}
            for e in await engine.events(full)
        ]

    events = with_engine(db, work)
    if json_output:
        print_json(events)
        return
    for event in events:
        detail = ""
        data = event["data"]
        if isinstance(data, dict) and "message" in data:
            detail = f"  {data['message']}"
        node = f" {event['node']}" if event["node"] else ""
        out.print(f"{event['at']}  {event['type']}{node}{detail}", markup=False)


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
    from fuchsia.cli.render import print_execution

    if (client := remote.client()) is not None:
        with client:
            if execution_ids:
                records = [client.resume(i) for i in execution_ids]
            else:
                records = client.resume_interrupted()
        if not records and not json_output:
            out.print("nothing to resume", markup=False)
        remote.show(records, json_output)
        return

    async def work(engine: Engine) -> list[Execution]:
        ids = None
        if execution_ids:
            ids = [(await engine.get(i)).id for i in execution_ids]
        resumed = await engine.resume(ids)
        # a paused execution driven by another process goes on there: show where it stands
        return [await engine.get(i) for i in (resumed or ids or [])]

    executions = with_engine(db, work)
    if json_output:
        print_json([e.to_dict() for e in executions])
    elif not executions:
        out.print("nothing to resume", markup=False)
    for execution in executions if not json_output else []:
        print_execution(execution, nodes=False)
    codes = [exit_code(e) for e in executions]
    raise typer.Exit(max(codes, default=0))


@app.command("cancel")
def cancel_command(
    execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None
) -> None:
    """Cancel an execution (running in this or any other process); idempotent."""
    if (client := remote.client()) is not None:
        with client:
            remote.show(client.cancel(execution_id), json_output)
        return
    _show(with_engine(db, lambda e: e.cancel(execution_id)), json_output)


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
    if (client := remote.client()) is not None:
        with client:
            client.signal(execution_id, name, value)
        out.print(f"signal {name!r} sent", markup=False)
        return
    signal_id = with_engine(db, lambda e: e.signal(execution_id, name, value))
    out.print(f"signal {name!r} sent (#{signal_id})", markup=False)


@app.command("pause")
def pause_command(
    execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None
) -> None:
    """Pause an execution: running nodes finish, no new ones start until `runs resume ID`."""
    if (client := remote.client()) is not None:
        with client:
            remote.show(client.pause(execution_id), json_output)
        return
    _show(with_engine(db, lambda e: e.pause(execution_id)), json_output)


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
    from fuchsia.cli.render import print_execution

    if (client := remote.client()) is not None:
        with client:
            record = client.wait(client.retry(execution_id, from_node)["id"])
        remote.show(record, json_output)
        raise remote.exit_for(record)

    async def work(engine: Engine) -> Execution:
        return await engine.wait(await engine.retry(execution_id, from_node))

    execution = with_engine(db, work)
    if json_output:
        print_json(execution.to_dict())
    else:
        print_execution(execution)
    raise typer.Exit(exit_code(execution))


@app.command("artifacts")
def artifacts_command(
    execution_id: IdArg, json_output: JsonOption = False, db: DbOption = None
) -> None:
    """The execution's artifacts: what its components stored, and values stored as artifacts
    because they were above the inline limit."""
    from fuchsia.cli.render import size_text
    from fuchsia.runtime.views import artifact_view

    if (client := remote.client()) is not None:
        with client:
            shown = client.artifacts(execution_id)
    else:
        refs = with_engine(db, lambda e: e.artifacts(execution_id))
        shown = [artifact_view(ref) for ref in refs]
    if json_output:
        print_json(shown)
        return
    table = Table(show_edge=False)
    for column in ("id", "name", "content type", "size"):
        table.add_column(column)
    for a in shown:
        table.add_row(a["id"], a["name"], a["content_type"], size_text(a["size"]))
    out.print(table)


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
    from fuchsia.errors import ArtifactNotFound

    if (client := remote.client()) is not None:
        with client:
            listed = {a["id"]: a for a in client.artifacts(execution_id)}
            if artifact_id not in listed:
                raise ArtifactNotFound(artifact_id)
            content_type, data = (
                listed[artifact_id]["content_type"],
                client.artifact(execution_id, artifact_id),
            )
    else:
        ref, data = with_engine(db, lambda e: e.artifact(execution_id, artifact_id))
        content_type = ref.content_type
    if output is not None:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
        err.print(f"wrote {size_text(len(data))} to {output}", markup=False)
        return
    textual = content_type.startswith("text/") or content_type.endswith(("json", "yaml", "xml"))
    if sys.stdout.isatty() and not textual:
        raise fail(f"{content_type} content would garble the terminal: use --output FILE")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
