"""What the machine decides from: an execution's stored state, and a layer of one decision.

`State` is a cache of the store (`State.from_records`): node statuses, attempt numbers, the
retry budget, outputs, the foreach bookkeeping, the verdict hooks run for. Nothing in it is
process-local: tasks, timers and the inbox belong to the shell. `Overlay` is the same state
as one decision changes it; the shell merges it once the commit that stored it succeeded.
Units are keyed by `UnitKey`: a node (`UnitKey(node)`, `State.keys[node]`) or one item of
a foreach (`UnitKey(node, index)`). `nodes(...)` is a dict of units as node ids see it, for
the scheduler, which knows nothing of items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fuchsia.definition.lock import LockedWorkflow
from fuchsia.nodes import Park
from fuchsia.observe.ids import TraceRef
from fuchsia.runtime.machine.layer import Layer
from fuchsia.runtime.work import trailing_failures
from fuchsia.states import ERRORED, AttemptStatus, Control, ExecutionStatus, NodeStatus
from fuchsia.store.records import ExecutionRecord, NodeRecord, UnitKey

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome a settled graph reached, fixed (and stored) once outcome hooks start."""

    status: ExecutionStatus
    error: dict[str, Any] | None
    aborted: bool = False  # reached by an abort (cancel, timeout, fail fast): no result

    def to_record(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "aborted": self.aborted}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Verdict:
        return cls(ExecutionStatus(data["status"]), data.get("error"), bool(data.get("aborted")))


@dataclass(frozen=True, slots=True)
class Fanout:
    """A running foreach: counters only, so an item settling costs O(1). Item outputs and
    errors are the items' own units."""

    number: int  # the parent's attempt
    started_at: float
    total: int
    concurrency: int
    running: int = 0
    settled: int = 0
    next_index: int = 0

    def item_done(self) -> Fanout:
        """One of its running items settled (built directly: `dataclasses.replace` costs
        more than the rest of an item's bookkeeping)."""
        return Fanout(
            self.number,
            self.started_at,
            self.total,
            self.concurrency,
            self.running - 1,
            self.settled + 1,
            self.next_index,
        )

    def started(self, running: int, next_index: int) -> Fanout:
        return Fanout(
            self.number,
            self.started_at,
            self.total,
            self.concurrency,
            running,
            self.settled,
            next_index,
        )

    @property
    def finished(self) -> bool:
        return self.settled == self.total


