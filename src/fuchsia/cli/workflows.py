"""`fuchsia deploy` and `fuchsia workflows`: locked workflows stored by name and version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fuchsia.cli import remote
from fuchsia.cli.common import DbOption, JsonOption, out, print_json, with_engine
from fuchsia.cli.run import exit_code, read_payload
from fuchsia.errors import FuchsiaError

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.runtime.engine import Engine
    from fuchsia.runtime.views import Execution
    from fuchsia.store.records import Deployment

app = typer.Typer(help="Deployed workflows.", no_args_is_help=True)
RefArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME[@VERSION]",
        show_default=False,
        help="Without a version: the newest active one.",
    ),
]


def register(root: typer.Typer) -> None:
    root.command("deploy")(deploy_command)


def deploy_command(
    file: Annotated[Path, typer.Argument(help="Workflow file.", show_default=False)],
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Lock a workflow and store it under its name and version (versions live side by side)."""
    from fuchsia.runtime.views import deployment_view

    if (client := remote.client()) is not None:
        try:
            source = file.read_text()
        except OSError as exc:
            raise FuchsiaError(f"cannot read {file}: {exc.strerror}") from None
        with client:
            record = client.deploy(source)
        if json_output:
            print_json(record)
        else:
            out.print(
                f"deployed {record['name']}@{record['version']} {record['hash']}", markup=False
            )
        return
    deployment, created = with_engine(db, lambda e: e.deploy(file), create=True)
    if json_output:
        print_json({**deployment_view(deployment), "created": created})
        return
    verb = "deployed" if created else "already deployed"
    out.print(f"{verb} {deployment.name}@{deployment.version} {deployment.hash}", markup=False)


@app.command("list")
def list_command(json_output: JsonOption = False, db: DbOption = None) -> None:
    """Deployed workflows, newest version first."""
    from fuchsia.runtime.views import deployment_view, iso

    if (client := remote.client()) is not None:
        with client:
            print_json(client.workflows())
        return
    deployments = with_engine(db, lambda e: e.deployments())
    if json_output:
        print_json([deployment_view(d) for d in deployments])
        return
    table = Table(show_edge=False)
    for column in ("workflow", "version", "active", "pinned", "hash", "deployed"):
        table.add_column(column)
    for d in deployments:
        table.add_row(
            d.name,
            str(d.version),
            "yes" if d.active else "no",
            "pinned" if d.pinned else "",
            d.hash[:19] + "…",
            (iso(d.deployed_at) or "")[:19].replace("T", " "),
        )
    out.print(table)


@app.command("show")
def show_command(ref: RefArg, json_output: JsonOption = False, db: DbOption = None) -> None:
    """One deployed version: its trigger and nodes."""
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.runtime.views import deployment_view

    if (client := remote.client()) is not None:
        with client:
            print_json(client.workflow(ref))
        return

    async def work(engine: Engine) -> tuple[Deployment, LockedWorkflow]:
        deployment = await engine.deployment(ref)
        text = await engine.store.get_workflow(deployment.hash)
        return deployment, LockedWorkflow.from_json(text)

    deployment, locked = with_engine(db, work)
    document = locked.document
    if json_output:
        print_json({**deployment_view(deployment), "workflow": document})
        return
    state = "active" if deployment.active else "disabled"
    state += ", pinned" if deployment.pinned else ""
    out.print(f"{deployment.name}@{deployment.version}  {state}  {deployment.hash}", markup=False)
    if document.get("description"):
        out.print(f"  {document['description']}", markup=False)
    out.print(f"trigger: {document['trigger']['type']}", markup=False)
    for node_id in locked.order:
        node = locked.nodes[node_id]
        after = f" after {', '.join(node.after)}" if node.after else ""
        out.print(f"  {node_id}: {node.kind}{after}", markup=False)


def _activation(ref: str, active: bool, db: str | None) -> None:
    if (client := remote.client()) is not None:
        with client:
            record = client.set_active(ref, active)
        state = "enabled" if record["active"] else "disabled"
        out.print(f"{state} {record['name']}@{record['version']}", markup=False)
        return
    deployment = with_engine(db, lambda e: e.set_active(ref, active))
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
    from fuchsia.runtime.views import deployment_view

    if (client := remote.client()) is not None:
        with client:
            record = client.pin(ref) if pin else client.unpin(ref)
    else:
        deployment = with_engine(db, lambda e: e.pin(ref) if pin else e.unpin(ref))
        record = deployment_view(deployment)
    verb = "pinned" if pin else f"unpinned {record['name']}: triggers fire"
    out.print(f"{verb} {record['name']}@{record['version']}", markup=False)


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
    if (client := remote.client()) is not None:
        with client:
            started = client.start(ref, payload, idempotency_key=idempotency_key)
            record = client.wait(started["id"])
        remote.show(record, json_output)
        raise remote.exit_for(record)

    async def work(engine: Engine) -> Execution:
        execution_id = await engine.start_deployed(ref, payload, idempotency_key=idempotency_key)
        return await engine.wait(execution_id)

    execution = with_engine(db, work)
    if json_output:
        print_json(execution.to_dict())
    else:
        print_execution(execution, nodes=False)
    raise typer.Exit(exit_code(execution))
