"""An in-memory store: executions, node runs, attempts, events and signals in dicts, written
with the semantics of `SqlStore` (`fuchsia.store.base`, `queries.sql`) for the calls the
execution machine's tests make.

It implements `create_execution`, `apply`, `get_execution`, `get_nodes`, `get_events`,
`get_workflow`, `request` (a control request), `send_signal` and `next_signal`, and nothing
else of the `Store` protocol, and `claim`, the compare-and-swap that gives an execution a
new owner and a new claim number. What `apply` does is what the SQL does, statement by
statement: the fence on the owner and its claim number (`ExecutionNotFound`,
`OwnershipLost`), the node-run upsert, the
attempt upsert (a write without inputs keeps the stored ones; `started_at` is kept from the
first write, or the store's clock when the first write had none), the execution update
(`None` leaves a field as it is, `has_result` writes the result, `started` sets
`started_at` once, `finished` sets `finished_at`), consumed signals, and events numbered by
one sequence shared by every execution. An attempt whose node has no row is refused, as
SQLite's foreign key refuses it, and a refused transition writes nothing.

Every value goes through JSON on the way in and out, as it does in the database: a record
read back is a copy, never the caller's object, and it holds what the JSON holds (lists
for tuples, string keys). Not modelled: encryption, spilling large values to artifacts
(every value stays inline, so the `*_artifact` fields are None), owners and their leases, and
concurrency beyond one caller at a time; kv and artifacts are not kept, so a `NewExecution`
carrying kv, or a `Transition` carrying kv or artifact rows, is refused. The clock is the
caller's (`clock`), so a test can pin the timestamps the store writes.

The methods are coroutines, like the `Store` protocol's, but they never suspend: nothing
here waits on I/O.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from fuchsia.errors import ExecutionNotFound, StoreError
from fuchsia.states import OPEN_STATUSES, AttemptStatus, Control, ExecutionStatus, NodeStatus
from fuchsia.store.base import OwnershipLost
from fuchsia.store.records import (
    AttemptRecord,
    EventRecord,
    ExecutionRecord,
    NewExecution,
    NodeRecord,
    Transition,
    dumps,
    nest_items,
)

Json = str | None  # a value as the database holds it: its JSON text, or NULL


def _dump(value: Any) -> Json:
    """`value`'s JSON text (None: NULL); a value that is not JSON data is refused, as the
    SQL store refuses it (the write fails, nothing of it is stored)."""
    if value is None:
        return None
    try:
        return dumps(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"store write failed: {exc}") from exc


def _slot(item: int | None) -> int:
    """A unit's `item` as the tables key it: -1 for a node itself."""
    return -1 if item is None else item


def _load(text: Json) -> Any:
    return None if text is None else json.loads(text)


@dataclass
class _Execution:
    id: str
    workflow_hash: str
    workflow_name: str
    workflow_version: int
    status: str
    payload: Json
    context: Json
    idempotency_key: str | None
    owner: str | None
    parent_id: str | None
    created_at: float
    updated_at: float
    result: Json = None
    error: Json = None
    started_at: float | None = None
    finished_at: float | None = None
    control: str | None = None
    settled: Json = None
    claim: int = 0
    parked_until: float | None = None
    wake_signals: tuple[str, ...] = ()
    trace: tuple[str | None, str | None, str | None] = (None, None, None)


@dataclass
class _Node:
    status: str
    attempts: int
    ready_at: float | None
    error: Json
    updated_at: float


@dataclass
class _Attempt:
    status: str
    inputs: Json
    output: Json
    error: Json
    started_at: float
    finished_at: float | None
    worker: str | None = None


@dataclass(frozen=True)
class _Event:
    seq: int
    execution_id: str
    node_id: str | None
    type: str
    data: Json
    at: float
    item: int | None


@dataclass
class _Signal:
    execution_id: str
    name: str
    payload: Json
    created_at: float
    consumed_by: str | None = None
    consumed_at: float | None = None


