"""What the machine decides from: an execution's stored state, and a layer of one decision.

`State` is a cache of the store (`State.from_records`): node statuses, attempt numbers, the
retry budget, outputs, the foreach bookkeeping, the verdict hooks run for. Nothing in it is
process-local: tasks, timers and the inbox belong to the shell. `Overlay` is the same state
as one decision changes it; the shell merges it once the commit that stored it succeeded.
Foreach items are units keyed `node[index]` (`split_key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fuchsia.definition.lock import LockedWorkflow
from fuchsia.nodes import Park
from fuchsia.runtime.machine.layer import Layer
from fuchsia.runtime.work import split_key, trailing_failures
from fuchsia.states import ERRORED, AttemptStatus, Control, ExecutionStatus, NodeStatus
from fuchsia.store.records import ExecutionRecord, NodeRecord

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


class State:
    """One execution's stored state, as the machine reads it."""

    def __init__(self, workflow: LockedWorkflow, record: ExecutionRecord) -> None:
        self.workflow = workflow
        self.id = record.id
        self.payload = record.payload
        self.status: ExecutionStatus = record.status
        self.control: Control | None = record.control
        self.started_at: float | None = record.started_at
        self.context: dict[str, Any] = dict(record.context or {})
        self.verdict = None if record.settled is None else Verdict.from_record(record.settled)
        self.paused = record.control == Control.PAUSE
        self.first_error: dict[str, Any] | None = None
        self.statuses: dict[str, NodeStatus] = {}
        self.numbers: dict[str, int] = {}
        self.outputs: dict[str, Any] = {}
        self.retry_at: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.iterations: dict[str, int] = {}
        self.previous: dict[str, Any] = {}
        self.first_started: dict[str, float] = {}
        self.unit_errors: dict[str, dict[str, Any]] = {}
        self.items: dict[str, list[Any]] = {}
        self.fanouts: dict[str, Fanout] = {}
        self.skipped_edges: dict[tuple[str, str], bool] = {}
        self.held: dict[str, bool] = {}  # ready, not started: paused or draining
        # waits that parked while this process drives it (still running in the store)
        self.parked: dict[str, Park] = {}
        # it was parked: its running waits go on as the same attempts, not interrupted
        self.unparking = record.parked_until is not None

    @classmethod
    def from_records(
        cls, workflow: LockedWorkflow, record: ExecutionRecord, nodes: dict[str, NodeRecord]
    ) -> State:
        state = cls(workflow, record)
        for key, node in nodes.items():
            state.statuses[key] = node.status
            state.numbers[key] = max((a.number for a in node.attempts), default=0)
            if node.status == NodeStatus.SUCCEEDED:
                state.outputs[key] = node.output
            if node.status == NodeStatus.RETRYING:
                state.retry_at[key] = node.ready_at or 0.0
            if node.attempts:
                state.first_started[key] = node.attempts[0].started_at
                inputs = node.attempts[-1].inputs
                if isinstance(inputs, dict) and isinstance(inputs.get("items"), list):
                    state.items[key] = inputs["items"]
            # failed attempts since the last success: what the retry budget counts (an
            # interrupted attempt, or an earlier iteration of a repeat, does not)
            state.failures[key] = trailing_failures(node.attempts)
            base, index = split_key(key)
            if index is not None and node.status in ERRORED:
                state.unit_errors[key] = node.error or {}
            spec = workflow.nodes.get(base)
            if index is None and spec is not None and spec.repeat is not None:
                state.iterations[key] = sum(
                    a.status == AttemptStatus.SUCCEEDED for a in node.attempts
                )
                state.previous[key] = node.output
        return state


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

    statuses: _Layered[str, NodeStatus] = _Layered()
    numbers: _Layered[str, int] = _Layered()
    outputs: _Layered[str, Any] = _Layered()
    retry_at: _Layered[str, float] = _Layered()
    failures: _Layered[str, int] = _Layered()
    iterations: _Layered[str, int] = _Layered()
    previous: _Layered[str, Any] = _Layered()
    first_started: _Layered[str, float] = _Layered()
    unit_errors: _Layered[str, dict[str, Any]] = _Layered()
    items: _Layered[str, list[Any]] = _Layered()
    fanouts: _Layered[str, Fanout] = _Layered()
    skipped_edges: _Layered[tuple[str, str], bool] = _Layered()
    held: _Layered[str, bool] = _Layered()
    parked: _Layered[str, Park] = _Layered()

    def __init__(self, state: State) -> None:
        self.state = state
        self.workflow = state.workflow
        self.id = state.id
        self.payload = state.payload
        self.status = state.status
        self.started_at = state.started_at
        self.context = state.context  # replaced, never changed in place
        self.verdict = state.verdict
        self.paused = state.paused
        self.first_error = state.first_error
        self.unparking = state.unparking
        self.touched: list[Layer[Any, Any]] = []

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
