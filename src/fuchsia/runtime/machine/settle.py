"""A finished attempt: success, another iteration of a `repeat`, a retry, or a failure."""

from __future__ import annotations

from typing import Any

from fuchsia.definition.lock import LockedNode
from fuchsia.errors import InputError, LoopExhausted, NodeError, NodeTimeout
from fuchsia.expressions import ExpressionError, evaluate
from fuchsia.nodes.kind import KINDS
from fuchsia.runtime.machine.decisions import Decision
from fuchsia.runtime.machine.env import Env
from fuchsia.runtime.machine.state import Overlay, State
from fuchsia.runtime.views import iso
from fuchsia.runtime.work import Outcome, attempt_row, keep_effects, split_key
from fuchsia.states import AttemptStatus, NodeStatus
from fuchsia.store.records import Event, ExecutionUpdate, NodeWrite


def settle(o: Overlay, d: Decision, outcome: Outcome, env: Env) -> bool:
    """Record a finished attempt (of a node or a foreach item); True when its unit settled
    (no retry or further iteration follows)."""
    base, index = split_key(outcome.node_id)
    node = o.workflow.nodes[base]
    t = d.commit
    now = env.now
    error = outcome.error
    t.events.extend(
        Event("log", outcome.node_id, {**line, "attempt": outcome.attempt}) for line in outcome.logs
    )
    if error is None and node.repeat is not None and index is None:
        iterated = _iterate(o, d, node, outcome, env)
        if isinstance(iterated, bool):
            return iterated
        error = iterated
    key = outcome.node_id
    if error is None and outcome.context:
        error = _context_over_cap(o, outcome, env)
    if error is None:
        o.discard("failures", key)
        o.statuses[key] = NodeStatus.SUCCEEDED
        o.outputs[key] = outcome.output
        note_branch(o, key, outcome.output)
        t.consumed.extend((signal_id, key) for signal_id in outcome.consumed)
        if outcome.context:
            o.context = {**o.context, **outcome.context}
            t.execution = ExecutionUpdate(context=o.context)
        t.nodes.append(NodeWrite(key, NodeStatus.SUCCEEDED, outcome.attempt))
        t.attempts.append(attempt_row(outcome, AttemptStatus.SUCCEEDED, outcome.inputs, now))
        keep_effects(t, outcome)
        t.events.append(Event("node_succeeded", key, {"attempt": outcome.attempt}))
        return True
    record = {**error.to_record(), "node": key, "attempt": outcome.attempt}
    timed_out = isinstance(error, NodeTimeout)
    status = NodeStatus.TIMED_OUT if timed_out else NodeStatus.FAILED
    row = attempt_row(
        outcome, AttemptStatus.TIMED_OUT if timed_out else AttemptStatus.FAILED, outcome.inputs, now
    )
    row.error = record
    t.attempts.append(row)
    failures = o.failures.get(key, 0) + 1
    o.failures[key] = failures
    if error.retryable and failures < node.retry.max_attempts:
        when = now + node.retry.delay(failures, env.jitter)
        o.statuses[key] = NodeStatus.RETRYING
        o.retry_at[key] = when
        t.nodes.append(
            NodeWrite(key, NodeStatus.RETRYING, outcome.attempt, ready_at=when, error=record)
        )
        t.events.append(Event("node_retrying", key, {**record, "retry_at": iso(when)}))
        d.timers[key] = when
        return False
    o.statuses[key] = status
    if index is not None:
        o.unit_errors[key] = record
    t.nodes.append(NodeWrite(key, status, outcome.attempt, error=record))
    t.events.append(Event(f"node_{status}", key, record))
    if o.first_error is None and node.on_error == "fail" and index is None and not node.hook:
        o.first_error = record
    return True


def _context_over_cap(o: Overlay, outcome: Outcome, env: Env) -> NodeError | None:
    """The error of a context write that would take the execution's context over the output
    cap, checked against the context as this decision has it: attempts that finish together
    each see the others' writes (the runner checked only against the context it ran on)."""
    try:
        env.limits.check({**o.context, **(outcome.context or {})}, "the execution's context")
    except NodeError as exc:
        return exc
    return None


def _iterate(
    o: Overlay, d: Decision, node: LockedNode, outcome: Outcome, env: Env
) -> bool | NodeError | None:
    """One iteration of a `repeat` finished: None when `until` holds (the node succeeds with
    this output), False when another iteration follows `delay` later, True when the loop is
    exhausted (the node fails). A condition that cannot be evaluated is the error the
    ordinary failure path records."""
    assert node.repeat is not None
    iteration = o.iterations.get(node.id, 0) + 1
    variables = {
        "data": outcome.output,
        "context": o.context,
        "execution": {"id": o.id, "workflow": o.workflow.name},
    }
    try:
        done = evaluate(node.repeat["until"], variables)
    except ExpressionError as exc:
        return InputError(f"repeat.until: {exc}")
    if done:
        return None
    t = d.commit
    o.iterations[node.id] = iteration
    o.previous[node.id] = outcome.output
    o.failures.pop(node.id, None)
    t.attempts.append(attempt_row(outcome, AttemptStatus.SUCCEEDED, outcome.inputs, env.now))
    keep_effects(t, outcome)
    t.events.append(Event("node_iterated", node.id, {"iteration": iteration}))
    if iteration >= int(node.repeat["max_iterations"]):
        error = {
            **LoopExhausted(f"`until` did not hold after {iteration} iterations").to_record(),
            "node": node.id,
            "attempt": outcome.attempt,
        }
        o.statuses[node.id] = NodeStatus.FAILED
        t.nodes.append(NodeWrite(node.id, NodeStatus.FAILED, outcome.attempt, error=error))
        t.events.append(Event("node_failed", node.id, error))
        if o.first_error is None and node.on_error == "fail" and not node.hook:
            o.first_error = error
        return True
    when = env.now + float(node.repeat.get("delay") or 0.0)
    o.statuses[node.id] = NodeStatus.RETRYING
    o.retry_at[node.id] = when
    t.nodes.append(NodeWrite(node.id, NodeStatus.RETRYING, outcome.attempt, ready_at=when))
    d.timers[node.id] = when
    return False


def note_branch(o: Overlay | State, key: str, output: Any) -> None:
    """Remember which successors a finished branch did not choose."""
    node = o.workflow.nodes.get(key)
    if node is None:
        return
    for target in KINDS[node.kind].skips(node.spec, output):
        o.skipped_edges[(key, target)] = True
