"""`fuchsia component ...`: package, install, list, remove and inspect WebAssembly components.

Every command is a function registered on `app` with `@app.command(NAME)`; a new command
(`new`, `build`) is one more such function. Commands find installed components in
`$FUCHSIA_HOME/components` (FUCHSIA_HOME defaults to `.fuchsia`).
"""

from __future__ import annotations

import atexit
import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fuchsia.cli import authoring, remote
from fuchsia.cli.common import JsonOption, escape, out, print_json, settings

if TYPE_CHECKING:
    from fuchsia.components.host import WasmHost
    from fuchsia.components.manifest import Manifest
    from fuchsia.components.registry import InstalledComponent, Registry

app = typer.Typer(
    help="Package, install, list, remove and inspect WebAssembly components.",
    no_args_is_help=True,
)

RefArg = Annotated[
    str,
    typer.Argument(
        help="NAME or NAME@VERSION (without a version: the newest installed).", show_default=False
    ),
]


def registry() -> Registry:
    """The registry these commands manage: `$FUCHSIA_HOME/components`. Installing compiles
    the component (caching the result for every later run) and checks what it exports."""
    from fuchsia.components.registry import Registry

    return Registry(settings().registry_root, verify=_verify)


@functools.cache
def _host() -> WasmHost:
    from fuchsia.components.host import HostSettings, WasmHost  # wasmtime only when needed

    host = WasmHost(HostSettings(cache_dir=settings().cache_dir / "compiled"))
    atexit.register(host.close)
    return host


def _verify(manifest: Manifest, wasm: bytes) -> None:
    from fuchsia.components.host import verify_exports
    from fuchsia.components.package import digest_of
    from fuchsia.errors import ComponentError, RegistryError

    digest = digest_of(wasm)
    try:
        verify_exports(_host().load(digest, lambda: wasm), manifest.world)
    except ComponentError as exc:
        raise RegistryError(f"{manifest.ref}: {exc}") from None


# --- commands --------------------------------------------------------------------------------


