"""A finished attempt as the runner reports it.

It is of a unit (`UnitKey`): a node, or one item of a foreach, which has its own node-run
and attempt rows (their `item` column).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fuchsia.errors import NodeError, error_classes
from fuchsia.nodes import Park
from fuchsia.runtime.effects import SideEffects
from fuchsia.states import AttemptStatus
from fuchsia.store.records import (
    ArtifactRef,
    AttemptRecord,
    AttemptWrite,
    PendingArtifact,
    Transition,
    UnitKey,
)


@dataclass
class Outcome:
    unit: UnitKey
    attempt: int
    started_at: float
    inputs: Any = None
    output: Any = None
    context: dict[str, Any] | None = None
    error: NodeError | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    consumed: list[int] = field(default_factory=list)
    effects: SideEffects | None = None  # committed with the attempt's success, if it succeeds
    park: Park | None = None  # a wait that parked: still running, its execution handed back


def to_json(o: Outcome) -> dict[str, Any]:
    """A finished attempt as a shared attempt's worker stores it for the owner (masked and
    held to the caps already: `attempts.measure`)."""
    data: dict[str, Any] = {
        "started_at": o.started_at,
        "inputs": o.inputs,
        "output": o.output,
        "context": o.context,
        "logs": list(o.logs),
        "consumed": o.consumed,
    }
    if o.error is not None:
        data["error"] = o.error.details()
    if o.effects is not None:
        data["kv"] = {"scope": o.effects.kv.scope, "changes": o.effects.kv.changes}
        data["artifacts"] = [
            {**a.ref.to_json(), "execution_id": a.execution_id, "node_id": a.node_id,
             "created_at": a.created_at}
            for a in o.effects.artifacts
        ]  # fmt: skip
    return data


def from_json(unit: UnitKey, attempt: int, data: dict[str, Any]) -> Outcome:
    """The `Outcome` a shared attempt's worker stored (`to_json`)."""
    o = Outcome(unit, attempt, float(data["started_at"]), data.get("inputs"), data.get("output"))
    o.context = data.get("context")
    o.logs = list(data.get("logs") or [])
    o.consumed = list(data.get("consumed") or [])
    error = data.get("error")
    if error is not None:
        o.error = _error(error)
    kv = data.get("kv")
    if kv is not None:
        o.effects = SideEffects(kv["scope"], cap=0)
        o.effects.kv.changes.update(kv["changes"])
        for a in data.get("artifacts") or []:
            ref = ArtifactRef(a["id"], a["hash"], a["name"], a["content_type"], a["size"])
            o.effects.artifacts.append(
                PendingArtifact(a["execution_id"], a["node_id"], ref, a["created_at"])
            )
    return o


def _error(details: dict[str, Any]) -> NodeError:
    """A node error as `NodeError.details` described it: its own class where this process
    knows it, else a `NodeError` carrying its code."""
    fields = dict(details)
    code, message = str(fields.pop("code", NodeError.code)), str(fields.pop("message", ""))
    cls = error_classes().get(code)
    if cls is None or not issubclass(cls, NodeError):
        error = NodeError.restore(message, fields)
        error.__dict__["code"] = code  # shown and stored as the class it came from
        return error
    return cls.restore(message, fields)


def attempt_row(o: Outcome, status: AttemptStatus, inputs: Any, now: float) -> AttemptWrite:
    """The finished attempt's row (the output is kept only for a success)."""
    return AttemptWrite(
        o.unit.node,
        o.attempt,
        status,
        inputs=inputs,
        output=o.output if status == AttemptStatus.SUCCEEDED else None,
        started_at=o.started_at,
        finished_at=now,
        item=o.unit.item,
    )


def keep_effects(t: Transition, o: Outcome) -> None:
    """Commit the kv writes and artifacts of a succeeded attempt with `t`, its success."""
    if o.effects is None:
        return
    if o.effects.kv.changes:
        t.kv.append(o.effects.kv)
    t.artifacts.extend(o.effects.artifacts)


def trailing_failures(attempts: list[AttemptRecord]) -> int:
    count = 0
    for attempt in reversed(attempts):
        if attempt.status in (AttemptStatus.FAILED, AttemptStatus.TIMED_OUT):
            count += 1
        elif attempt.status != AttemptStatus.INTERRUPTED:
            break
    return count