@dataclass
class MemoryStore:
    """Executions and their rows in dicts; see the module docstring for what it models."""

    clock: Callable[[], float] = time.time
    _workflows: dict[str, str] = field(default_factory=dict)
    _executions: dict[str, _Execution] = field(default_factory=dict)
    # keyed as the tables are: (execution, node, item), a node's own item -1
    _nodes: dict[tuple[str, str, int], _Node] = field(default_factory=dict)
    _attempts: dict[tuple[str, str, int, int], _Attempt] = field(default_factory=dict)
    _events: list[_Event] = field(default_factory=list)
    _signals: dict[int, _Signal] = field(default_factory=dict)

    # -- executions ----------------------------------------------------------------------

    async def create_execution(self, new: NewExecution) -> tuple[ExecutionRecord, bool]:
        """Insert an execution, or return the existing one with the same idempotency key."""
        if new.kv is not None:
            raise StoreError("the memory store keeps no kv: NewExecution.kv is not modelled")
        now = self.clock()
        self._workflows.setdefault(new.workflow_hash, new.workflow_document)
        if new.idempotency_key is not None:
            for row in self._executions.values():
                if row.idempotency_key == new.idempotency_key:
                    return self._execution(row), False
        if new.id not in self._executions:  # else: this request created it before
            self._executions[new.id] = _Execution(
                id=new.id,
                workflow_hash=new.workflow_hash,
                workflow_name=new.workflow_name,
                workflow_version=new.workflow_version,
                status=str(new.status),
                payload=_dump(new.payload) or "null",
                context=_dump(new.context) or "null",
                idempotency_key=new.idempotency_key,
                owner=new.owner,
                parent_id=new.parent_id,
                created_at=now,
                updated_at=now,
                trace=(new.trace_id, new.trace_parent, new.trace_link),
            )
        return self._execution(self._executions[new.id]), True

    async def get_workflow(self, workflow_hash: str) -> str:
        document = self._workflows.get(workflow_hash)
        if document is None:
            raise StoreError(f"no locked workflow {workflow_hash} in the store")
        return document

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        row = self._executions.get(execution_id)
        if row is None:
            raise ExecutionNotFound(execution_id)
        return self._execution(row)

    async def request(self, execution_id: str, control: str) -> bool:
        """Leave a control request on an open execution; a stored cancel is replaced by
        nothing but a cancel (`set_control`)."""
        row = self._executions.get(execution_id)
        if row is None or row.status not in OPEN_STATUSES:
            return False
        if row.control == Control.CANCEL and control != Control.CANCEL:
            return False
        row.control = control
        row.updated_at = self.clock()
        if row.parked_until is not None:
            row.parked_until = row.updated_at  # woken to act on it
        return True

    def is_claimable(self, execution_id: str) -> bool:
        """Whether a worker's claim would take the execution now: open, held by nobody,
        and woken if it is parked."""
        row = self._executions.get(execution_id)
        if row is None or row.status not in OPEN_STATUSES or row.owner is not None:
            return False
        return row.parked_until is None or row.parked_until <= self.clock()

    async def claim(self, execution_id: str, owner: str, previous: str | None) -> bool:
        """Give an open execution still owned by `previous` to `owner`, with the next claim
        number (`claim_execution`)."""
        row = self._executions.get(execution_id)
        if row is None or row.status not in OPEN_STATUSES or row.owner != previous:
            return False
        row.owner, row.claim, row.updated_at = owner, row.claim + 1, self.clock()
        return True

    # -- the one write -------------------------------------------------------------------

    async def apply(self, transition: Transition) -> None:
        """Apply `transition` whole, or (when it is refused) not at all."""
        t = transition
        row = self._executions.get(t.execution_id)
        if row is None:
            raise ExecutionNotFound(t.execution_id)
        if row.owner != t.owner:
            raise OwnershipLost(f"execution {t.execution_id} is now owned by {row.owner}")
        if t.claim is not None and row.claim != t.claim:
            raise OwnershipLost(f"execution {t.execution_id} was claimed again ({row.claim})")
        if t.kv or t.artifacts:
            raise StoreError(
                "the memory store keeps no kv or artifacts: a transition's are not modelled"
            )
        now = self.clock()
        eid = t.execution_id
        nodes = {
            (eid, n.node_id, _slot(n.item)): _Node(
                str(n.status), n.attempts, n.ready_at, _dump(n.error), now
            )
            for n in t.nodes
        }
        known = self._nodes.keys() | nodes.keys()
        attempts: dict[tuple[str, str, int, int], _Attempt] = {}
        for a in t.attempts:
            if (eid, a.node_id, _slot(a.item)) not in known:
                raise StoreError(
                    f"store write failed: attempt {a.number} of {str(a.unit)!r} has no node run"
                )
            key = (eid, a.node_id, _slot(a.item), a.number)
            old = attempts.get(key) or self._attempts.get(key)
            inputs = _dump(a.inputs)
            attempts[key] = _Attempt(
                status=str(a.status),
                inputs=old.inputs if inputs is None and old is not None else inputs,
                output=_dump(a.output),
                error=_dump(a.error),
                started_at=old.started_at
                if old is not None
                else (a.started_at if a.started_at is not None else now),
                finished_at=a.finished_at,
                # the engine that started it keeps it (an interrupted one is not the taker's)
                worker=old.worker if old is not None and old.worker is not None else t.worker,
            )
        execution = self._updated(row, t, now)
        seq = self._events[-1].seq if self._events else 0
        events = [
            _Event(i, eid, ev.node_id, ev.type, _dump(ev.data), now, ev.item)
            for i, ev in enumerate(t.events, seq + 1)
        ]
        # everything is checked and encoded: from here on, nothing refuses the transition
        self._nodes.update(nodes)
        self._attempts.update(attempts)
        if execution.parked_until is not None and t.execution and t.execution.park:
            waiting = any(
                s.execution_id == eid and s.name in execution.wake_signals and s.consumed_by is None
                for s in self._signals.values()
            )
            control, status = execution.control, execution.status
            unseen = (  # a resume of a paused one, a pause of one not paused
                status == "paused" and control not in (None, Control.PAUSE)
            ) or (status != "paused" and control == Control.PAUSE)
            ended = any(
                c in self._executions and self._executions[c].status not in OPEN_STATUSES
                for c in t.execution.park.children
            )
            if waiting or ended or control == Control.CANCEL or unseen:
                execution = replace(execution, parked_until=now)
        self._executions[eid] = execution
        parent = self._executions.get(execution.parent_id or "")
        if t.execution and t.execution.finished and parent and parent.parked_until is not None:
            parent.parked_until = now  # parked on this child
        for signal_id, unit in t.consumed:
            signal = self._signals.get(signal_id)
            if signal is not None and signal.consumed_by is None:
                signal.consumed_by, signal.consumed_at = f"{eid}/{unit}", now
        self._events.extend(events)

    @staticmethod
    def _updated(row: _Execution, t: Transition, now: float) -> _Execution:
        """The execution row as `update_execution` leaves it."""
        e = t.execution
        if e is None:
            return row
        context = _dump(e.context)
        error = _dump(e.error)
        settled = _dump(e.settled)
        result = _dump(e.result) if e.has_result else row.result
        parked, signals, owner = row.parked_until, row.wake_signals, row.owner
        if e.park is not None:
            parked, signals, owner = e.park.until, e.park.signals, None
        elif e.unpark or e.finished:
            parked, signals = None, ()
        return replace(
            row,
            owner=owner,
            parked_until=parked,
            wake_signals=signals,
            status=row.status if e.status is None else str(e.status),
            context=row.context if context is None else context,
            result=result,
            error=row.error if error is None else error,
            settled=row.settled if settled is None else settled,
            started_at=now if e.started and row.started_at is None else row.started_at,
            finished_at=now if e.finished else row.finished_at,
            updated_at=now,
        )

    # -- reads ---------------------------------------------------------------------------

    def closing(self, within: float) -> None:
        """Nothing to give up on: memory always answers."""

    async def has_execution(self, execution_id: str) -> bool:
        return execution_id in self._executions

    async def get_execution_and_nodes(
        self, execution_id: str
    ) -> tuple[ExecutionRecord, dict[str, NodeRecord]]:
        return await self.get_execution(execution_id), await self.get_nodes(execution_id)

    async def get_nodes(self, execution_id: str) -> dict[str, NodeRecord]:
        attempts: dict[tuple[str, int], list[AttemptRecord]] = {}
        for (eid, node_id, item, number), a in sorted(self._attempts.items()):
            if eid == execution_id:
                attempts.setdefault((node_id, item), []).append(
                    AttemptRecord(
                        number=number,
                        status=AttemptStatus(a.status),
                        inputs=_load(a.inputs),
                        output=_load(a.output),
                        error=_load(a.error),
                        started_at=a.started_at,
                        finished_at=a.finished_at,
                        worker=a.worker,
                    )
                )
        return nest_items(
            NodeRecord(
                node_id=node_id,
                status=NodeStatus(n.status),
                attempts=attempts.get((node_id, item), []),
                ready_at=n.ready_at,
                error=_load(n.error),
                item=None if item < 0 else item,
            )
            for (eid, node_id, item), n in self._nodes.items()
            if eid == execution_id
        )

    async def get_events(self, execution_id: str, after: int = 0) -> list[EventRecord]:
        return [
            EventRecord(e.seq, e.execution_id, e.node_id, e.type, _load(e.data), e.at, e.item)
            for e in self._events
            if e.execution_id == execution_id and e.seq > after
        ]

    # -- signals -------------------------------------------------------------------------

    async def send_signal(self, execution_id: str, name: str, payload: Any) -> int:
        """Record a signal for an execution; a wait node consumes it (oldest first)."""
        if execution_id not in self._executions:
            raise StoreError(f"store write failed: no execution {execution_id}")
        signal_id = max(self._signals, default=0) + 1
        self._signals[signal_id] = _Signal(
            execution_id, name, _dump(payload) or "null", self.clock()
        )
        row = self._executions[execution_id]
        if row.parked_until is not None and name in row.wake_signals:
            row.parked_until = self.clock()  # parked for this signal: claimable now
        return signal_id

    async def next_signal(self, execution_id: str, name: str) -> tuple[int, Any] | None:
        """The oldest signal `name` no wait node has consumed yet."""
        for signal_id, s in sorted(self._signals.items()):
            if s.execution_id == execution_id and s.name == name and s.consumed_by is None:
                return signal_id, _load(s.payload)
        return None

    def _execution(self, row: _Execution) -> ExecutionRecord:
        return ExecutionRecord(
            id=row.id,
            workflow_name=row.workflow_name,
            workflow_version=row.workflow_version,
            workflow_hash=row.workflow_hash,
            status=ExecutionStatus(row.status),
            payload=_load(row.payload),
            context=_load(row.context),
            idempotency_key=row.idempotency_key,
            result=_load(row.result),
            error=_load(row.error),
            owner=row.owner,
            parked_until=row.parked_until,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            parent_id=row.parent_id,
            control=None if row.control is None else Control(row.control),
            settled=_load(row.settled),
            claim=row.claim,
            trace_id=row.trace[0],
            trace_parent=row.trace[1],
            trace_link=row.trace[2],
        )
