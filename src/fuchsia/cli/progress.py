"""Showing an execution as it runs: a live Rich table on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.store.records import Event

STYLES = {
    "pending": "dim",
    "running": "yellow",
    "retrying": "magenta",
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "skipped": "dim",
    "cancelled": "dim",
    "interrupted": "magenta",
}


class Progress:
    """Consumes the engine's events for one execution and shows node states."""

    def __init__(self, console: Console, workflow: LockedWorkflow) -> None:
        self.console = console
        self.workflow = workflow
        self.execution_id = ""
        self.states = dict.fromkeys(workflow.order, "pending")
        self.attempts = dict.fromkeys(workflow.order, 0)
        self.started: dict[str, float] = {}
        self.elapsed: dict[str, float] = {}
        self.live: Live | None = None
        if console.is_terminal:
            self.live = Live(self._table(), console=console, refresh_per_second=12, transient=False)

    def __enter__(self) -> Progress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()

    def on_events(self, execution_id: str, events: list[Event]) -> None:
        if self.execution_id and execution_id != self.execution_id:
            return
        for event in events:
            self._apply(event)
            if self.live is None:
                self._line(event)
        if self.live is not None:
            self.live.update(self._table())

    def _apply(self, event: Event) -> None:
        node = event.node_id
        if node is None or node not in self.states or not event.type.startswith("node_"):
            return
        status = event.type.removeprefix("node_")
        self.states[node] = "pending" if status == "interrupted" else status
        if status == "running":
            self.attempts[node] = int((event.data or {}).get("attempt", 1))
            self.started[node] = time.monotonic()
        elif node in self.started:
            self.elapsed[node] = time.monotonic() - self.started[node]

    def _line(self, event: Event) -> None:
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        data = event.data or {}
        if event.type == "log":
            fields = data.get("fields") or {}
            detail = (
                " ".join(f"{k}={v}" for k, v in fields.items()) if isinstance(fields, dict) else ""
            )
            self.console.print(
                f"{stamp} {event.node_id} log [{data.get('level')}] {data.get('message')}"
                + (f" {detail}" if detail else ""),
                markup=False,
                highlight=False,
            )
            return
        subject, _, status = event.type.partition("_")
        name = event.node_id if subject == "node" else "execution"
        detail = ""
        if event.type == "node_running":
            detail = f" (attempt {data.get('attempt', 1)})"
        elif "message" in data:
            detail = f": {data['message']}"
        self.console.print(f"{stamp} {name} {status}{detail}", markup=False, highlight=False)

    def _table(self) -> Table:
        table = Table(title=f"{self.workflow.name} v{self.workflow.version}", title_justify="left")
        table.add_column("node")
        table.add_column("kind")
        table.add_column("status")
        table.add_column("attempt", justify="right")
        table.add_column("time", justify="right")
        for node_id in self.workflow.order:
            status = self.states[node_id]
            if status == "running" and node_id in self.started:
                seconds = time.monotonic() - self.started[node_id]
            else:
                seconds = self.elapsed.get(node_id, 0.0)
            table.add_row(
                node_id,
                self.workflow.nodes[node_id].kind,
                f"[{STYLES.get(status, '')}]{status}[/]",
                str(self.attempts[node_id] or ""),
                _milliseconds(seconds) if node_id in self.started else "",
            )
        return table


def _milliseconds(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:,.0f} ms"