@app.command("install")
def install_command(
    path: Annotated[
        Path | None,
        typer.Argument(help="A component directory or a .fcpkg file.", show_default=False),
    ] = None,
    python_runtime: Annotated[
        bool,
        typer.Option(
            "--python-runtime",
            help="Build (once) and install the Python runtime that `python` nodes run in.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an installed version with other content.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Install a component; its wasm's digest is checked against its manifest."""
    from fuchsia.cli.common import building_runtime, fail

    if (path is None) == (not python_runtime):
        raise fail("name a component directory or .fcpkg file, or pass --python-runtime")
    if path is None:
        installed = registry().python_runtime(on_build=building_runtime)
    else:
        installed = registry().install(path, force=force)
    if json_output:
        print_json(summary(installed))
        return
    out.print(f"installed {installed.ref} {installed.digest}", markup=False)


@app.command("list")
def list_command(json_output: JsonOption = False) -> None:
    """Installed components, by name and version (with --server: the server's)."""
    if (client := remote.client()) is not None:  # the server's registry: only its API has it
        with client:
            listed = client.components()
    else:
        listed = [summary(c) for c in registry().list()]
    if json_output:
        print_json(listed)
        return
    if not listed:
        out.print("no components installed; add one with `fuchsia component install PATH`")
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("name", "version", "world", "exports", "digest"):
        table.add_column(column)
    for c in listed:
        exports = ", ".join([*c["tasks"], *c["triggers"]])
        cells = (c["name"], c["version"], c["world"], exports, c["digest"][:19])
        table.add_row(*map(escape, cells))
    out.print(table)


@app.command("remove")
def remove_command(ref: RefArg) -> None:
    """Remove an installed version (name the version when several are installed)."""
    from fuchsia.components.registry import parse_ref

    removed = registry().remove(*parse_ref(ref))
    out.print(f"removed {removed}", markup=False)


@app.command("inspect")
def inspect_command(ref: RefArg, json_output: JsonOption = False) -> None:
    """Show what a component declares: tasks with schemas, triggers, capabilities, config."""
    if (client := remote.client()) is not None:
        with client:
            print_json(client.component(ref))
        return
    installed = registry().resolve(ref)
    interface = component_interface(installed)
    if json_output:
        document = describe(installed)
        if interface is not None:
            document["interface"] = interface
        print_json(document)
        return
    lines = describe_lines(installed)
    if interface is not None:
        lines += ["interface:", *_indent(json.dumps(interface, indent=2), 2)]
    out.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


@app.command("pack")
def pack_command(
    directory: Annotated[Path, typer.Argument(help="The component directory.", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Package file [default: DIR/dist/NAME-VERSION.fcpkg]."),
    ] = None,
) -> None:
    """Pack a component (manifest, wasm, README, assets) into a deterministic .fcpkg."""
    from fuchsia.components.package import pack

    written = pack(directory, output)
    out.print(f"packed {written} ({written.stat().st_size} bytes)", markup=False)


# --- views -----------------------------------------------------------------------------------


def component_interface(installed: InstalledComponent) -> dict[str, Any] | None:
    """The component's actual imports and exports, read from its (compiled) wasm."""
    reg = registry()
    loaded = _host().load(installed.digest, lambda: reg.read_wasm(installed))
    return {"imports": list(loaded.imports), "exports": list(loaded.exports)}


def summary(installed: InstalledComponent) -> dict[str, Any]:
    """One line of `list --json`, and what `install --json` prints."""
    from fuchsia.components.registry import summary as registry_summary

    return {**registry_summary(installed), "directory": str(installed.directory)}


def describe(installed: InstalledComponent) -> dict[str, Any]:
    """Everything `inspect --json` shows: the manifest in full, with where it is installed."""
    manifest = installed.manifest
    capabilities = manifest.capabilities
    return {
        **summary(installed),
        "wasm": str(installed.wasm_path),
        "tasks": {name: spec.model_dump(mode="json") for name, spec in manifest.tasks.items()},
        "triggers": {
            name: spec.model_dump(mode="json") for name, spec in manifest.triggers.items()
        },
        "capabilities": capabilities.model_dump(mode="json"),
        "config": manifest.config,
    }


def describe_lines(installed: InstalledComponent) -> list[str]:
    """`inspect` for a terminal."""
    manifest = installed.manifest
    lines = [f"{installed.ref}  ({manifest.world})"]
    if manifest.description:
        lines.append(f"  {manifest.description}")
    lines += [f"digest:    {installed.digest}", f"directory: {installed.directory}"]
    if manifest.tasks:
        lines.append("tasks:")
    for name, task in manifest.tasks.items():
        lines.append(f"  {name}" + (f"  {task.description}" if task.description else ""))
        for label, schema in (("input", task.input_schema), ("output", task.output_schema)):
            if schema is None:
                lines.append(f"    {label}: (no schema)")
            else:
                lines += _json_lines(f"    {label}:", schema, 6)
    if manifest.triggers:
        lines.append("triggers:")
    for name, trigger in manifest.triggers.items():
        text = f"  {name} ({trigger.kind})"
        lines.append(text + (f"  {trigger.description}" if trigger.description else ""))
    lines += _capability_lines(installed)
    if manifest.config:
        lines += _json_lines("config:", manifest.config, 2)
    return lines


def _capability_lines(installed: InstalledComponent) -> list[str]:
    from fuchsia.components.manifest import format_size

    capabilities = installed.manifest.capabilities
    hosts = ", ".join(capabilities.allowed_hosts) or "none"
    paths = (
        ", ".join(
            f"{g.path} ({'writable' if g.writable else 'read-only'})"
            for g in capabilities.allowed_paths
        )
        or "none"
    )
    limit = capabilities.memory_limit
    memory = "engine default" if limit is None else f"{format_size(limit)} ({limit} bytes)"
    return [
        "capabilities:",
        f"  allowed_hosts: {hosts}",
        f"  allowed_paths: {paths}",
        f"  memory_limit:  {memory}",
    ]


def _json_lines(label: str, value: Any, spaces: int) -> list[str]:
    """Short JSON on the label's line, longer JSON indented below it."""
    compact = json.dumps(value, ensure_ascii=False)
    if len(label) + len(compact) < 100:
        return [f"{label} {compact}"]
    return [label, *_indent(json.dumps(value, indent=2, ensure_ascii=False), spaces)]


def _indent(text: str, spaces: int) -> list[str]:
    return [" " * spaces + line for line in text.splitlines()]


authoring.register(app)  # `new` and `build`, listed after the commands above
