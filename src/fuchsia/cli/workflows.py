"""`fuchsia deploy` and `fuchsia workflows`: locked workflows stored by name and version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fuchsia.cli.common import DbOption, JsonOption, out, print_json
from fuchsia.cli.remote import with_operations
from fuchsia.cli.run import exit_code, read_payload

if TYPE_CHECKING:
    from fuchsia.operations import Operations
    from fuchsia.runtime.views import Execution

app = typer.Typer(help="Deployed workflows.", no_args_is_help=True)
RefArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME[@VERSION]",
        show_default=False,
        help="Without a version: the newest active one.",
    ),
]


def deploy_command(
    file: Annotated[Path, typer.Argument(help="Workflow file.", show_default=False)],
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Lock a workflow and store it under its name and version (versions live side by side)."""
    deployment, created = with_operations(db, lambda ops: ops.deploy(file), create=True)
    if json_output:
        print_json({**deployment.to_json(), "created": created})
        return
    verb = "deployed" if created else "already deployed"
    out.print(f"{verb} {deployment.name}@{deployment.version} {deployment.hash}", markup=False)


@app.command("list")
def list_command(json_output: JsonOption = False, db: DbOption = None) -> None:
    """Deployed workflows, newest version first."""
    from fuchsia.cli.render import print_deployments

    deployments = with_operations(db, lambda ops: ops.deployments())
    if json_output:
        print_json([d.to_json() for d in deployments])
    else:
        print_deployments(deployments)


@app.command("show")
def show_command(ref: RefArg, json_output: JsonOption = False, db: DbOption = None) -> None:
    """One deployed version: its trigger and nodes."""
    from fuchsia.cli.render import print_workflow

    deployed = with_operations(db, lambda ops: ops.workflow(ref))
    if json_output:
        print_json(deployed.to_json())
    else:
        print_workflow(deployed)


def _activation(ref: str, active: bool, db: str | None) -> None:
    deployment = with_operations(db, lambda ops: ops.set_active(ref, active))
    state = "enabled" if deployment.active else "disabled"
    out.print(f"{state} {deployment.name}@{deployment.version}", markup=False)


@app.command("disable")
def disable_command(ref: RefArg, db: DbOption = None) -> None:
    """Disable a version: triggers and `workflows run NAME` skip it."""
    _activation(ref, False, db)


@app.command("enable")
def enable_command(ref: RefArg, db: DbOption = None) -> None:
    """Enable a version again."""
    _activation(ref, True, db)


def _pinning(ref: str, pin: bool, db: str | None) -> None:
    d = with_operations(db, lambda ops: ops.pin(ref) if pin else ops.unpin(ref))
    verb = "pinned" if pin else f"unpinned {d.name}: triggers fire"
    out.print(f"{verb} {d.name}@{d.version}", markup=False)


@app.command("pin")
def pin_command(ref: RefArg, db: DbOption = None) -> None:
    """Pin NAME@VERSION: its triggers, and `workflows run NAME`, use that version even when
    newer ones are deployed."""
    _pinning(ref, True, db)


@app.command("unpin")
def unpin_command(ref: RefArg, db: DbOption = None) -> None:
    """Unpin NAME: its newest active version is current again."""
    _pinning(ref, False, db)


@app.command("run")
def run_command(
    ref: RefArg,
    input: Annotated[str | None, typer.Option("--input", "-i", help="Payload as JSON.")] = None,
    input_file: Annotated[Path | None, typer.Option("--input-file")] = None,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Run a deployed workflow and wait for it."""
    from fuchsia.cli.render import print_execution

    payload = read_payload(input, input_file)

    async def work(ops: Operations) -> Execution:
        execution_id = await ops.start_deployed(ref, payload, idempotency_key=idempotency_key)
        return await ops.wait(execution_id)

    execution = with_operations(db, work)
    if json_output:
        print_json(execution.to_json())
    else:
        print_execution(execution, nodes=False)
    raise typer.Exit(exit_code(execution))
