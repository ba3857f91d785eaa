"""What the Python API, the CLI's `--json` and the HTTP API show of an execution.

Every view has `to_json` (the API's JSON, what `--json` prints) and `from_json` (the view
that JSON describes), so `fuchsia.AsyncClient` returns the same types as the `Engine`, and
`from_json(x.to_json()) == x` (views keep timestamps to the millisecond their JSON carries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fuchsia.observe.ids import TraceRef
from fuchsia.states import AttemptStatus, ExecutionStatus, NodeStatus
from fuchsia.store.records import (
    ArtifactRef,
    Deployment,
    ExecutionRecord,
    NodeRecord,
    OwnerRecord,
    from_iso,
    iso,
    to_ms,
)

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow

__all__ = ["iso"]


def artifact_view(ref: ArtifactRef) -> dict[str, Any]:
    return ref.to_json()


def deployment_view(deployment: Deployment) -> dict[str, Any]:
    """A deployed version as the CLI's `--json` and the HTTP API show it."""
    return deployment.to_json()


def _ref(data: Any) -> ArtifactRef | None:
    return None if data is None else ArtifactRef.from_json(data)


def _ref_json(ref: ArtifactRef | None) -> dict[str, Any] | None:
    return None if ref is None else ref.to_json()


def _when(data: dict[str, Any], key: str) -> float | None:
    return from_iso(data.get(key))


@dataclass(frozen=True)
class Attempt:
    number: int
    status: AttemptStatus
    started_at: float
    finished_at: float | None
    error: dict[str, Any] | None
    inputs: Any
    output: Any
    # set (and `inputs` / `output` None) when the value was above the store's inline limit
    inputs_artifact: ArtifactRef | None = None
    output_artifact: ArtifactRef | None = None
    worker: str | None = None  # the name of the engine (worker) that ran it

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "worker": self.worker,
            "status": self.status,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
            "inputs": self.inputs,
            "output": self.output,
            "inputs_artifact": _ref_json(self.inputs_artifact),
            "output_artifact": _ref_json(self.output_artifact),
        }

    to_dict = to_json

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attempt:
        return cls(
            number=int(data["number"]),
            status=AttemptStatus(data["status"]),
            started_at=_when(data, "started_at") or 0.0,
            finished_at=_when(data, "finished_at"),
            error=data.get("error"),
            inputs=data.get("inputs"),
            output=data.get("output"),
            inputs_artifact=_ref(data.get("inputs_artifact")),
            output_artifact=_ref(data.get("output_artifact")),
            worker=data.get("worker"),
        )


@dataclass(frozen=True)
class ItemCounts:
    """A foreach node's items at a glance: how many it has (0 until they are rendered) and
    how many are in each state (`pending`: not started yet). Counts, not the items: a
    foreach may have thousands, each with attempts of its own."""

    total: int
    statuses: dict[NodeStatus, int]

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "statuses": {str(k): v for k, v in self.statuses.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemCounts:
        statuses = {NodeStatus(k): int(v) for k, v in data["statuses"].items()}
        return cls(total=int(data["total"]), statuses=statuses)

    @classmethod
    def of(cls, node: NodeRecord | None) -> ItemCounts:
        """The summary of a foreach node's stored record (None: it never started)."""
        if node is None:
            return cls(0, {})
        rendered: list[Any] = next(
            (
                a.inputs["items"]
                for a in reversed(node.attempts)
                if isinstance(a.inputs, dict) and isinstance(a.inputs.get("items"), list)
            ),
            [],
        )
        total = max(len(rendered), len(node.items))
        counts: dict[NodeStatus, int] = {}
        for item in node.items.values():
            counts[item.status] = counts.get(item.status, 0) + 1
        if total > len(node.items):
            counts[NodeStatus.PENDING] = counts.get(NodeStatus.PENDING, 0) + total - len(node.items)
        return cls(total, dict(sorted(counts.items())))


@dataclass(frozen=True)
class NodeRun:
    id: str
    status: NodeStatus
    attempts: list[Attempt]
    output: Any
    error: dict[str, Any] | None
    output_artifact: ArtifactRef | None = None  # set when the output was stored as an artifact
    items: ItemCounts | None = None  # a foreach node's

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "attempts": [a.to_json() for a in self.attempts],
            "output": self.output,
            "output_artifact": _ref_json(self.output_artifact),
            "error": self.error,
            "items": None if self.items is None else self.items.to_json(),
        }

    to_dict = to_json

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeRun:
        return cls(
            id=str(data["id"]),
            status=NodeStatus(data["status"]),
            attempts=[Attempt.from_json(a) for a in data["attempts"]],
            output=data.get("output"),
            error=data.get("error"),
            output_artifact=_ref(data.get("output_artifact")),
            items=None if data.get("items") is None else ItemCounts.from_json(data["items"]),
        )


