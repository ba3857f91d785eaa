"""What every command shares: store options, engine lifetime, output, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from fuchsia.durations import parse_duration
from fuchsia.errors import DefinitionError, FuchsiaError
from fuchsia.runtime.engine import Engine, default_db

T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="FUCHSIA_DB",
        show_envvar=True,
        help="SQLite path or postgresql:// URL [default: $FUCHSIA_HOME/fuchsia.db]",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

# Off a terminal, lines are for logs and pipes: wide, never wrapped mid-value.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


def secrets_from_env() -> dict[str, str]:
    """`FUCHSIA_SECRET_API_KEY=...` becomes `{{ secrets.api_key }}` in templates."""
    prefix = "FUCHSIA_SECRET_"
    return {k[len(prefix) :].lower(): v for k, v in os.environ.items() if k.startswith(prefix)}


def with_engine(db: str | None, work: Callable[[Engine], Awaitable[T]]) -> T:
    """Open an engine on the store, run `work`, and always close the engine."""

    async def main() -> T:
        hung = os.environ.get("FUCHSIA_HUNG_AFTER")
        engine = await Engine.open(
            db or default_db(),
            secrets=secrets_from_env(),
            hung_after=parse_duration(hung) if hung else None,
        )
        try:
            return await work(engine)
        finally:
            await engine.close()

    return asyncio.run(main())


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def report(exc: FuchsiaError) -> int:
    """Print a user's mistake as clear lines (never a traceback); return the exit code."""
    if isinstance(exc, DefinitionError):
        for problem in exc.problems:
            err.print(str(problem), markup=False, soft_wrap=True)
        count = len(exc.problems)
        err.print(f"{count} problem{'s' if count != 1 else ''} found", markup=False)
    else:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
    return EXIT_FAILED
