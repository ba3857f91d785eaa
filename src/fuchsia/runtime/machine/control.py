"""Beginning, resuming, pausing, stopping and ending on request: the machine's side of the
controls any process may leave on an execution, and of its deadline."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fuchsia import scheduler
from fuchsia.errors import Interrupted
from fuchsia.nodes.kind import KINDS
from fuchsia.runtime.machine.decisions import Decision
from fuchsia.runtime.machine.env import Env
from fuchsia.runtime.machine.state import Overlay
from fuchsia.runtime.machine.units import event, write
from fuchsia.runtime.machine.verdict import abort
from fuchsia.runtime.views import iso
from fuchsia.states import AttemptStatus, Control, ExecutionStatus, NodeStatus
from fuchsia.store.records import (
    PARKED_FOREVER,
    AttemptWrite,
    Event,
    ExecutionUpdate,
    Parking,
    UnitKey,
)

CANCEL_ERROR = {"type": "cancelled", "message": "the execution was cancelled"}
CRASHED = "the process running this attempt stopped before it finished"
STOPPED = "the engine was stopped before this attempt finished; it runs again on resume"


def begin(o: Overlay, d: Decision, env: Env) -> scheduler.Step | None:
    """The execution's (re)start: attempts stored running were lost with their process and
    are recorded interrupted (their units run again), retries are re-armed for when they
    were due (a foreach item's too: it keeps its backoff, and its foreach starts again
    around it). The step to schedule, or None when a stored cancel ended it."""
    if o.state.control == Control.CANCEL:
        _woken(o, d)  # a parked one ends: it is parked no more
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
    woken = _woken(o, d)
    # a unit that will be held (paused, draining) is stored pending: nothing starts it now
    interrupt_running(o, d, CRASHED, env, stored=o.paused or not env.starting, keep=woken)
    d.launch.extend(woken)
    for key, state in list(o.statuses.items()):
        if state == NodeStatus.READY:
            o.statuses[key] = NodeStatus.PENDING
    d.timers.update(o.retry_at)
    return scheduler.advance(o.workflow, o.nodes(o.statuses), None, o.skipped_edges)


def _woken(o: Overlay, d: Decision) -> list[UnitKey]:
    """A parked execution taken again: its waits are still running in the store, and go on
    as the same attempts (the wait's deadline counts from its first start)."""
    if not o.unparking:
        return []
    o.unparking = False
    t = d.commit
    if t.execution is None:
        t.execution = ExecutionUpdate()
    t.execution.unpark = True
    nodes = o.workflow.nodes
    return [
        key
        for key, state in o.statuses.items()
        if state == NodeStatus.RUNNING and KINDS[nodes[key.node].kind].parks
    ]


def parkable(o: Overlay, env: Env) -> bool:
    """Whether the execution may be handed back to the store: every running unit is a
    parked wait, and any retry (or repeat delay) comes due after `env.park_after` (the
    caller checked that no attempt runs in the shell and nothing else is open). Waits park
    themselves; timers alone park only in an engine that parks."""
    parked = o.parked
    if not all(key in parked for key, s in o.statuses.items() if s == NodeStatus.RUNNING):
        return False
    if not o.filled("retry_at"):
        return bool(parked)
    return env.park_after is not None and min(o.retry_at.values()) - env.now > env.park_after


def will_park(o: Overlay, running: Collection[UnitKey]) -> bool:
    """Whether every unit in `running` is of a kind that parks by itself (a wait, a
    sub-workflow without a node timeout): the execution parks once they all have."""
    nodes = o.workflow.nodes
    for key in running:
        node = nodes[key.node]
        kind = KINDS[node.kind]
        if not kind.parks or (kind.children and node.timeout is not None):
            return False
    return True


def go_on_here(o: Overlay, d: Decision) -> None:
    """Waits that parked while the execution cannot park (other work is open that will not
    park by itself) go on in this process as the same attempts, so their signals and timers
    are still seen; each parks again once it has been open `park_after` more, and the
    execution parks when nothing else is open."""
    keys = list(o.parked)
    if keys:
        for key in keys:
            o.parked.pop(key)
        d.launch = [*d.launch, *keys]


def overdue(o: Overlay, env: Env) -> bool:
    """Whether the execution ran past its deadline (outcome hooks that started run on). The
    shell notices a deadline only while it awaits events; a park decided past it ends it."""
    timeout = o.workflow.timeout
    if timeout is None or o.started_at is None or o.verdict is not None:
        return False
    return env.now >= o.started_at + timeout


def park(o: Overlay, d: Decision, env: Env) -> None:
    """Hand the execution back to the store: its waits stay running there, nobody holds it,
    and it wakes (claimable by any worker) at the earliest of its waits' timers, its retries
    and its own deadline, or as soon as a signal they wait for (or a control request, or the
    end of a child execution) arrives."""
    wakes = [p.wake_at for p in o.parked.values() if p.wake_at is not None]
    wakes.extend(o.retry_at.values())  # re-armed by the `begin` of whoever takes it
    timeout = o.workflow.timeout
    if timeout is not None and o.started_at is not None and o.verdict is None:
        wakes.append(o.started_at + timeout)
    until = min(wakes, default=PARKED_FOREVER)
    signals = tuple(sorted({p.signal for p in o.parked.values() if p.signal is not None}))
    children = tuple(sorted({p.child for p in o.parked.values() if p.child is not None}))
    t = d.commit
    if t.execution is None:
        t.execution = ExecutionUpdate()
    t.execution.park = Parking(until, signals, children)
    data: dict[str, Any] = {
        "wakes_at": None if until >= PARKED_FOREVER else iso(until),
        "signals": list(signals),
    }
    if children:
        data["children"] = list(children)
    t.events.append(Event("execution_parked", data=data))
    d.final = "parked"


def interrupt_running(
    o: Overlay,
    d: Decision,
    reason: str,
    env: Env,
    stored: bool = False,
    keep: Collection[UnitKey] = (),
) -> None:
    """Record every running attempt interrupted for `reason` (but those in `keep`); its
    unit is pending again, so it runs anew when the execution is next driven. With
    `stored`, the unit's pending state is written too (nothing starts it in this decision)."""
    error = Interrupted(reason).to_record()
    t = d.commit
    for key, state in list(o.statuses.items()):
        if state != NodeStatus.RUNNING or key in keep:
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
