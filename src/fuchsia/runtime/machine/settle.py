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
from fuchsia.runtime.machine.units import event, write
from fuchsia.runtime.views import iso
from fuchsia.runtime.work import Outcome, attempt_row, keep_effects
from fuchsia.states import AttemptStatus, NodeStatus
from fuchsia.store.records import Event, ExecutionUpdate, UnitKey


def settle(o: Overlay, d: Decision, outcome: Outcome, env: Env) -> bool:
    """Record a finished attempt (of a node or a foreach item); True when its unit settled
    (no retry or further iteration follows)."""
    key = outcome.unit
    base, index = key
    node = o.workflow.nodes[base]
    t = d.commit
    now = env.now
    error = outcome.error
    t.events.extend(
        Event("log", base, {**line, "attempt": outcome.attempt}, index) for line in outcome.logs
    )
    if error is None and node.repeat is not None and index is None:
        iterated = _iterate(o, d, node, outcome, env)
        if isinstance(iterated, bool):
            return iterated
        error = iterated
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
        write(d, key, NodeStatus.SUCCEEDED, outcome.attempt)
        t.attempts.append(attempt_row(outcome, AttemptStatus.SUCCEEDED, outcome.inputs, now))
        keep_effects(t, outcome)
        event(d, "node_succeeded", key, {"attempt": outcome.attempt})
        return True
    record = {**error.to_record(), "node": base, "attempt": outcome.attempt}
    if index is not None:
        record["item"] = index
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
        write(d, key, NodeStatus.RETRYING, outcome.attempt, ready_at=when, error=record)
        event(d, "node_retrying", key, {**record, "retry_at": iso(when)})
        d.timers[key] = when
        return False
    o.statuses[key] = status
    if index is not None:
        o.unit_errors[key] = record
    write(d, key, status, outcome.attempt, error=record)
    event(d, f"node_{status}", key, record)
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
    key = o.keys[node.id]
    o.iterations[node.id] = iteration
    o.previous[node.id] = outcome.output
    o.failures.pop(key, None)
    t.attempts.append(attempt_row(outcome, AttemptStatus.SUCCEEDED, outcome.inputs, env.now))
    keep_effects(t, outcome)
    t.events.append(Event("node_iterated", node.id, {"iteration": iteration}))
    if iteration >= int(node.repeat["max_iterations"]):
        error = {
            **LoopExhausted(f"`until` did not hold after {iteration} iterations").to_record(),
            "node": node.id,
            "attempt": outcome.attempt,
        }
        o.statuses[key] = NodeStatus.FAILED
        write(d, key, NodeStatus.FAILED, outcome.attempt, error=error)
        event(d, "node_failed", key, error)
        if o.first_error is None and node.on_error == "fail" and not node.hook:
            o.first_error = error
        return True
    when = env.now + float(node.repeat.get("delay") or 0.0)
    o.statuses[key] = NodeStatus.RETRYING
    o.retry_at[key] = when
    write(d, key, NodeStatus.RETRYING, outcome.attempt, ready_at=when)
    d.timers[key] = when
    return False


def note_branch(o: Overlay | State, key: UnitKey, output: Any) -> None:
    """Remember which successors a finished branch did not choose (an item of a foreach
    branch chooses for itself, not for the node's successors)."""
    if key.item is not None:
        return
    node = o.workflow.nodes.get(key.node)
    if node is None:
        return
    for target in KINDS[node.kind].skips(node.spec, output):
        o.skipped_edges[(key.node, target)] = True
