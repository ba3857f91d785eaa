"""`fuchsia serve` and `fuchsia tokens`: the HTTP API and who may use it."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fuchsia.cli.common import (
    DbOption,
    JsonOption,
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    check_listen,
    err,
    escape,
    grace_option,
    label,
    out,
    print_json,
    settings,
    with_engine,
)
from fuchsia.server.auth import SCOPES, create_token

if TYPE_CHECKING:
    from fuchsia.runtime.engine import Engine

tokens = typer.Typer(help="API tokens for `fuchsia serve`.", no_args_is_help=True)


def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8080,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without tokens (local use only).")
    ] = False,
    grace: Annotated[
        float, grace_option("Seconds running nodes may take to finish on shutdown.")
    ] = 30.0,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Serve the API, webhooks and schedules only: executions are recorded for "
            "`fuchsia worker` processes to run.",
        ),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            max=100_000,
            help="Executions it takes from the store at once (started elsewhere, or left by "
            "a process that stopped); those started through this server always run.",
        ),
    ] = 64,
    db: DbOption = None,
    log_level: LogLevelOption = LogLevel.INFO,
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Serve the web UI (at /), the HTTP API (under /api/v1; OpenAPI at /openapi.json, docs
    at /docs) and run executions."""
    import uvicorn

    from fuchsia import logs
    from fuchsia.observe import metrics
    from fuchsia.runtime.engine import Engine
    from fuchsia.server.app import create_app

    config = settings(db)
    check_listen(host, port, "--host/--port")
    metrics.enable()  # this process's half of /metrics

    async def open_engine() -> Engine:
        return await Engine.open(settings=config, slots=concurrency, drives=not no_worker)

    if no_auth:
        err.print(
            "[bold red]WARNING: serving WITHOUT authentication (--no-auth): anyone who "
            f"can reach {escape(host)}:{port} can run and cancel workflows.[/]"
        )
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    err.print(
        f"Fuchsia web UI: http://{shown}:{port}/ (API under /api/v1, docs at /docs"
        + (", log in with a token from `fuchsia tokens create`)" if not no_auth else ")"),
        markup=False,
        highlight=False,
    )
    # uvicorn's lines, and every library's warnings, the same way as the package's
    logs.configure(log_level.value, log_format.value, also=("uvicorn",), root=True)
    # uvicorn shuts down gracefully on SIGTERM, then restores this handler and raises the
    # signal again: a stop asked for is a clean exit (0), as `fuchsia worker`'s
    signal.signal(signal.SIGTERM, _stopped)
    uvicorn.run(
        create_app(open_engine, auth=not no_auth, grace=grace),
        host=host,
        port=port,
        log_config=None,
        log_level=log_level.value,
        timeout_graceful_shutdown=int(grace) + 5,
    )


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


@tokens.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="What the token is for.", callback=label)],
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help=f"One of {', '.join(SCOPES)}; repeatable.")
    ] = ["read"],  # noqa: B006
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Create a token; it is printed once and only its hash is stored."""
    record, secret = with_engine(db, lambda e: create_token(e.store, name, scope), create=True)
    if json_output:
        print_json(
            {"id": record.id, "name": record.name, "scopes": list(record.scopes), "token": secret}
        )
        return
    err.print(
        f"token {record.id} ({', '.join(record.scopes)}): keep it, it is not shown again",
        markup=False,
    )
    out.print(secret, markup=False)


@tokens.command("list")
def list_command(json_output: JsonOption = False, db: DbOption = None) -> None:
    """Tokens (never their secrets)."""
    from fuchsia.runtime.views import iso

    records = with_engine(db, lambda e: e.store.tokens())
    rows: list[dict[str, Any]] = [
        {
            "id": r.id,
            "name": r.name,
            "scopes": list(r.scopes),
            "created_at": iso(r.created_at),
            "revoked_at": iso(r.revoked_at),
        }
        for r in records
    ]
    if json_output:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("id", "name", "scopes", "created", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            escape(row["id"]),
            escape(row["name"]),
            escape(", ".join(row["scopes"])),
            str(row["created_at"])[:19],
            str(row["revoked_at"] or "")[:19],
        )
    out.print(table)


@tokens.command("revoke")
def revoke_command(token_id: str, db: DbOption = None) -> None:
    """Revoke a token at once."""
    if not with_engine(db, lambda e: e.store.revoke_token(token_id)):
        err.print(f"error: no active token {token_id!r}", markup=False)
        raise typer.Exit(1)
    out.print(f"revoked {token_id}", markup=False)
