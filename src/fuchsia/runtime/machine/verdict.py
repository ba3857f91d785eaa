"""How an execution ends: its activity status, the verdict, outcome hooks, finish, abort."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fuchsia import scheduler
from fuchsia.errors import NodeError
from fuchsia.nodes.kind import KINDS, Placement
from fuchsia.runtime.machine.decisions import Decision
from fuchsia.runtime.machine.env import Env
from fuchsia.runtime.machine.state import Overlay, State, Verdict
from fuchsia.runtime.machine.units import event, start, write
from fuchsia.states import ERRORED, OPEN_STATUSES, AttemptStatus, ExecutionStatus, NodeStatus
from fuchsia.store.records import AttemptWrite, Event, ExecutionUpdate, UnitKey


def running(d: Decision, env: Env) -> Collection[UnitKey]:
    """The units whose attempts run in the shell (none once this decision stops them)."""
    return () if d.cancel_running else env.running


def note_activity(o: Overlay, d: Decision, env: Env, starting: Collection[UnitKey]) -> None:
    """`waiting` while only wait nodes and retry timers are open, else `running`. What runs
    is the attempts in flight and those about to start (not a scan of every node: this is
    on the per-node path)."""
    nodes = o.workflow.nodes
    # a foreach about to expand runs what its kind runs (its items are not launched yet)
    bases = [k.node for k in (*running(d, env), *starting)] + d.expand
    only_waits = not o.filled("held") and all(
        KINDS[nodes[n].kind].placement is Placement.PARKED for n in bases
    )
    status = ExecutionStatus.WAITING if only_waits else ExecutionStatus.RUNNING
    status = ExecutionStatus.PAUSED if o.paused else status
    if status != o.status and o.status in OPEN_STATUSES:
        o.status = status
        t = d.commit
        if t.execution is None:
            t.execution = ExecutionUpdate(status=status)
        else:
            t.execution.status = status
        t.events.append(Event(f"execution_{status}"))


def verdict(o: Overlay | State) -> tuple[ExecutionStatus, dict[str, Any] | None, Any]:
    """(status, error, result) of a settled graph; the stored verdict once hooks started."""
    wf = o.workflow
    statuses, outputs = o.nodes(o.statuses), o.nodes(o.outputs)
    if o.verdict is not None:
        result = None if o.verdict.aborted else scheduler.result(wf, statuses, outputs)
        return o.verdict.status, o.verdict.error, result
    items = _nodes_with_failed_items(o)
    status = scheduler.outcome(wf, statuses, items)
    error = None
    if status != ExecutionStatus.COMPLETED:
        failed = [n for n in wf.order if statuses.get(n) in ERRORED]
        failed += [n for n in items if n not in failed]
        error = (
            o.first_error
            if status == ExecutionStatus.FAILED
            else {
                "type": "node_errors",
                "message": f"{len(failed)} node(s) failed with on_error: continue",
                "nodes": failed,
            }
        )
    return status, error, scheduler.result(wf, statuses, outputs)


def _nodes_with_failed_items(o: Overlay | State) -> list[str]:
    """Foreach nodes that succeeded although some of their items failed."""
    nodes: list[str] = []
    for key in o.unit_errors:
        base = key.node
        if base not in nodes and o.statuses.get(o.keys[base]) == NodeStatus.SUCCEEDED:
            nodes.append(base)
    return nodes


def start_hooks(
    o: Overlay,
    d: Decision,
    status: ExecutionStatus,
    error: dict[str, Any] | None,
    env: Env,
    aborted: bool = False,
) -> list[UnitKey]:
    """Start the on_success / on_failure nodes due for the verdict (the stored one once hooks
    started: after a restart, the hooks it interrupted start again); their keys."""
    settling = o.verdict is None
    if o.verdict is not None:
        status, error = o.verdict.status, o.verdict.error
    if status in (ExecutionStatus.COMPLETED, ExecutionStatus.COMPLETED_WITH_ERRORS):
        wanted = {"success", "always"}
    elif status in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT):
        wanted = {"failure", "always"}
    else:
        wanted = set()
    wf = o.workflow
    keys = o.keys
    hooks = [
        keys[n]
        for n in wf.order
        if wf.nodes[n].hook in wanted
        and o.statuses.get(keys[n], NodeStatus.PENDING) == NodeStatus.PENDING
    ]
    if not hooks:
        return []
    t = d.commit
    if settling:
        o.verdict = Verdict(status, error, aborted)
        if t.execution is None:
            t.execution = ExecutionUpdate(settled=o.verdict.to_record())
        else:
            t.execution.settled = o.verdict.to_record()
        names = [key.node for key in hooks]
        t.events.append(Event("execution_settled", data={"status": status, "hooks": names}))
    for key in hooks:
        start(o, d, key, env.now)
    return hooks


def finish(o: Overlay, d: Decision, env: Env) -> ExecutionStatus:
    status, error, result = verdict(o)
    try:
        env.limits.check(result, "the execution's result")
    except NodeError as exc:  # each output was within the cap; together they are not
        status, error, result = ExecutionStatus.FAILED, exc.to_record(), None
    t = d.commit
    for node_id in o.workflow.order:
        key = o.keys[node_id]
        if o.statuses.get(key, NodeStatus.PENDING) == NodeStatus.PENDING:
            # hooks that were not due, or nodes a settled graph never reached
            o.statuses[key] = NodeStatus.SKIPPED
            write(d, key, NodeStatus.SKIPPED, 0)
    t.execution = ExecutionUpdate(
        status=status,
        result=result,
        has_result=True,
        error=error,
        finished=True,
        context=o.context,
    )
    t.events.append(Event(f"execution_{status}", data=error))
    o.status = status
    d.final = status
    return status


def abort(
    o: Overlay, d: Decision, status: ExecutionStatus, error: dict[str, Any] | None, env: Env
) -> ExecutionStatus | None:
    """Stop every running attempt and close the execution with `status` (fail fast, cancel,
    timeout); outcome hooks due for it run first (None: they were started)."""
    d.cancel_running = True
    d.timers.clear()
    d.launch.clear()
    d.expand.clear()
    d.requeue.clear()
    for key in list(o.retry_at):
        o.retry_at.pop(key)
    for node_id in list(o.fanouts):
        o.fanouts.pop(node_id)
    for key in list(o.held):  # held by a pause: nothing starts them any more
        o.held.pop(key)
    timed_out = status == ExecutionStatus.TIMED_OUT
    node_end = NodeStatus.TIMED_OUT if timed_out else NodeStatus.CANCELLED
    attempt_end = AttemptStatus.TIMED_OUT if timed_out else AttemptStatus.CANCELLED
    wf = o.workflow
    keys = o.keys
    units = [k for k in o.statuses if k.item is not None]
    hooks_due = status != ExecutionStatus.CANCELLED and o.verdict is None
    t = d.commit
    for key in [*(keys[n] for n in wf.order), *units]:
        if hooks_due and key.item is None and wf.nodes[key.node].hook:
            continue  # decided below: it may run now
        state = o.statuses.get(key, NodeStatus.PENDING)
        if state in (NodeStatus.RUNNING, NodeStatus.RETRYING, NodeStatus.PENDING):
            was_running = state == NodeStatus.RUNNING
            o.statuses[key] = node_end if was_running else NodeStatus.CANCELLED
            number = o.numbers.get(key, 0)
            write(d, key, o.statuses[key], number)
            if was_running:
                t.attempts.append(
                    AttemptWrite(key.node, number, attempt_end, finished_at=env.now, item=key.item)
                )
            event(d, f"node_{o.statuses[key]}", key)
    hooks = start_hooks(o, d, status, error, env, aborted=True) if hooks_due else []
    if hooks:
        note_activity(o, d, env, hooks)
        d.launch = hooks
        return None
    if hooks_due:  # no hook was due: the rest of them will never run
        for node_id in wf.order:
            key = keys[node_id]
            pending = o.statuses.get(key, NodeStatus.PENDING) == NodeStatus.PENDING
            if wf.nodes[node_id].hook and pending:
                o.statuses[key] = NodeStatus.CANCELLED
                write(d, key, NodeStatus.CANCELLED, 0)
    t.execution = ExecutionUpdate(
        status=status, error=error, finished=True, has_result=True, result=None, context=o.context
    )
    t.events.append(Event(f"execution_{status}", data=error))
    o.status = status
    d.final = status
    d.cancel_children = any(KINDS[n.kind].children for n in wf.nodes.values())
    return status
