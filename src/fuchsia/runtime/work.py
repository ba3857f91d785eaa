"""A finished attempt as the runner reports it.

It is of a unit (`UnitKey`): a node, or one item of a foreach, which has its own node-run
and attempt rows (their `item` column).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fuchsia.errors import NodeError
from fuchsia.nodes import Park
from fuchsia.runtime.effects import SideEffects
from fuchsia.states import AttemptStatus
from fuchsia.store.records import AttemptRecord, AttemptWrite, Transition, UnitKey


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
