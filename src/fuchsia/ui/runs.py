"""What the runs page and the run page show, read over the engine's public methods: the
pages' models, built here so the routes stay thin and the templates only lay them out."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fuchsia.states import FINAL_STATUSES, ExecutionStatus, NodeStatus
from fuchsia.ui import graph
from fuchsia.ui.timeline import Span, Timeline, timeline

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.runtime.engine import Engine
    from fuchsia.runtime.views import Execution, NodeRun
    from fuchsia.store.records import ArtifactRef, EventRecord, ExecutionRecord

PAGE = 50  # runs per page
# Every page, the first too, is read by id (`before` this one sorts after every id): the
# store's own first page orders by creation time, which within one millisecond may differ
# from the id order the following pages use, and a row could be shown twice or skipped.
FIRST = "~"
EVENTS_SHOWN = 200  # the newest events the run page lists
CHILDREN_SHOWN = 200  # the newest sub-workflow runs the run page links
LOG_LINES = 500  # log lines a node panel lists
ITEMS_SHOWN = 200  # a foreach's items its panel lists


@dataclass(frozen=True)
class RunRow:
    record: ExecutionRecord
    errors: int
    trigger: str

    @property
    def status(self) -> str:
        return str(self.record.status)


@dataclass(frozen=True)
class RunsPage:
    rows: list[RunRow]
    next: str | None  # the `before` of the next (older) page
    unknown: str | None = None  # a `before` asked for that names no run (the first page shown)


def trigger_of(record: ExecutionRecord) -> str:
    """How an execution was started, as far as its record tells: a sub-workflow's parent,
    a schedule's or webhook's idempotency key, else by hand (API, CLI, UI)."""
    if record.parent_id is not None:
        return "sub-workflow"
    key = record.idempotency_key or ""
    kind = key.split(":", 1)[0]
    if kind in ("cron", "poll", "webhook"):
        return kind
    return "manual"


async def runs_page(
    engine: Engine, *, status: str | None, workflow: str | None, before: str | None
) -> RunsPage:
    """Newest first, PAGE at a time, paged by id (keyset: `before`), filtered by the store
    (an index each for status and workflow), with each run's count of failed nodes and
    items (one read for the page). A `before` that names no run (an edited or foreign
    link) shows the first page, saying so, rather than whatever ids sort below it."""
    unknown = None
    if before and not await engine.store.has_execution(before):
        unknown, before = before, None
    records = await engine.list(
        limit=PAGE, status=status, before=before or FIRST, workflow=workflow
    )
    more = records[-1].id if len(records) == PAGE else None
    counts = await engine.store.error_counts(r.id for r in records)
    rows = [RunRow(r, counts.get(r.id, 0), trigger_of(r)) for r in records]
    return RunsPage(rows, more, unknown)


@dataclass(frozen=True)
class NodeView:
    """One node as the graph and the panel show it."""

    id: str
    kind: str
    state: str  # the node's status, `waiting` for a wait node that waits
    run: NodeRun
    signal: str | None  # a wait node's signal name
    box: graph.Box

    @property
    def counts(self) -> list[tuple[str, int]]:
        if self.run.items is None:
            return []
        return [(str(s), n) for s, n in self.run.items.statuses.items() if n]

    @property
    def waits_for_signal(self) -> bool:
        return self.signal is not None and self.run.status == NodeStatus.RUNNING


@dataclass
class RunView:
    execution: Execution
    workflow: LockedWorkflow
    layout: graph.Layout
    nodes: dict[str, NodeView]
    events: list[EventRecord] = field(default_factory=list)  # the newest EVENTS_SHOWN
    artifacts: list[ArtifactRef] = field(default_factory=list)
    children: list[ExecutionRecord] = field(default_factory=list)
    selected_logs: list[EventRecord] = field(default_factory=list)  # the selected node's

    @property
    def final(self) -> bool:
        return self.execution.status in FINAL_STATUSES

    @property
    def paused(self) -> bool:
        return self.execution.status == ExecutionStatus.PAUSED

    def logs(self, node_id: str) -> list[EventRecord]:
        """The selected node's newest log lines (read for it: they may be older than the
        events the page lists)."""
        return [e for e in self.selected_logs if e.node_id == node_id]

    def timeline(self) -> Timeline:
        spans = [
            Span(run.id, a.number, str(a.status), a.started_at, a.finished_at)
            for run in self.execution.nodes
            for a in run.attempts
        ]
        return timeline(spans, [run.id for run in self.execution.nodes], time.time())

    @property
    def recent_events(self) -> list[EventRecord]:
        return self.events[::-1]


async def run_view(engine: Engine, execution_id: str, selected: str | None = None) -> RunView:
    """Everything the run page shows of one execution (a unique id prefix is accepted), and
    the log lines of the node `selected`, if any."""
    from fuchsia.definition.lock import LockedWorkflow

    full = execution_id if len(execution_id) >= 26 else await engine.store.resolve_id(execution_id)
    # events first: the page's stream goes on after the last one it shows, and the state
    # read next is at least as new as they are (never older, which would miss a change)
    read = await engine.store.last_events(full, EVENTS_SHOWN)
    execution = await engine.get(full)
    text = await engine.store.get_workflow(execution.workflow_hash)
    workflow = LockedWorkflow.from_json(text)
    layout = graph.of_workflow(workflow)
    nodes = {}
    for run in execution.nodes:
        locked = workflow.nodes[run.id]
        signal = getattr(locked.spec, "signal", None) if locked.kind == "wait" else None
        state = str(run.status)
        if locked.kind == "wait" and run.status == NodeStatus.RUNNING:
            state = "waiting"
        nodes[run.id] = NodeView(run.id, locked.kind, state, run, signal, layout.boxes[run.id])
    artifacts, children, logs = await asyncio.gather(
        engine.store.list_artifacts(execution.id),
        engine.store.children(execution.id, CHILDREN_SHOWN),
        engine.store.last_events(execution.id, LOG_LINES, node_logs=selected)
        if selected in nodes
        else _nothing(),
    )
    return RunView(execution, workflow, layout, nodes, read, artifacts, children, logs)


async def _nothing() -> list[EventRecord]:
    return []


@dataclass(frozen=True)
class ItemRow:
    index: int
    status: str
    attempts: int
    error: dict[str, Any] | None


async def items_of(engine: Engine, execution_id: str, node_id: str) -> list[ItemRow]:
    """The first ITEMS_SHOWN items of a foreach node, in item order, with their states."""
    nodes = await engine.store.get_nodes(execution_id)
    stored = nodes.get(node_id)
    if stored is None:
        return []
    shown = sorted(stored.items.items())[:ITEMS_SHOWN]
    return [ItemRow(i, str(n.status), len(n.attempts), n.error) for i, n in shown]


def event_text(event: EventRecord) -> str:
    """An event's data in one line (a log line: its level and message)."""
    data: dict[str, Any] = event.data or {}
    if event.type == "log":
        return f"{data.get('level', '')} {data.get('message', '')}".strip()
    return ", ".join(f"{k}={v}" for k, v in data.items())
