"""Showing an execution as it runs: a live Rich table on a terminal, plain lines otherwise.

Both name the execution first (its id is what every later command takes), say what a running
`wait` node waits for (the signal's name, or the timer's due time), show a `foreach` as its
item progress (done/total, and failures), and print every duration as `duration_text` does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table

from fuchsia.cli.common import STYLES, duration_text, escape
from fuchsia.nodes.kind import WaitSpec

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedNode, LockedWorkflow
    from fuchsia.runtime.views import Execution
    from fuchsia.store.records import Event

FAILED_ITEM = ("failed", "timed_out")
Lookup = Callable[[], Awaitable["Execution"]]


@dataclass
class Items:
    """A foreach node's items as their events report them (`total` once it is looked up)."""

    total: int | None = None
    done: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)

    def text(self) -> str:
        total = "?" if self.total is None else str(self.total)
        shown = f"items {len(self.done) + len(self.failed)}/{total}"
        return shown + (f", {len(self.failed)} failed" if self.failed else "")


class Progress:
    """Consumes the engine's events for one execution and shows node states. `lookup`
    (optional) reads the execution back, for what events do not carry: a foreach's item
    count and a `wait: {until: ...}` node's rendered due time."""

    def __init__(
        self, console: Console, workflow: LockedWorkflow, lookup: Lookup | None = None
    ) -> None:
        self.console = console
        self.workflow = workflow
        self.lookup = lookup
        self.execution_id = ""
        self.states = dict.fromkeys(workflow.order, "pending")
        self.attempts = dict.fromkeys(workflow.order, 0)
        self.started: dict[str, float] = {}
        self.elapsed: dict[str, float] = {}
        self.items = {n: Items() for n, node in workflow.nodes.items() if node.foreach}
        self.due: dict[str, str] = {}  # wait node -> the timer's due time, as shown
        self._looking: asyncio.Task[None] | None = None
        self.live: Live | None = None
        if console.is_terminal:  # re-rendered on every refresh, so running times advance
            self.live = Live(
                console=console, get_renderable=self.table, refresh_per_second=8, transient=False
            )

    def __enter__(self) -> Progress:
        if self.live is not None:
            self.live.start()
        elif self.execution_id:
            self._print(f"execution {self.execution_id}  {self._title()}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._looking is not None:
            self._looking.cancel()
        if self.live is not None:
            self.live.refresh()
            self.live.stop()

    def on_events(self, execution_id: str, events: list[Event]) -> None:
        if self.execution_id and execution_id != self.execution_id:
            return
        for event in events:
            self._apply(event)
            if self.live is None:
                self._line(event)
        if self.live is not None:
            self.live.refresh()

    def _apply(self, event: Event) -> None:
        if event.node_id is None or not event.type.startswith("node_"):
            return
        node, index = event.node_id, event.item
        if node not in self.states:
            return
        status = event.type.removeprefix("node_")
        if index is not None:
            self._item(node, index, status)
            return
        self.states[node] = "pending" if status == "interrupted" else status
        if status == "running":
            self.attempts[node] = int((event.data or {}).get("attempt", 1))
            self.started[node] = time.monotonic()
            self._note_wait(self.workflow.nodes[node])
        elif node in self.started:
            self.elapsed[node] = time.monotonic() - self.started[node]

    def _item(self, node: str, index: int, status: str) -> None:
        items = self.items.get(node)
        if items is None:
            return
        items.done.discard(index)
        items.failed.discard(index)
        if status == "succeeded":
            items.done.add(index)
        elif status in FAILED_ITEM:
            items.failed.add(index)
        if items.total is None:
            self._look_up()

    def _note_wait(self, node: LockedNode) -> None:
        match node.spec:
            case WaitSpec(for_=float() | int() as seconds):
                self.due[node.id] = _clock(time.time() + seconds)
            case WaitSpec(until=until) if until is not None:
                self._look_up()

    def _look_up(self) -> None:
        """Read the execution back once at a time (never blocking the loop's caller)."""
        if self.lookup is None or (self._looking is not None and not self._looking.done()):
            return
        with_loop = asyncio.get_running_loop()
        self._looking = with_loop.create_task(self._read_back(self.lookup))

    async def _read_back(self, lookup: Lookup) -> None:
        from fuchsia.errors import FuchsiaError

        try:
            execution = await lookup()
        except FuchsiaError:
            return
        for run in execution.nodes:
            if not run.attempts or not isinstance(run.attempts[-1].inputs, dict):
                continue
            inputs = run.attempts[-1].inputs
            if run.id in self.items and isinstance(inputs.get("items"), list):
                self.items[run.id].total = len(inputs["items"])
            elif run.id in self.states and inputs.get("until") is not None:
                self.due[run.id] = str(inputs["until"])
        if self.live is not None:
            self.live.refresh()

    def detail(self, node_id: str) -> str:
        """What the status alone does not say: item progress, or what a wait waits for."""
        if node_id in self.items and self.states[node_id] != "pending":
            return self.items[node_id].text()
        spec = self.workflow.nodes[node_id].spec
        if not isinstance(spec, WaitSpec) or self.states[node_id] != "running":
            return ""
        if spec.signal is not None:
            return f"waiting for signal {spec.signal!r}"
        return f"waiting until {self.due.get(node_id, '(timer)')}"

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _line(self, event: Event) -> None:
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        data = event.data or {}
        if event.type == "log":
            fields = data.get("fields") or {}
            detail = (
                " ".join(f"{k}={v}" for k, v in fields.items()) if isinstance(fields, dict) else ""
            )
            self._print(
                f"{stamp} {_label(event)} log [{data.get('level')}] {data.get('message')}"
                + (f" {detail}" if detail else "")
            )
            return
        subject, _, status = event.type.partition("_")
        name = _label(event) if subject == "node" else "execution"  # its id heads the lines
        detail = ""
        if event.type == "node_running":
            detail = f" (attempt {data.get('attempt', 1)})"
        elif "message" in data:
            detail = f": {data['message']}"
        base = event.node_id or ""
        extra = self.detail(base) if subject == "node" and base in self.states else ""
        self._print(f"{stamp} {name} {status}{detail}" + (f"  {extra}" if extra else ""))

    def _title(self) -> str:
        return f"{self.workflow.name} v{self.workflow.version}"

    def table(self) -> Table:
        """The live view: the execution first, then a row per node."""
        title = self._title()
        if self.execution_id:
            title = f"execution {self.execution_id}  {title}"
        table = Table(title=escape(title), title_justify="left")
        for column in ("node", "kind", "status", "attempt"):
            table.add_column(column, justify="right" if column == "attempt" else "left")
        table.add_column("time", justify="right")
        table.add_column("detail")
        for node_id in self.workflow.order:
            status = self.states[node_id]
            if status == "running" and node_id in self.started:
                seconds = time.monotonic() - self.started[node_id]
            else:
                seconds = self.elapsed.get(node_id, 0.0)
            table.add_row(
                escape(node_id),
                self.workflow.nodes[node_id].kind,
                f"[{STYLES.get(status, '')}]{status}[/]",
                str(self.attempts[node_id] or ""),
                duration_text(seconds) if node_id in self.started else "",
                escape(self.detail(node_id)),
            )
        return table


def _label(event: Event) -> str:
    """How a line names the unit an event is about: `node`, or `node[3]` for an item."""
    node = event.node_id or ""
    return node if event.item is None else f"{node}[{event.item}]"


def _clock(timestamp: float) -> str:
    """A due time as local wall-clock time, with the date when it is not today."""
    when = datetime.fromtimestamp(timestamp)
    if when.date() == datetime.now().date():
        return when.strftime("%H:%M:%S")
    return when.strftime("%Y-%m-%d %H:%M:%S")
