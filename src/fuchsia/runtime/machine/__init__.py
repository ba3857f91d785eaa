"""The execution machine: what each event means for an execution, decided without I/O.

`decide(overlay, events, env)` folds a batch of events (finished attempts, due retries,
control requests, the deadline, a foreach's rendered items) over the stored state and
returns ONE `Decision`: the transition to commit, then the units to launch and the retries
to arm. It reads no clock (`env.now`), no random source (`env.jitter`), renders no template
and touches no store, so any process holding an execution's stored state decides the same,
and a recorded history replays to the same decisions (DESIGN.md §2). The shell
(`fuchsia.runtime.driver`) awaits work, calls the machine, commits, and launches.
"""

from __future__ import annotations

from collections.abc import Sequence

from fuchsia import scheduler
from fuchsia.runtime.machine import control, fanout, verdict
from fuchsia.runtime.machine.decisions import Decision
from fuchsia.runtime.machine.env import Env
from fuchsia.runtime.machine.events import (
    Begin,
    ControlRequested,
    DeadlineReached,
    Event,
    ItemsRendered,
    RetryDue,
)
from fuchsia.runtime.machine.settle import note_branch, settle
from fuchsia.runtime.machine.state import Fanout, Overlay, State, Verdict
from fuchsia.runtime.machine.units import skip, start
from fuchsia.runtime.work import Outcome
from fuchsia.states import Control, ExecutionStatus, NodeStatus
from fuchsia.store.records import Transition, UnitKey

__all__ = [
    "Begin",
    "ControlRequested",
    "DeadlineReached",
    "Decision",
    "Env",
    "Event",
    "Fanout",
    "ItemsRendered",
    "Overlay",
    "RetryDue",
    "State",
    "Verdict",
    "decide",
    "load",
    "verdict",
]


def load(state: State) -> State:
    """`state` with what derives from its outputs: the edges its branches did not take."""
    for key, output in state.outputs.items():
        note_branch(state, key, output)
    return state


def decide(o: Overlay, events: Sequence[Event], env: Env, into: Decision | None = None) -> Decision:
    """The decision `events` make for the execution `o` holds. `into` continues a decision
    whose `expand` the shell answered with `ItemsRendered`."""
    d = into or Decision(Transition(o.id, env.owner))
    d.expand = []
    if into is not None:
        launch = list(d.launch)
        for event in events:
            assert isinstance(event, ItemsRendered)
            launch.extend(_expanded(o, d, event, env))
        d.launch = launch
        _settle_or_continue(o, d, env)
    elif len(events) == 1 and isinstance(events[0], Begin):
        step = control.begin(o, d, env)
        if step is not None:
            _schedule(o, d, step, env)
    else:
        _fold(o, d, events, env)
    return d


def _fold(o: Overlay, d: Decision, events: Sequence[Event], env: Env) -> None:
    """Fold a batch of events into one decision: settle what finished, take the controls,
    then end on request, abort on a fatal failure, or schedule what became ready."""
    changed: list[str] = []
    to_start: list[UnitKey] = []
    requests: list[Control] = []
    idle_for = 0.0
    work = list(events)
    while work:
        event = work.pop(0)
        if isinstance(event, ControlRequested):
            requests.append(event.control)
            idle_for = max(idle_for, event.idle_for)
            control.pause(o, event.control, to_start)
        elif isinstance(event, DeadlineReached):
            if o.verdict is None:  # hooks that started run to the end
                control.deadline(o, d, env)
                return
        elif isinstance(event, RetryDue):
            if o.statuses.get(event.key) == NodeStatus.RETRYING:
                to_start.append(event.key)
        elif isinstance(event, Outcome) and _current(o, event):
            finished = _finished(o, d, event, to_start, env)
            if finished is True:
                changed.append(event.unit.node)
            elif isinstance(finished, Outcome):
                work.append(finished)
    if control.requested_end(o, d, requests, idle_for, env):
        return
    nodes = o.workflow.nodes
    keys = o.keys
    if any(scheduler.is_fatal(nodes[n], o.statuses[keys[n]]) for n in changed):
        verdict.abort(o, d, ExecutionStatus.FAILED, o.first_error, env)
        return
    step = scheduler.advance(o.workflow, o.nodes(o.statuses), changed, o.skipped_edges)
    ready = [keys[n] for n in step.ready]
    ready.extend(k for k in to_start if k not in ready)
    _schedule(o, d, step, env, ready)


