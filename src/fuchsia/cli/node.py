"""`fuchsia node run`: one node of a workflow in isolation, for debugging."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fuchsia.cli.common import EXIT_FAILED, DbOption, JsonOption, err, out, print_json, with_engine
from fuchsia.cli.run import read_payload

if TYPE_CHECKING:
    from fuchsia.runtime.work import Outcome

app = typer.Typer(help="Debug single nodes.", no_args_is_help=True)


@app.command("run")
def run_command(
    file: Annotated[Path, typer.Argument(help="Workflow file.", show_default=False)],
    node_id: Annotated[str, typer.Argument(metavar="NODE", help="The node to run.")],
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="The node's input data as JSON (its upstream output; the "
            "payload for a node without `after`; a map by node id for a join).",
        ),
    ] = None,
    input_file: Annotated[Path | None, typer.Option("--input-file")] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Render one node's templates with the given input and run it once; nothing is recorded
    as an execution."""
    upstream = read_payload(input, input_file)
    outcome: Outcome = with_engine(
        db, lambda engine: engine.run_node(file, node_id, upstream), create=True
    )
    record = {
        "node": node_id,
        "status": "succeeded" if outcome.error is None else "failed",
        "inputs": outcome.inputs,
        "output": outcome.output,
        "error": None if outcome.error is None else outcome.error.to_record(),
        "logs": outcome.logs,
    }
    if json_output:
        print_json(record)
    else:
        for line in outcome.logs:
            fields = f" {json.dumps(line['fields'])}" if line.get("fields") else ""
            err.print(f"[{line['level']}] {line['message']}{fields}", markup=False)
        if outcome.error is None:
            out.print(json.dumps(outcome.output, indent=2, ensure_ascii=False), markup=False)
        else:
            err.print(f"error: {outcome.error.message}", markup=False)
    if outcome.error is not None:
        raise typer.Exit(EXIT_FAILED)
