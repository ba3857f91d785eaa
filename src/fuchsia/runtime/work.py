"""A finished attempt as the runner reports it, and the keys of foreach items.

A foreach item is a unit of its own with its own node-run and attempt rows, keyed
`node[index]`; node ids never contain brackets, so the key splits back unambiguously.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fuchsia.errors import NodeError
from fuchsia.nodes import Park
from fuchsia.runtime.effects import SideEffects
from fuchsia.states import AttemptStatus
from fuchsia.store.records import AttemptRecord, AttemptWrite, Transition


@dataclass
class Outcome:
    node_id: str
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
        o.node_id,
        o.attempt,
        status,
        inputs=inputs,
        output=o.output if status == AttemptStatus.SUCCEEDED else None,
        started_at=o.started_at,
        finished_at=now,
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


def unit_key(node_id: str, index: int) -> str:
    """The key of one foreach item: its own node-run and attempt rows, `node[index]`."""
    return f"{node_id}[{index}]"


def split_key(key: str) -> tuple[str, int | None]:
    """`node[3]` -> ("node", 3); a node id (never holding brackets) -> (id, None)."""
    if key.endswith("]") and "[" in key:
        base, _, index = key[:-1].partition("[")
        return base, int(index)
    return key, None