@dataclass(frozen=True)
class Execution:
    """One execution with its node runs, as stored."""

    id: str
    workflow: str
    version: int
    workflow_hash: str
    status: ExecutionStatus
    payload: Any
    result: Any
    error: dict[str, Any] | None
    idempotency_key: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    nodes: list[NodeRun]
    parent_id: str | None = None  # the execution whose `workflow` node started this one
    # set (and `result` None) when the result was above the store's inline limit; the
    # engine's `result()` loads it
    result_artifact: ArtifactRef | None = None
    # the OpenTelemetry trace its spans are in (32 hex digits; a sub-workflow's is its
    # parent's): find it in a tracing backend by this id
    trace_id: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def node(self, node_id: str) -> NodeRun:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "version": self.version,
            "workflow_hash": self.workflow_hash,
            "status": self.status,
            "payload": self.payload,
            "result": self.result,
            **(
                {"result_artifact": artifact_view(self.result_artifact)}
                if self.result_artifact is not None
                else {}
            ),
            "error": self.error,
            "idempotency_key": self.idempotency_key,
            "parent_id": self.parent_id,
            "trace_id": self.trace_id,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "nodes": [n.to_json() for n in self.nodes],
        }

    to_dict = to_json

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Execution:
        """The execution `to_json` (the API's `GET /executions/ID`) describes."""
        return cls(
            id=str(data["id"]),
            workflow=str(data["workflow"]),
            version=int(data["version"]),
            workflow_hash=str(data["workflow_hash"]),
            status=ExecutionStatus(data["status"]),
            payload=data.get("payload"),
            result=data.get("result"),
            error=data.get("error"),
            idempotency_key=data.get("idempotency_key"),
            created_at=_when(data, "created_at") or 0.0,
            started_at=_when(data, "started_at"),
            finished_at=_when(data, "finished_at"),
            nodes=[NodeRun.from_json(n) for n in data["nodes"]],
            parent_id=data.get("parent_id"),
            result_artifact=_ref(data.get("result_artifact")),
            trace_id=data.get("trace_id"),
        )


