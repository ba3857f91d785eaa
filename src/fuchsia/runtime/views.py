"""What the Python API, the CLI's `--json` and (later) the HTTP API show of an execution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fuchsia.store.records import ArtifactRef, Deployment, ExecutionRecord, NodeRecord

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def artifact_view(ref: ArtifactRef) -> dict[str, Any]:
    return {
        "id": ref.id,
        "name": ref.name,
        "content_type": ref.content_type,
        "size": ref.size,
        "hash": ref.hash,
    }


def deployment_view(deployment: Deployment) -> dict[str, Any]:
    """A deployed version as the CLI's `--json` and the HTTP API show it."""
    return {
        "name": deployment.name,
        "version": deployment.version,
        "hash": deployment.hash,
        "active": deployment.active,
        "pinned": deployment.pinned,
        "deployed_at": iso(deployment.deployed_at),
    }


@dataclass(frozen=True)
class Attempt:
    number: int
    status: str
    started_at: float
    finished_at: float | None
    error: dict[str, Any] | None
    inputs: Any
    output: Any
    # set (and `inputs` / `output` None) when the value was above the store's inline limit
    inputs_artifact: ArtifactRef | None = None
    output_artifact: ArtifactRef | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
        }


@dataclass(frozen=True)
class NodeRun:
    id: str
    status: str
    attempts: list[Attempt]
    output: Any
    error: dict[str, Any] | None
    output_artifact: ArtifactRef | None = None  # set when the output was stored as an artifact

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "attempts": [a.to_dict() for a in self.attempts],
        }
        if self.status == "succeeded":
            shown["output"] = self.output
            if self.output_artifact is not None:
                shown["output_artifact"] = artifact_view(self.output_artifact)
        return shown


@dataclass(frozen=True)
class Execution:
    """One execution with its node runs, as stored."""

    id: str
    workflow: str
    version: int
    workflow_hash: str
    status: str
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "version": self.version,
            "status": self.status,
            "result": self.result,
            **(
                {"result_artifact": artifact_view(self.result_artifact)}
                if self.result_artifact is not None
                else {}
            ),
            "error": self.error,
            "idempotency_key": self.idempotency_key,
            "parent_id": self.parent_id,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "nodes": [n.to_dict() for n in self.nodes],
        }


def summary(record: ExecutionRecord) -> dict[str, Any]:
    """The short form `runs list --json` prints."""
    return {
        "id": record.id,
        "workflow": record.workflow_name,
        "version": record.workflow_version,
        "status": record.status,
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "error": record.error,
        "parent_id": record.parent_id,
    }


def spilled(record: ExecutionRecord, nodes: dict[str, NodeRecord]) -> bool:
    """Whether any value of the execution was stored as an artifact (its view needs them)."""
    return record.result_artifact is not None or any(
        a.inputs_artifact is not None or a.output_artifact is not None
        for n in nodes.values()
        for a in n.attempts
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
                a.started_at,
                a.finished_at,
                a.error,
                a.inputs,
                a.output,
                ref(a.inputs_artifact),
                ref(a.output_artifact),
            )
            for a in (stored.attempts if stored else [])
        ]
        runs.append(
            NodeRun(
                id=node_id,
                status=stored.status if stored else "pending",
                attempts=attempts,
                output=stored.output if stored else None,
                error=stored.error if stored else None,
                output_artifact=ref(stored.output_artifact) if stored else None,
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
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        nodes=runs,
        parent_id=record.parent_id,
        result_artifact=ref(record.result_artifact),
    )
