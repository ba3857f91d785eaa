"""`fuchsia worker` (take executions from a shared store and drive them) and `fuchsia workers`."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fuchsia.cli import remote
from fuchsia.cli.common import (
    DbOption,
    JsonOption,
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    cannot_listen,
    err,
    escape,
    grace_option,
    label,
    out,
    print_json,
    settings,
)
from fuchsia.config import lease_of

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

app = typer.Typer(help="The engines sharing this store: `fuchsia worker` processes and others.")

DEFAULT_CONCURRENCY = 16


def worker_command(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=100_000,
            help="Executions driven at once (a waiting or paused one takes no slot); also "
            "how many attempts it runs before it shares further ones with idle workers.",
        ),
    ] = DEFAULT_CONCURRENCY,
    name: Annotated[
        str | None,
        typer.Option(
            help="How workers list and attempts show it (default HOST:PID).", callback=label
        ),
    ] = None,
    lease: Annotated[
        str | None,
        typer.Option(
            help="How long it holds what it drives without renewing, e.g. 30s "
            "(default FUCHSIA_LEASE or 30s).",
            show_default=False,
        ),
    ] = None,
    grace: Annotated[
        float, grace_option("Seconds running nodes may take to finish on SIGTERM.")
    ] = 30.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve this worker's Prometheus metrics at http://HOST:PORT/metrics "
            "(attempts, queue wait, retries, timeouts, component times); off by default.",
            show_default=False,
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address --metrics-port binds.")
    ] = "127.0.0.1",
    db: DbOption = None,
    log_level: LogLevelOption = LogLevel.INFO,
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Take executions nobody drives from the store (started by `serve --no-worker`, `run
    --detach`, or left by a process that stopped) and drive them until SIGTERM or Ctrl-C,
    which stop taking work, let running nodes finish within --grace and hand the rest to the
    other workers at once. Point every worker at one PostgreSQL (`--db postgresql://...`)."""
    from fuchsia import logs
    from fuchsia.observe import metrics
    from fuchsia.runtime.engine import Engine

    config = settings(db)
    logs.configure(log_level.value, log_format.value, root=True)
    registry = metrics.enable()  # recorded from now on; --metrics-port serves them
    held = lease_of(lease, "--lease") if lease is not None else config.lease

    url = config.store_url
    where = "PostgreSQL" if url.startswith(("postgres://", "postgresql://")) else url
    if metrics_port is not None:
        address = _serve_metrics(registry, metrics_host, metrics_port)
        err.print(f"worker metrics: {address}", markup=False, highlight=False)

    async def main() -> None:
        engine = await Engine.open(settings=config, slots=concurrency, name=name, lease=held)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        err.print(
            f"worker {escape(engine.name)}: {concurrency} at once, lease {held:g}s, "
            f"on {escape(where)}",
        )
        try:
            await stop.wait()
            err.print(f"worker {escape(engine.name)}: draining (up to {grace:g}s)")
        finally:
            await engine.close(grace=grace)
        err.print(f"worker {escape(engine.name)}: stopped")

    asyncio.run(main())


def _serve_metrics(registry: CollectorRegistry, host: str, port: int) -> str:
    """Serve `registry` on a daemon thread (it ends with the process); its address."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=registry)
    except (OSError, UnicodeError) as exc:
        raise cannot_listen(host, port, exc, "--metrics-host/--metrics-port") from None
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"


@app.command("list")
def list_command(json_output: JsonOption = False, db: DbOption = None) -> None:
    """The engines registered in the store: name, host, pid, started, last heartbeat,
    slots (executions taken from the store at once; 0: only its own), executions driven,
    attempts running, alive."""
    rows = remote.with_operations(db, lambda ops: ops.workers())
    data: list[dict[str, Any]] = [w.to_json() for w in rows]
    if json_output:
        print_json(data)
        return
    from rich.table import Table

    table = Table(show_edge=False)
    columns = ("name", "host", "pid", "started", "heartbeat", "slots", "executions", "running")
    for column in (*columns, "state"):
        table.add_column(column)
    for w in data:
        state = "alive" if w["alive"] else "lease passed"
        if w["draining"]:
            state = "draining"
        table.add_row(
            escape(w["name"]),
            escape(w["host"]),
            str(w["pid"]),
            str(w["started_at"])[:19],
            str(w["heartbeat_at"])[:19],
            str(w["slots"]),
            str(w["executions"]),
            str(w["running"]),
            state,
        )
    out.print(table)
