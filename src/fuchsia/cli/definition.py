"""Commands on workflow files: validate, schema, lock, graph."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fuchsia.cli.common import EXIT_FAILED, Components, err, fail, out, print_json, report

if TYPE_CHECKING:
    pass

FileArg = Annotated[Path, typer.Argument(help="Workflow file (YAML or JSON).", show_default=False)]


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"


def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Workflow files to check.")],
) -> None:
    """Check workflow files; print every problem as FILE:LINE:COL: message."""
    from fuchsia.definition import load, read_file, validate
    from fuchsia.errors import DefinitionError

    failed = 0
    for path in files:
        try:
            definition = validate(read_file(path))
            load(path, Components())  # locking reports what cannot run
        except DefinitionError as exc:
            report(exc)
            failed += 1
            continue
        out.print(f"{path}: ok ({len(definition.nodes)} nodes)", markup=False)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def schema_command() -> None:
    """Print the JSON Schema of workflow files (for editor completion and checking)."""
    from fuchsia.definition.models import WorkflowDef

    schema = WorkflowDef.model_json_schema(by_alias=True)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Fuchsia workflow",
        **schema,
    }
    print_json(schema)


def lock_command(
    file: FileArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the locked workflow here.")
    ] = None,
) -> None:
    """Validate and lock a workflow; print its canonical locked JSON and sha256."""
    from fuchsia.definition import load
    from fuchsia.reading import os_reason

    locked = load(file, Components())
    document = {"hash": locked.hash, "workflow": locked.document}
    if output is None:
        print_json(document)
        return
    try:
        output.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise fail(f"cannot write {output}: {os_reason(exc)}") from None
    err.print(f"locked {locked.name} v{locked.version} {locked.hash} -> {output}", markup=False)


def graph_command(
    file: FileArg,
    format: Annotated[GraphFormat, typer.Option("--format", "-f")] = GraphFormat.mermaid,
) -> None:
    """Print the workflow's graph as Mermaid (default) or Graphviz DOT."""
    from fuchsia.definition import read_file, validate
    from fuchsia.definition.graph import to_dot, to_mermaid

    definition = validate(read_file(file))
    text = to_dot(definition) if format is GraphFormat.dot else to_mermaid(definition)
    out.print(text, markup=False)