class ByNode(Mapping[str, V]):
    """A dict of units read by node id (the nodes' own units; items are not in it): what
    the scheduler and the templates see. It reads `units` and never copies it."""

    __slots__ = ("by_id", "units")

    def __init__(self, units: Mapping[UnitKey, V], keys: Mapping[str, UnitKey]) -> None:
        self.units = units
        self.by_id = keys

    def __getitem__(self, node_id: str) -> V:
        return self.units[self.by_id[node_id]]

    def get(self, node_id: str, default: Any = None) -> Any:
        return self.units.get(self.by_id.get(node_id), default)  # type: ignore[arg-type]

    def __contains__(self, node_id: object) -> bool:
        key = self.by_id.get(node_id) if isinstance(node_id, str) else None
        return key is not None and key in self.units

    def __iter__(self) -> Iterator[str]:
        return (key.node for key in self.units if key.item is None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class State:
    """One execution's stored state, as the machine reads it."""

    def __init__(self, workflow: LockedWorkflow, record: ExecutionRecord) -> None:
        self.workflow = workflow
        # each node's own key, made once: a step looks nodes up by them
        self.keys: dict[str, UnitKey] = {node_id: UnitKey(node_id) for node_id in workflow.nodes}
        self.id = record.id
        self.payload = record.payload
        self.status: ExecutionStatus = record.status
        self.control: Control | None = record.control
        self.started_at: float | None = record.started_at
        self.created_at = record.created_at
        self.trace = TraceRef.stored(record)
        self.context: dict[str, Any] = dict(record.context or {})
        self.verdict = None if record.settled is None else Verdict.from_record(record.settled)
        self.paused = record.control == Control.PAUSE
        self.first_error: dict[str, Any] | None = None
        self.statuses: dict[UnitKey, NodeStatus] = {}
        self.numbers: dict[UnitKey, int] = {}
        self.outputs: dict[UnitKey, Any] = {}
        self.retry_at: dict[UnitKey, float] = {}
        self.failures: dict[UnitKey, int] = {}
        self.iterations: dict[str, int] = {}  # a repeat's (a node's)
        self.previous: dict[str, Any] = {}
        self.first_started: dict[UnitKey, float] = {}
        self.unit_errors: dict[UnitKey, dict[str, Any]] = {}  # failed foreach items'
        self.items: dict[str, list[Any]] = {}  # a foreach node's rendered items
        self.fanouts: dict[str, Fanout] = {}
        self.skipped_edges: dict[tuple[str, str], bool] = {}
        self.held: dict[UnitKey, bool] = {}  # ready, not started: paused or draining
        # waits that parked while this process drives it (still running in the store)
        self.parked: dict[UnitKey, Park] = {}
        # it was parked: its running waits go on as the same attempts, not interrupted
        self.unparking = record.parked_until is not None

    @classmethod
    def from_records(
        cls, workflow: LockedWorkflow, record: ExecutionRecord, nodes: dict[str, NodeRecord]
    ) -> State:
        state = cls(workflow, record)
        for node_id, node in nodes.items():
            state._load_unit(state.keys.get(node_id) or UnitKey(node_id), node)
            for index, item in node.items.items():
                state._load_unit(UnitKey(node_id, index), item)
        return state

    def _load_unit(self, key: UnitKey, unit: NodeRecord) -> None:
        self.statuses[key] = unit.status
        self.numbers[key] = max((a.number for a in unit.attempts), default=0)
        if unit.status == NodeStatus.SUCCEEDED:
            self.outputs[key] = unit.output
        if unit.status == NodeStatus.RETRYING:
            self.retry_at[key] = unit.ready_at or 0.0
        if unit.attempts:
            self.first_started[key] = unit.attempts[0].started_at
            inputs = unit.attempts[-1].inputs
            if (
                key.item is None
                and isinstance(inputs, dict)
                and isinstance(inputs.get("items"), list)
            ):
                self.items[key.node] = inputs["items"]
        # failed attempts since the last success: what the retry budget counts (an
        # interrupted attempt, or an earlier iteration of a repeat, does not)
        self.failures[key] = trailing_failures(unit.attempts)
        if key.item is not None and unit.status in ERRORED:
            self.unit_errors[key] = unit.error or {}
        spec = self.workflow.nodes.get(key.node)
        if key.item is None and spec is not None and spec.repeat is not None:
            self.iterations[key.node] = sum(
                a.status == AttemptStatus.SUCCEEDED for a in unit.attempts
            )
            self.previous[key.node] = unit.output

    def nodes(self, units: Mapping[UnitKey, V]) -> ByNode[V]:
        """`units` (one of this state's dicts, or its overlay's) read by node id."""
        return ByNode(units, self.keys)


class _Layered(Generic[K, V]):
    """An overlay's layer over the `State` dict of the same name, made when a decision first
    reads or writes it (a step touches a few of them); later reads are plain attributes."""

    def __set_name__(self, owner: type[Overlay], name: str) -> None:
        self.name = name

    def __get__(self, overlay: Overlay, owner: type[Overlay] | None = None) -> Layer[K, V]:
        layer: Layer[K, V] = Layer(getattr(overlay.state, self.name))
        overlay.__dict__[self.name] = layer  # found before this descriptor from now on
        overlay.touched.append(layer)
        return layer


class Overlay:
    """`State` as one decision changes it. Reads see the decision's own writes first."""

    statuses: _Layered[UnitKey, NodeStatus] = _Layered()
    numbers: _Layered[UnitKey, int] = _Layered()
    outputs: _Layered[UnitKey, Any] = _Layered()
    retry_at: _Layered[UnitKey, float] = _Layered()
    failures: _Layered[UnitKey, int] = _Layered()
    iterations: _Layered[str, int] = _Layered()
    previous: _Layered[str, Any] = _Layered()
    first_started: _Layered[UnitKey, float] = _Layered()
    unit_errors: _Layered[UnitKey, dict[str, Any]] = _Layered()
    items: _Layered[str, list[Any]] = _Layered()
    fanouts: _Layered[str, Fanout] = _Layered()
    skipped_edges: _Layered[tuple[str, str], bool] = _Layered()
    held: _Layered[UnitKey, bool] = _Layered()
    parked: _Layered[UnitKey, Park] = _Layered()

    def __init__(self, state: State) -> None:
        self.state = state
        self.workflow = state.workflow
        self.keys = state.keys
        self.id = state.id
        self.payload = state.payload
        self.status = state.status
        self.started_at = state.started_at
        self.trace = state.trace
        self.context = state.context  # replaced, never changed in place
        self.verdict = state.verdict
        self.paused = state.paused
        self.first_error = state.first_error
        self.unparking = state.unparking
        self.touched: list[Layer[Any, Any]] = []

    def nodes(self, units: Mapping[UnitKey, V]) -> ByNode[V]:
        """`units` (one of this overlay's dicts) read by node id."""
        return ByNode(units, self.keys)

    def filled(self, name: str) -> bool:
        """Whether the layered dict `name` holds anything (without making its layer)."""
        layer = self.__dict__.get(name)
        return bool(layer if layer is not None else getattr(self.state, name))

    def discard(self, name: str, key: Any) -> None:
        """Remove `key` from the layered dict `name` if it is there (a layer only if so)."""
        layer = self.__dict__.get(name)
        if layer is not None:
            layer.pop(key, None)
        elif key in getattr(self.state, name):
            getattr(self, name).pop(key, None)

    def merge(self) -> None:
        """Make the decision's changes the state's (its commit succeeded)."""
        state = self.state
        state.status = self.status
        state.started_at = self.started_at
        state.context = self.context
        state.verdict = self.verdict
        state.paused = self.paused
        state.first_error = self.first_error
        state.unparking = self.unparking
        for layer in self.touched:
            if layer.changes:
                layer.merge()
