"""The one renderer of the command line: the typed views every `Operations` returns (an
`Engine`'s or an `AsyncClient`'s alike) as terminal text, or as JSON for `--json`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fuchsia.cli.common import STYLES, duration_text, escape, out
from fuchsia.store.records import iso

if TYPE_CHECKING:
    from rich.table import Table

    from fuchsia.runtime.views import DeployedWorkflow, Execution, ExecutionSummary
    from fuchsia.store.records import ArtifactRef, Deployment, EventRecord


def _table(*columns: str) -> Table:
    """An edgeless table with these columns (rich is imported when a table is shown)."""
    from rich.table import Table

    table = Table(show_edge=False)
    for column in columns:
        table.add_column(column)
    return table


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
        f"execution {execution.id}  {escape(execution.workflow)} v{execution.version}  "
        f"{_status(execution.status)}{duration}"
    )
    if nodes:
        table = _table("node", "status", "attempts", "error")
        for node in execution.nodes:
            message = (node.error or {}).get("message", "")
            attempts = str(len(node.attempts))
            table.add_row(escape(node.id), _status(node.status), attempts, escape(message))
        out.print(table)
    if execution.error and execution.status != "cancelled":  # a cancel is what was asked
        message = execution.error.get("message", execution.error)
        out.print(f"[red]error:[/red] {escape(message)}")
    if execution.result_artifact is not None:
        ref = execution.result_artifact
        out.print(
            f"result: stored as artifact {ref.id} ({size_text(ref.size)}); "
            f"print it with: fuchsia runs artifact {execution.id} {ref.id}",
            markup=False,
        )
    elif execution.status.startswith("completed"):
        out.print("result:", _compact(execution.result), markup=False)


def print_list(summaries: list[ExecutionSummary]) -> None:
    table = _table("id", "workflow", "status", "created", "duration")
    for s in summaries:
        duration = "" if s.duration is None else duration_text(s.duration)
        created = (iso(s.created_at) or "")[:23].replace("T", " ")
        workflow = escape(f"{s.workflow} v{s.version}")
        table.add_row(escape(s.id), workflow, _status(s.status), created, duration)
    out.print(table)


def event_json(event: EventRecord) -> dict[str, Any]:
    """An event as `runs logs --json` prints it."""
    return {
        "seq": event.seq,
        "at": iso(event.at),
        "type": event.type,
        "node": event.node_id,
        "item": event.item,
        "data": event.data,
    }


def event_line(event: EventRecord) -> str:
    """One event as a line: time, type, node, and for a component's log its level, message
    and fields (`key=value`, values as JSON)."""
    data = event.data
    node = f" {event.unit}" if event.unit is not None else ""  # `node[3]` for an item
    detail = ""
    if isinstance(data, dict):
        if event.type == "log":
            detail = f"  [{data.get('level', 'info')}] {data.get('message', '')}"
            fields = data.get("fields")
            if isinstance(fields, dict) and fields:
                detail += "  " + " ".join(
                    f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in fields.items()
                )
        elif "message" in data:
            detail = f"  {data['message']}"
    return f"{iso(event.at)}  {event.type}{node}{detail}"


def print_artifacts(refs: list[ArtifactRef]) -> None:
    table = _table("id", "name", "content type", "size")
    for a in refs:
        table.add_row(escape(a.id), escape(a.name), escape(a.content_type), size_text(a.size))
    out.print(table)


def print_deployments(deployments: list[Deployment]) -> None:
    table = _table("workflow", "version", "active", "pinned", "hash", "deployed")
    for d in deployments:
        table.add_row(
            escape(d.name),
            str(d.version),
            "yes" if d.active else "no",
            "pinned" if d.pinned else "",
            escape(d.hash[:19]) + "…",
            (iso(d.deployed_at) or "")[:19].replace("T", " "),
        )
    out.print(table)


def print_workflow(deployed: DeployedWorkflow) -> None:
    deployment, locked = deployed.deployment, deployed.workflow
    document = locked.document
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
