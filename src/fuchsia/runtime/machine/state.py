"""What the machine decides from: an execution's stored state, and a layer of one decision.

`State` is a cache of the store (`State.from_records`): node statuses, attempt numbers, the
retry budget, outputs, the foreach bookkeeping, the verdict hooks run for. Nothing in it is
process-local: tasks, timers and the inbox belong to the shell. `Overlay` is the same state
as one decision changes it; the shell merges it once the commit that stored it succeeded.
Foreach items are units keyed `node[index]` (`split_key`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from fuchsia.definition.lock import LockedWorkflow
from fuchsia.runtime.machine.layer import Layer
from fuchsia.runtime.work import split_key, trailing_failures
from fuchsia.states import ERRORED, AttemptStatus, Control, ExecutionStatus, NodeStatus
from fuchsia.store.records import ExecutionRecord, NodeRecord


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

    def item_done(self, *, started: bool = True) -> Fanout:
        return replace(self, running=self.running - started, settled=self.settled + 1)

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


# the parts of `State` an overlay keeps as layers (the rest are single values)
LAYERED = (
    "statuses",
    "numbers",
    "outputs",
    "retry_at",
    "failures",
    "iterations",
    "previous",
    "first_started",
    "unit_errors",
    "items",
    "fanouts",
    "skipped_edges",
    "held",
)


class Overlay:
    """`State` as one decision changes it. Reads see the decision's own writes first."""

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
        self.statuses = Layer(state.statuses)
        self.numbers = Layer(state.numbers)
        self.outputs = Layer(state.outputs)
        self.retry_at = Layer(state.retry_at)
        self.failures = Layer(state.failures)
        self.iterations = Layer(state.iterations)
        self.previous = Layer(state.previous)
        self.first_started = Layer(state.first_started)
        self.unit_errors = Layer(state.unit_errors)
        self.items = Layer(state.items)
        self.fanouts = Layer(state.fanouts)
        self.skipped_edges = Layer(state.skipped_edges)
        self.held = Layer(state.held)

    def layers(self) -> Iterable[Layer[Any, Any]]:
        return (getattr(self, name) for name in LAYERED)

    def merge(self) -> None:
        """Make the decision's changes the state's (its commit succeeded)."""
        state = self.state
        state.status = self.status
        state.started_at = self.started_at
        state.context = self.context
        state.verdict = self.verdict
        state.paused = self.paused
        state.first_error = self.first_error
        for layer in self.layers():
            layer.merge()
