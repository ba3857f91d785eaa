"""`fuchsia component new` and `fuchsia component build`: write a Python component, build it."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fuchsia.cli.common import JsonOption, err, out, print_json

if TYPE_CHECKING:
    pass


class WorldChoice(StrEnum):
    task = "task-component"
    trigger = "trigger-component"


def register(app: typer.Typer) -> None:
    """Add `new` and `build` to `app` (the `fuchsia component` group)."""
    app.command("new")(new_command)
    app.command("build")(build_command)


def new_command(
    name: Annotated[
        str, typer.Argument(help="Component name, e.g. greeter or acme/shop.", show_default=False)
    ],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", "-d", help="Where to create it [default: ./NAME's last part]"),
    ] = None,
    world: Annotated[
        WorldChoice, typer.Option("--world", "-w", help="What the component exports.")
    ] = WorldChoice.task,
) -> None:
    """Scaffold a Python component: app.py, component.yaml, README.md, .gitignore."""
    from fuchsia.components.build import new_component

    target = directory if directory is not None else Path(name.rsplit("/", 1)[-1])
    new_component(name, target, world=world.value)
    out.print(f"created {name} in {target}: app.py, component.yaml, README.md", markup=False)
    out.print(
        f"next: edit {target / 'app.py'}, then `fuchsia component build {target}`", markup=False
    )


def build_command(
    directory: Annotated[Path, typer.Argument(help="The component's directory.")] = Path("."),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the wasm here instead of the manifest's `wasm` path "
            "(component.yaml is then left unchanged).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Build a Python component into WebAssembly with componentize-py; record its digest."""
    from fuchsia.components.build import build_component
    from fuchsia.components.manifest import MANIFEST_FILE, load_manifest
    from fuchsia.components.package import digest_of

    if not json_output and (directory / MANIFEST_FILE).is_file():
        err.print(f"building {directory} with componentize-py ...", markup=False)
    started = time.perf_counter()
    wasm = build_component(directory, output=output)
    seconds = time.perf_counter() - started
    manifest = load_manifest(directory)
    data = wasm.read_bytes()
    result = {
        "name": manifest.name,
        "version": manifest.version,
        "wasm": str(wasm),
        "digest": digest_of(data),
        "size": len(data),
        "seconds": round(seconds, 2),
    }
    if json_output:
        print_json(result)
        return
    out.print(
        f"built {manifest.ref} -> {wasm} ({len(data) / 1e6:.1f} MB, {seconds:.1f} s)\n"
        f"digest {result['digest']}",
        markup=False,
    )