def _current(o: Overlay, outcome: Outcome) -> bool:
    """Whether `outcome` is of an attempt still running: one the machine already settled
    otherwise (an abort timed it out or cancelled it) changes nothing."""
    key = outcome.unit
    running: bool = o.statuses.get(key) == NodeStatus.RUNNING
    return running and o.numbers.get(key) == outcome.attempt


def _finished(
    o: Overlay, d: Decision, outcome: Outcome, to_start: list[UnitKey], env: Env
) -> bool | Outcome:
    """Settle a finished attempt: True when a node settled (its successors may be ready), a
    foreach parent's own outcome when its last item settled, else False. A wait that
    parked settles nothing: it runs on in the store."""
    if outcome.park is not None:
        o.parked[outcome.unit] = outcome.park
        return False
    if not settle(o, d, outcome, env):
        return False
    base, index = outcome.unit
    if index is None:
        return True
    return fanout.item_settled(o, base, to_start, env) or False


def _schedule(
    o: Overlay, d: Decision, step: scheduler.Step, env: Env, ready: list[UnitKey] | None = None
) -> None:
    """Add the start of `ready` (`step.ready` when None) and the skips; finish if nothing is
    left. A ready `foreach` parent starts its items instead (rendered by the shell:
    `expand`)."""
    keys = o.keys
    for node_id in step.skipped:
        skip(o, d, keys[node_id])
    if ready is None:
        ready = [keys[n] for n in step.ready]
    if o.paused or not env.starting:
        for key in ready:
            o.held[key] = True
        ready = []
    nodes = o.workflow.nodes
    launch = list(d.launch)
    for key in ready:
        start(o, d, key, env.now)
        base, index = key
        if index is None and nodes[base].foreach is not None:
            items = o.items.get(base)
            if items is None:
                d.expand.append(base)
            else:
                launch.extend(fanout.begin(o, d, base, items, env))
        else:
            launch.append(key)
    d.launch = launch
    _settle_or_continue(o, d, env)


def _settle_or_continue(o: Overlay, d: Decision, env: Env) -> None:
    """Note what runs; when nothing does and nothing is due, start the outcome hooks due for
    the verdict, or finish. When only parked waits and far-off timers are open, park."""
    running = [*verdict.running(d, env), *d.launch]
    # open work that will not park by itself
    blocking = bool(d.expand or d.requeue or o.filled("fanouts") or o.filled("held"))
    busy = bool(running) or blocking or env.pending
    if busy or o.filled("retry_at") or o.filled("parked"):
        if not busy and control.parkable(o, env):
            verdict.note_activity(o, d, env, d.launch)
            if control.overdue(o, env):  # parked now, it would be woken for this at once
                control.deadline(o, d, env)
            else:
                control.park(o, d, env)
            return
        # only a whole execution parks; a draining engine launches nothing, and its stop
        # hands the execution over
        if env.starting and not env.pending and (blocking or not control.will_park(o, running)):
            control.go_on_here(o, d)
        verdict.note_activity(o, d, env, d.launch)
        return
    status, error, _ = verdict.verdict(o)
    hooks = verdict.start_hooks(o, d, status, error, env)
    if hooks:
        d.launch = hooks
        verdict.note_activity(o, d, env, hooks)
        return
    verdict.finish(o, d, env)


def _expanded(o: Overlay, d: Decision, event: ItemsRendered, env: Env) -> list[UnitKey]:
    if event.items is None:
        key = o.keys[event.node]
        d.requeue.append(Outcome(key, o.numbers[key], env.now, error=event.error))
        return []
    return fanout.begin(o, d, event.node, event.items, env)
