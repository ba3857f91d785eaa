"""Beginning, resuming, pausing, stopping and ending on request: the machine's side of the
controls any process may leave on an execution, and of its deadline."""

from __future__ import annotations

from collections.abc import Collection

from fuchsia import scheduler
from fuchsia.errors import Interrupted
from fuchsia.runtime.machine.decisions import Decision
from fuchsia.runtime.machine.env import Env
from fuchsia.runtime.machine.state import Overlay
from fuchsia.runtime.machine.units import event, write
from fuchsia.runtime.machine.verdict import abort
from fuchsia.states import AttemptStatus, Control, ExecutionStatus, NodeStatus
from fuchsia.store.records import AttemptWrite, Event, ExecutionUpdate, UnitKey

CANCEL_ERROR = {"type": "cancelled", "message": "the execution was cancelled"}
CRASHED = "the process running this attempt stopped before it finished"
STOPPED = "the engine was stopped before this attempt finished; it runs again on resume"


def begin(o: Overlay, d: Decision, env: Env) -> scheduler.Step | None:
    """The execution's (re)start: attempts stored running were lost with their process and
    are recorded interrupted (their units run again), retries are re-armed for when they
    were due (a foreach item's too: it keeps its backoff, and its foreach starts again
    around it). The step to schedule, or None when a stored cancel ended it."""
    if o.state.control == Control.CANCEL:
        abort(o, d, ExecutionStatus.CANCELLED, CANCEL_ERROR, env)
        return None
    t = d.commit
    if o.status == ExecutionStatus.PENDING:
        o.started_at = env.now
        t.execution = ExecutionUpdate(
            status=ExecutionStatus.RUNNING, started=True, context=o.context
        )
        t.events.append(Event("execution_running"))
        o.status = ExecutionStatus.RUNNING
    else:
        t.events.append(Event("execution_resumed"))
    # a unit that will be held (paused, draining) is stored pending: nothing starts it now
    interrupt_running(o, d, CRASHED, env, stored=o.paused or not env.starting)
    for key, state in list(o.statuses.items()):
        if state == NodeStatus.READY:
            o.statuses[key] = NodeStatus.PENDING
    d.timers.update(o.retry_at)
    return scheduler.advance(o.workflow, o.nodes(o.statuses), None, o.skipped_edges)


def interrupt_running(o: Overlay, d: Decision, reason: str, env: Env, stored: bool = False) -> None:
    """Record every running attempt interrupted for `reason`; its unit is pending again, so
    it runs anew when the execution is next driven. With `stored`, the unit's pending state
    is written too (nothing starts it in this decision)."""
    error = Interrupted(reason).to_record()
    t = d.commit
    for key, state in list(o.statuses.items()):
        if state != NodeStatus.RUNNING:
            continue
        number = o.numbers[key]
        t.attempts.append(
            AttemptWrite(
                key.node,
                number,
                AttemptStatus.INTERRUPTED,
                error=error,
                finished_at=env.now,
                item=key.item,
            )
        )
        event(d, "node_interrupted", key, {"attempt": number})
        o.statuses[key] = NodeStatus.PENDING
        if stored:
            write(d, key, NodeStatus.PENDING, number)


def pause(o: Overlay, control: Control, to_start: list[UnitKey]) -> None:
    """`pause`: start nothing new (running attempts finish); `resume`: start what was held
    back. Both are idempotent: a request may be delivered more than once."""
    if control == Control.PAUSE and not o.paused:
        o.paused = True
    elif control == Control.RESUME and o.paused:
        o.paused = False
        step = scheduler.advance(o.workflow, o.nodes(o.statuses), None, o.skipped_edges)
        ready = [o.keys[n] for n in step.ready]
        to_start.extend(k for k in [*o.held, *ready] if k not in to_start)
        for key in list(o.held):
            o.held.pop(key)


def stop(o: Overlay, d: Decision, env: Env) -> str:
    """The engine is closing (Ctrl-C, a server shutting down): the running attempts stop and
    are recorded interrupted, so the stored execution says at once what a resume will run
    again. It stays open (resumable)."""
    d.cancel_running = True
    d.launch.clear()
    d.timers.clear()
    d.expand.clear()
    d.requeue.clear()
    interrupt_running(o, d, STOPPED, env, stored=True)
    d.commit.events.append(Event("execution_interrupted", data={"message": STOPPED}))
    d.final = "stopped"
    return "stopped"


def requested_end(
    o: Overlay, d: Decision, requests: Collection[Control], idle_for: float, env: Env
) -> bool:
    """End driving for the control requests received, in order of precedence: a cancel, the
    engine's stop, the hung check. True when one did."""
    if Control.CANCEL in requests:
        abort(o, d, ExecutionStatus.CANCELLED, CANCEL_ERROR, env)
        return True
    if Control.STOP in requests:
        stop(o, d, env)
        return True
    running = o.status in (ExecutionStatus.RUNNING, ExecutionStatus.PENDING)
    if Control.HUNG in requests and idle_for > 0 and running and o.verdict is None:
        error = {
            "type": "hung",
            "message": "the execution made no progress for "
            f"{idle_for:.0f}s while running; failed as hung",
        }
        abort(o, d, ExecutionStatus.FAILED, error, env)
        return True
    return False


def deadline(o: Overlay, d: Decision, env: Env) -> None:
    error = {
        "type": "timeout",
        "message": f"the execution exceeded its timeout of {o.workflow.timeout}s",
    }
    abort(o, d, ExecutionStatus.TIMED_OUT, error, env)
