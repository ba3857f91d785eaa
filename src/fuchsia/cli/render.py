"""Human-readable views of executions for the terminal."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from fuchsia.cli.common import duration_text, out
from fuchsia.cli.progress import STYLES
from fuchsia.runtime.views import Execution, iso
from fuchsia.store.records import ExecutionRecord


def _status(status: str) -> str:
    return f"[{STYLES.get(status, 'bold')}]{status}[/]"


def _compact(value: Any, limit: int = 2000) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return text if len(text) <= limit else text[:limit] + " …"


def size_text(size: int) -> str:
    """A byte count as people read it."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def print_execution(execution: Execution, *, nodes: bool = True) -> None:
    duration = f" in {duration_text(execution.duration)}" if execution.duration is not None else ""
    out.print(
        f"execution {execution.id}  {execution.workflow} v{execution.version}  "
        f"{_status(execution.status)}{duration}"
    )
    if nodes:
        table = Table(show_edge=False)
        for column in ("node", "status", "attempts", "error"):
            table.add_column(column)
        for node in execution.nodes:
            message = (node.error or {}).get("message", "")
            table.add_row(node.id, _status(node.status), str(len(node.attempts)), message)
        out.print(table)
    if execution.error and execution.status != "cancelled":  # a cancel is what was asked
        out.print(f"[red]error:[/red] {execution.error.get('message', execution.error)}")
    if execution.result_artifact is not None:
        ref = execution.result_artifact
        out.print(
            f"result: stored as artifact {ref.id} ({size_text(ref.size)}); "
            f"print it with: fuchsia runs artifact {execution.id} {ref.id}",
            markup=False,
        )
    elif execution.status.startswith("completed"):
        out.print("result:", _compact(execution.result), markup=False)


def print_list(records: list[ExecutionRecord]) -> None:
    table = Table(show_edge=False)
    for column in ("id", "workflow", "status", "created", "duration"):
        table.add_column(column)
    for r in records:
        duration = ""
        if r.started_at is not None and r.finished_at is not None:
            duration = duration_text(r.finished_at - r.started_at)
        created = (iso(r.created_at) or "")[:23].replace("T", " ")
        table.add_row(
            r.id, f"{r.workflow_name} v{r.workflow_version}", _status(r.status), created, duration
        )
    out.print(table)