@dataclass(frozen=True)
class ExecutionSummary:
    """One execution without its nodes: what `runs list` shows."""

    id: str
    workflow: str
    version: int
    status: ExecutionStatus
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: dict[str, Any] | None
    parent_id: str | None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @classmethod
    def of(cls, record: ExecutionRecord) -> ExecutionSummary:
        return cls(
            id=record.id,
            workflow=record.workflow_name,
            version=record.workflow_version,
            status=record.status,
            created_at=to_ms(record.created_at) or 0.0,
            started_at=to_ms(record.started_at),
            finished_at=to_ms(record.finished_at),
            error=record.error,
            parent_id=record.parent_id,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "version": self.version,
            "status": self.status,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
            "parent_id": self.parent_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExecutionSummary:
        return cls(
            id=str(data["id"]),
            workflow=str(data["workflow"]),
            version=int(data["version"]),
            status=ExecutionStatus(data["status"]),
            created_at=_when(data, "created_at") or 0.0,
            started_at=_when(data, "started_at"),
            finished_at=_when(data, "finished_at"),
            error=data.get("error"),
            parent_id=data.get("parent_id"),
        )


def summary(record: ExecutionRecord) -> dict[str, Any]:
    """The short form `runs list --json` prints."""
    return ExecutionSummary.of(record).to_json()


@dataclass(frozen=True)
class DeployedWorkflow:
    """A deployed version with its locked workflow: what `workflows show` shows."""

    deployment: Deployment
    workflow: LockedWorkflow

    def to_json(self) -> dict[str, Any]:
        return {**self.deployment.to_json(), "workflow": self.workflow.document}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeployedWorkflow:
        from fuchsia.definition.lock import LockedWorkflow, canonical_json

        return cls(
            Deployment.from_json(data),
            LockedWorkflow.from_json(canonical_json(data["workflow"])),
        )


def spilled(record: ExecutionRecord, nodes: dict[str, NodeRecord]) -> bool:
    """Whether any value of the execution was stored as an artifact (its view needs them)."""
    return record.result_artifact is not None or any(
        a.inputs_artifact is not None or a.output_artifact is not None
        for n in nodes.values()
        for a in n.attempts  # a foreach item's values are not in the view
    )


def execution_view(
    record: ExecutionRecord,
    nodes: dict[str, NodeRecord],
    workflow: LockedWorkflow,
    artifacts: dict[str, ArtifactRef] | None = None,
) -> Execution:
    """Node runs in the workflow's own order, including nodes that never started.
    `artifacts` (by id) names the artifacts of values stored above the inline limit."""
    known = artifacts or {}

    def ref(artifact_id: str | None) -> ArtifactRef | None:
        return None if artifact_id is None else known.get(artifact_id)

    runs = []
    for node_id in workflow.order:
        stored = nodes.get(node_id)
        attempts = [
            Attempt(
                a.number,
                a.status,
                to_ms(a.started_at) or 0.0,
                to_ms(a.finished_at),
                a.error,
                a.inputs,
                a.output,
                ref(a.inputs_artifact),
                ref(a.output_artifact),
                a.worker,
            )
            for a in (stored.attempts if stored else [])
        ]
        runs.append(
            NodeRun(
                id=node_id,
                status=stored.status if stored else NodeStatus.PENDING,
                attempts=attempts,
                output=stored.output if stored else None,
                error=stored.error if stored else None,
                output_artifact=ref(stored.output_artifact) if stored else None,
                items=None if workflow.nodes[node_id].foreach is None else ItemCounts.of(stored),
            )
        )
    return Execution(
        id=record.id,
        workflow=record.workflow_name,
        version=record.workflow_version,
        workflow_hash=record.workflow_hash,
        status=record.status,
        payload=record.payload,
        result=record.result,
        error=record.error,
        idempotency_key=record.idempotency_key,
        created_at=to_ms(record.created_at) or 0.0,
        started_at=to_ms(record.started_at),
        finished_at=to_ms(record.finished_at),
        nodes=runs,
        parent_id=record.parent_id,
        result_artifact=ref(record.result_artifact),
        trace_id=TraceRef.stored(record).trace_id,
    )


@dataclass(frozen=True)
class Worker:
    """An engine registered in the store (`fuchsia workers list`, `GET /api/v1/workers`):
    a `fuchsia worker`, a `fuchsia serve`, a `fuchsia run`. `slots`: how many executions it
    takes from the store at once (0: it drives only what it starts); `executions`: how many it
    drives now; `running`: its attempts running now; `alive`: its lease had not passed when
    this was read."""

    name: str
    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    lease_expires_at: float | None
    slots: int
    executions: int
    running: int
    draining: bool
    alive: bool

    @classmethod
    def of(cls, owner: OwnerRecord) -> Worker:
        return cls(
            name=owner.name or owner.id,
            id=owner.id,
            host=owner.host,
            pid=owner.pid,
            started_at=owner.started_at,
            heartbeat_at=owner.heartbeat_at,
            lease_expires_at=owner.lease_expires_at,
            slots=owner.slots,
            executions=owner.executions,
            running=owner.running,
            draining=owner.draining,
            alive=owner.alive,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "started_at": iso(self.started_at),
            "heartbeat_at": iso(self.heartbeat_at),
            "lease_expires_at": iso(self.lease_expires_at),
            "slots": self.slots,
            "executions": self.executions,
            "running": self.running,
            "draining": self.draining,
            "alive": self.alive,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Worker:
        return cls(
            name=str(data["name"]),
            id=str(data["id"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            started_at=_when(data, "started_at") or 0.0,
            heartbeat_at=_when(data, "heartbeat_at") or 0.0,
            lease_expires_at=_when(data, "lease_expires_at"),
            slots=int(data["slots"]),
            executions=int(data["executions"]),
            running=int(data["running"]),
            draining=bool(data["draining"]),
            alive=bool(data["alive"]),
        )
