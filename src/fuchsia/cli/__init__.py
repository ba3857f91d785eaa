"""The `fuchsia` command line: one module per command group."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fuchsia.cli import remote
from fuchsia.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Interrupted, err, report
from fuchsia.cli.lazy import lazy_group
from fuchsia.errors import FuchsiaError

# Every command, in the order `fuchsia --help` lists them: "module:attribute", a function for
# a command, a `typer.Typer` for a group. A command's module is imported when it is used.
COMMANDS = {
    "validate": "fuchsia.cli.definition:validate_command",
    "schema": "fuchsia.cli.definition:schema_command",
    "lock": "fuchsia.cli.definition:lock_command",
    "graph": "fuchsia.cli.definition:graph_command",
    "run": "fuchsia.cli.run:run_command",
    "deploy": "fuchsia.cli.workflows:deploy_command",
    "serve": "fuchsia.cli.server:serve_command",
    "worker": "fuchsia.cli.worker:worker_command",
    "workers": "fuchsia.cli.worker:app",
    "runs": "fuchsia.cli.runs:app",
    "component": "fuchsia.cli.component:app",
    "node": "fuchsia.cli.node:app",
    "tokens": "fuchsia.cli.server:tokens",
    "workflows": "fuchsia.cli.workflows:app",
    "keys": "fuchsia.cli.keys:app",
}

app = typer.Typer(
    name="fuchsia",
    help="Fuchsia: durable workflows in which every task runs as a sandboxed component.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=lazy_group(COMMANDS),
)


def _print_version(value: bool) -> None:
    if value:
        from fuchsia import __version__

        sys.stdout.write(f"fuchsia {__version__}\n")
        raise typer.Exit(EXIT_OK)


@app.callback()
def root(
    server_url: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="FUCHSIA_SERVER",
            show_envvar=True,
            help="Talk to this `fuchsia serve` (runs and workflows commands) instead of a store.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="FUCHSIA_TOKEN",
            show_envvar=True,
            help="Bearer token for --server.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Fuchsia: durable workflows in which every task runs as a sandboxed component."""
    remote.configure(server_url, token)


def main() -> None:
    """Console entry point: user mistakes become clear messages and exit codes."""
    try:
        app()
    except FuchsiaError as exc:
        sys.exit(report(exc))
    except Interrupted as stop:
        err.print(str(stop), markup=False, soft_wrap=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        sys.stderr.write(
            "interrupted; open executions can be continued with `fuchsia runs resume`\n"
        )
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_FAILED)
