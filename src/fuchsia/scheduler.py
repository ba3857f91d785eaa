"""The scheduler: a pure function from node states to what happens next (no I/O, no clock).

Because it holds no state of its own, any process that loads an execution's node states from
the store can advance it, which is what makes resume after a crash ordinary work.

Readiness of a node with upstreams, by its `join` (s = succeeded upstreams, n = all upstreams,
open = upstreams that may still succeed):

| join          | ready when | skipped when         |
|---------------|------------|----------------------|
| (one upstream)| s == 1     | it settled otherwise |
| all           | all settled and s >= 1 | all settled and s == 0 |
| any           | s >= 1     | all settled and s == 0 |
| {at_least: k} | s >= k     | s + open < k          |

A failed upstream with `on_error: continue` counts as settled without success.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fuchsia.definition.lock import LockedNode, LockedWorkflow
from fuchsia.states import ACTIVE, ERRORED, SETTLED, ExecutionStatus, NodeStatus

__all__ = ["ACTIVE", "ERRORED", "SETTLED", "Step", "advance", "is_fatal", "outcome", "result"]


@dataclass
class Step:
    """What changed: nodes that may start now, and nodes that will never run."""

    ready: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def advance(
    workflow: LockedWorkflow,
    states: Mapping[str, NodeStatus],
    changed: Iterable[str] | None = None,
    skipped_edges: Collection[tuple[str, str]] = (),
) -> Step:
    """Decide the pending successors of `changed` (every node when None).

    Skips propagate: a node skipped here is treated as settled for its own successors within
    the same call, so one call returns the whole consequence of a change. `skipped_edges`
    holds (branch, successor) pairs a branch did not choose: for that successor the branch
    counts as skipped even though it succeeded. The cost is that of the nodes it visits,
    never of the whole graph (`states` is read, not copied).
    """
    view = _Verdicts(states)
    step = Step()
    frontier = deque(workflow.order if changed is None else _successors(workflow, changed))
    while frontier:
        node_id = frontier.popleft()
        if view.get(node_id, NodeStatus.PENDING) != NodeStatus.PENDING:
            continue
        verdict = _verdict(workflow.nodes[node_id], view, skipped_edges)
        if verdict == NodeStatus.READY:
            step.ready.append(node_id)
            view[node_id] = NodeStatus.READY
        elif verdict == NodeStatus.SKIPPED:
            step.skipped.append(node_id)
            view[node_id] = NodeStatus.SKIPPED
            frontier.extend(workflow.nodes[node_id].downstream)
    return step


class _Verdicts:
    """The states as one `advance` call sees them: its own verdicts over `states`, which
    it reads and never copies or changes."""

    __slots__ = ("mine", "states")

    def __init__(self, states: Mapping[str, NodeStatus]) -> None:
        self.mine: dict[str, NodeStatus] = {}
        self.states = states

    def get(self, key: str, default: NodeStatus) -> NodeStatus:
        status = self.mine.get(key)
        return status if status is not None else self.states.get(key, default)

    def __setitem__(self, key: str, status: NodeStatus) -> None:
        self.mine[key] = status


def _successors(workflow: LockedWorkflow, changed: Iterable[str]) -> list[str]:
    out: list[str] = []
    for node_id in changed:
        out.extend(workflow.nodes[node_id].downstream)
    return out


def _verdict(
    node: LockedNode,
    view: _Verdicts,
    skipped_edges: Collection[tuple[str, str]],
) -> NodeStatus | None:
    if node.hook is not None:
        return None  # runs after the graph settles, never because of it
    if not node.after:
        return NodeStatus.READY
    succeeded = settled = 0
    for up in node.after:
        status = view.get(up, NodeStatus.PENDING)
        if status == NodeStatus.SUCCEEDED and (up, node.id) in skipped_edges:
            status = NodeStatus.SKIPPED
        if status == NodeStatus.SUCCEEDED:
            succeeded += 1
            settled += 1
        elif status in SETTLED:
            settled += 1
    total = len(node.after)
    join = node.join
    if join is None or join == "all":
        if settled < total:
            return None
        return NodeStatus.READY if succeeded else NodeStatus.SKIPPED
    need = 1 if join == "any" else int(join)
    if succeeded >= need:
        return NodeStatus.READY
    if succeeded + (total - settled) < need:
        return NodeStatus.SKIPPED
    return None


def is_fatal(node: LockedNode, status: NodeStatus) -> bool:
    """A node failure that fails the whole execution (fail fast). An outcome hook's never
    does: hooks run after the verdict and do not change it."""
    return status in ERRORED and node.on_error == "fail" and node.hook is None


def outcome(
    workflow: LockedWorkflow,
    states: Mapping[str, NodeStatus],
    failed_items: Collection[str] = (),
) -> ExecutionStatus:
    """The final status of an execution whose nodes have all settled. `failed_items` names
    the foreach nodes that succeeded with some items failed (`on_error: continue`)."""
    errored = [n for n in workflow.order if states.get(n) in ERRORED and not workflow.nodes[n].hook]
    if any(workflow.nodes[n].on_error == "fail" for n in errored):
        return ExecutionStatus.FAILED
    if errored or failed_items:
        return ExecutionStatus.COMPLETED_WITH_ERRORS
    return ExecutionStatus.COMPLETED


def result(
    workflow: LockedWorkflow, states: Mapping[str, NodeStatus], outputs: Mapping[str, Any]
) -> Any:
    """The execution's result: the one terminal node's output, or a map by terminal node id."""
    if len(workflow.terminals) == 1:
        return outputs.get(workflow.terminals[0])
    return {n: outputs.get(n) for n in workflow.terminals if states.get(n) == NodeStatus.SUCCEEDED}
