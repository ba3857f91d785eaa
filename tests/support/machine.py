"""A harness that drives the execution machine the way the driver does, with no I/O.

`Machine.of(text)` locks a workflow from YAML, creates its execution in a `MemoryStore`, and
loads the machine's `State` from the stored records. Each step hands a batch of events to
`machine.decide` on an `Overlay`, answers `expand` with the items the test chose
(`render`), applies the commit to the store, merges the overlay, and then does what the
driver's `_follow` does: the launched units are running, the retries armed, the requeued
outcomes handed back as a step of their own. The clock is `now`, moved only by the test
(`advance`, `due`), and the jitter a retry delay draws is `jitter`.

Units are named as people read them: `"a"` for node a, `"each[1]"` for item 1 of the
foreach `each` (`unit` makes the `UnitKey`); a step returns the decision as `Seen`, which
names the units it launches and arms retries for the same way.

What each attempt does is the test's choice: `succeed`, `fail`, `time_out` report an
`Outcome` for a running unit. Every commit is journaled as an `Entry` (the events, the
items rendered, the environment, the decision), so a test can replay it (`replay`).

The memory store's coroutines never suspend, so the harness runs them synchronously
(`run_now`): a step is a plain function call, nothing is awaited.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from fuchsia.definition import lock, parse_text, validate
from fuchsia.definition.lock import Deployed, LockedWorkflow
from fuchsia.errors import NodeError, NodeTimeout
from fuchsia.nodes import Park
from fuchsia.runtime import machine
from fuchsia.runtime.limits import Limits
from fuchsia.runtime.machine import (
    Begin,
    ControlRequested,
    DeadlineReached,
    Decision,
    Env,
    Event,
    ItemsRendered,
    Overlay,
    RetryDue,
    State,
)
from fuchsia.runtime.work import Outcome
from fuchsia.states import Control, ExecutionStatus, NodeStatus
from fuchsia.store.memory import MemoryStore
from fuchsia.store.records import (
    Event as CommitEvent,
)
from fuchsia.store.records import (
    EventRecord,
    ExecutionRecord,
    NewExecution,
    NodeRecord,
    Transition,
    UnitKey,
)

T = TypeVar("T")
OWNER = "machine-test"
START = 1_000.0  # the fake clock's first reading
STORED_CONTROLS = (Control.PAUSE, Control.RESUME, Control.CANCEL)


def unit(label: str | UnitKey) -> UnitKey:
    """The unit a test names: `"a"` is node a, `"each[1]"` item 1 of the foreach `each`."""
    if isinstance(label, UnitKey):
        return label
    node, bracket, rest = label.partition("[")
    return UnitKey(node, int(rest.removesuffix("]"))) if bracket else UnitKey(node)


@dataclass(frozen=True)
class Seen:
    """A decision as a test reads it: the units it launches and arms retries for by their
    labels (`unit`), the rest as decided."""

    decision: Decision

    @property
    def launch(self) -> list[str]:
        return [str(key) for key in self.decision.launch]

    @property
    def timers(self) -> dict[str, float]:
        return {str(key): when for key, when in self.decision.timers.items()}

    @property
    def commit(self) -> Transition:
        return self.decision.commit

    @property
    def expand(self) -> list[str]:
        return self.decision.expand

    @property
    def requeue(self) -> list[Outcome]:
        return self.decision.requeue

    @property
    def cancel_running(self) -> bool:
        return self.decision.cancel_running

    @property
    def cancel_children(self) -> bool:
        return self.decision.cancel_children

    @property
    def final(self) -> ExecutionStatus | str | None:
        return self.decision.final


def labels(events: Sequence[CommitEvent]) -> list[tuple[str, str | None]]:
    """(type, unit label) of each event a commit records."""
    return [
        (e.type, None if e.node_id is None else str(UnitKey(e.node_id, e.item))) for e in events
    ]


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (the memory store's)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return cast(T, stop.value)
    coroutine.close()
    raise AssertionError("the coroutine suspended: it waits on something")


def workflow(text: str, deployed: Deployed | None = None) -> LockedWorkflow:
    """Lock a workflow from YAML (dedented); `deployed` names the sub-workflows it may run."""
    source = parse_text(textwrap.dedent(text), "machine.yaml")
    return lock(validate(source), source, deployed=deployed)


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Entry:
    """One commit: what it was decided from, and the decision."""

    events: list[Event]
    rendered: list[list[ItemsRendered]]  # each round of `expand` answered
    env: Env
    decision: Decision


@dataclass
class Running:
    attempt: int
    started_at: float


@dataclass
class Machine:
    """One execution driven by hand; see the module docstring."""

    wf: LockedWorkflow
    store: MemoryStore
    clock: Clock
    new: NewExecution  # what created the execution
    state: State
    limits: Limits = field(default_factory=Limits)
    jitter: float = 1.0
    draining: bool = False
    park_after: float | None = None  # an engine that parks (a worker)
    render: dict[str, list[Any] | NodeError] = field(default_factory=dict)
    running: dict[str, Running] = field(default_factory=dict)
    timers: dict[str, float] = field(default_factory=dict)
    journal: list[Entry] = field(default_factory=list)
    final: ExecutionStatus | str | None = None

    @classmethod
    def of(
        cls,
        text: str | LockedWorkflow,
        payload: Any = None,
        *,
        context: dict[str, Any] | None = None,
        limits: Limits | None = None,
    ) -> Machine:
        """A new execution of `text` (a workflow's YAML, or a locked workflow), pending."""
        wf = workflow(text) if isinstance(text, str) else text
        clock = Clock()
        store = MemoryStore(clock=clock)
        new = NewExecution(
            id="exec-1",
            workflow_hash=wf.hash,
            workflow_name=wf.name,
            workflow_version=wf.version,
            workflow_document=wf.to_json(),
            payload=payload,
            context=context or {},
            idempotency_key=None,
            owner=OWNER,
        )
        run_now(store.create_execution(new))
        return cls.loaded(store, clock, new, limits=limits or Limits())

    @classmethod
    def loaded(cls, store: MemoryStore, clock: Clock, new: NewExecution, **fields: Any) -> Machine:
        """A process that loads the execution `new` created from `store`: its workflow and
        its state from the stored records, nothing running, no timer armed."""
        record = run_now(store.get_execution(new.id))
        nodes = run_now(store.get_nodes(new.id))
        wf = LockedWorkflow.from_json(run_now(store.get_workflow(record.workflow_hash)))
        state = machine.load(State.from_records(wf, record, nodes))
        return cls(wf, store, clock, new, state, **fields)

    def restarted(self) -> Machine:
        """A new process's view of the same store, as after a kill."""
        return Machine.loaded(
            self.store, self.clock, self.new, limits=self.limits, render=self.render
        )

    def claimed(self) -> Machine:
        """A worker that claims the execution (it must be claimable: unheld, and woken if it
        is parked) and loads it from the store."""
        claimable = self.store.is_claimable(self.id)
        assert claimable and run_now(self.store.claim(self.id, OWNER, None)), "not claimable"
        return self.restarted()

    def after(self, commits: int) -> Machine:
        """A process that loads what a fresh store holds once the first `commits` journaled
        commits (and the control requests stored with them) are applied to it: what a kill
        right after them leaves."""
        clock = Clock(START)
        store = MemoryStore(clock=clock)
        run_now(store.create_execution(self.new))
        for entry in self.journal[:commits]:
            clock.now = entry.env.now
            for event in entry.events:  # a request is stored before it is delivered
                if isinstance(event, ControlRequested) and event.control in STORED_CONTROLS:
                    run_now(store.request(self.id, event.control))
            run_now(store.apply(entry.decision.commit))
        return Machine.loaded(store, clock, self.new, limits=self.limits, render=self.render)

    def initial(self) -> State:
        """The state the execution began from, loaded from its creation alone."""
        return self.after(0).state

    @property
    def id(self) -> str:
        return self.new.id

    # -- the clock -----------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.clock.now

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    # -- one step ------------------------------------------------------------------------

    def step(self, *events: Event, pending: bool = False, follow: bool = True) -> Seen:
        """Decide `events` as one batch, commit, merge, follow; the decision. With `follow`,
        the outcomes it requeued are then decided too (each batch a commit of its own)."""
        assert self.final is None, f"the execution ended ({self.final}): nothing drives it"
        for event in events:
            if isinstance(event, Outcome):
                self.running.pop(str(event.unit), None)
            elif isinstance(event, RetryDue):
                self.timers.pop(str(event.key), None)
        overlay = Overlay(self.state)
        env = Env(
            now=self.now,
            limits=self.limits,
            owner=OWNER,
            starting=not self.draining,
            jitter=self.jitter,
            running=frozenset(unit(label) for label in self.running),
            pending=pending,
            park_after=self.park_after,
        )
        decision = machine.decide(overlay, list(events), env)
        rendered: list[list[ItemsRendered]] = []
        while decision.expand:
            batch = [self._rendered(node) for node in decision.expand]
            rendered.append(batch)
            decision = machine.decide(overlay, batch, env, into=decision)
        if decision.cancel_running:
            self.running.clear()
            self.timers.clear()
        run_now(self.store.apply(decision.commit))
        overlay.merge()
        self.journal.append(Entry(list(events), rendered, env, decision))
        self.timers.update((str(key), when) for key, when in decision.timers.items())
        for key in decision.launch:
            self.running[str(key)] = Running(self.state.numbers[key], self.now)
        self.final = decision.final
        if follow and decision.requeue and self.final is None:
            self.step(*decision.requeue)
        return Seen(decision)

    def _rendered(self, node: str) -> ItemsRendered:
        items = self.render.get(node)
        assert items is not None, f"the test did not say what {node}'s items render to"
        if isinstance(items, NodeError):
            return ItemsRendered(node, None, items)
        return ItemsRendered(node, list(items))

    # -- events --------------------------------------------------------------------------

    def begin(self) -> Seen:
        return self.step(Begin())

    def outcome(
        self,
        key: str,
        output: Any = None,
        error: NodeError | None = None,
        *,
        inputs: Any = None,
        context: dict[str, Any] | None = None,
        logs: Sequence[dict[str, Any]] = (),
        consumed: Sequence[int] = (),
    ) -> Outcome:
        """What the running attempt of `key` reports (not yet handed to the machine)."""
        run = self.running.get(key)
        assert run is not None, f"{key} is not running (running: {sorted(self.running)})"
        return Outcome(
            unit(key),
            run.attempt,
            run.started_at,
            inputs=inputs,
            output=None if error is not None else output,
            context=context,
            error=error,
            logs=list(logs),
            consumed=list(consumed),
        )

    def succeed(self, key: str, output: Any = None, **fields: Any) -> Seen:
        return self.step(self.outcome(key, output, **fields))

    def fail(
        self, key: str, message: str = "boom", *, retryable: bool = True, **fields: Any
    ) -> Seen:
        return self.step(self.outcome(key, error=NodeError(message, retryable=retryable), **fields))

    def park(self, key: str, wake_at: float | None = None, signal: str | None = None) -> Seen:
        """The running wait `key` parks (it will not end soon)."""
        outcome = self.outcome(key)
        outcome.park = Park(wake_at, signal)
        return self.step(outcome)

    def time_out(self, key: str) -> Seen:
        return self.step(self.outcome(key, error=NodeTimeout("node timed out after 1.0s")))

    def due(self, key: str) -> Seen:
        """The clock reaches `key`'s armed retry, which comes due."""
        when = self.timers.get(key)
        assert when is not None, f"no retry armed for {key} (armed: {sorted(self.timers)})"
        self.clock.now = max(self.now, when)
        return self.step(RetryDue(unit(key)))

    def control(self, control: Control, idle_for: float = 0.0) -> Seen:
        """A control request, as the engine makes it: a pause, resume or cancel is left in
        the store first (a process that loads the execution later sees it), then delivered;
        the engine's stop and the hung check are only delivered."""
        if control in STORED_CONTROLS:
            assert self.store_request(control), f"the store refused the {control}"
        return self.step(ControlRequested(control, idle_for))

    def deadline(self) -> Seen:
        return self.step(DeadlineReached())

    def run(self, answer: Callable[[Machine, str], Outcome]) -> ExecutionStatus | str:
        """Drive the execution to its end: the running units report one at a time, in key
        order, what `answer(self, key)` says; when none runs, the earliest retry comes due.
        Its final status."""
        while self.final is None:
            if self.running:
                self.step(answer(self, min(self.running)))
            elif self.timers:
                self.due(min(self.timers, key=lambda key: (self.timers[key], key)))
            else:
                raise AssertionError("the execution is open, yet nothing runs or is due")
        return self.final

    # -- the outside world, through the store ---------------------------------------------

    def store_request(self, control: Control) -> bool:
        """Leave a control request in the store, as another process does."""
        return run_now(self.store.request(self.id, control))

    def store_claim(self) -> bool:
        """Whether a worker could claim the execution now (it is left unclaimed)."""
        return self.store.is_claimable(self.id)

    def send_signal(self, name: str, payload: Any) -> int:
        return run_now(self.store.send_signal(self.id, name, payload))

    def next_signal(self, name: str) -> tuple[int, Any] | None:
        return run_now(self.store.next_signal(self.id, name))

    # -- what is stored ------------------------------------------------------------------

    def records(self) -> tuple[ExecutionRecord, dict[str, NodeRecord]]:
        return run_now(self.store.get_execution(self.id)), run_now(self.store.get_nodes(self.id))

    def execution(self) -> ExecutionRecord:
        return run_now(self.store.get_execution(self.id))

    def nodes(self) -> dict[str, NodeRecord]:
        return run_now(self.store.get_nodes(self.id))

    def events(self) -> list[EventRecord]:
        return run_now(self.store.get_events(self.id))

    def units(self) -> dict[str, NodeRecord]:
        """Every stored unit's record, by its label (`each[1]` for an item)."""
        found: dict[str, NodeRecord] = {}
        for node_id, node in self.nodes().items():
            found[node_id] = node
            for index, item in node.items.items():
                found[str(UnitKey(node_id, index))] = item
        return found

    def statuses(self) -> dict[str, NodeStatus]:
        """Every stored unit's status, by its label (`each[1]` for an item)."""
        return {label: record.status for label, record in self.units().items()}

    def held(self) -> dict[str, bool]:
        """The units held back (paused, draining), by their labels."""
        return {str(key): held for key, held in self.state.held.items()}

    def event_types(self, after: int = 0) -> list[str]:
        return [e.type for e in run_now(self.store.get_events(self.id, after))]


def snapshot(state: State) -> dict[str, Any]:
    """A deep copy of everything `state` holds but its workflow: equal before and after a
    decision that was not merged."""
    return copy.deepcopy({k: v for k, v in vars(state).items() if k != "workflow"})


def replay(journal: Sequence[Entry], initial: State) -> list[Decision]:
    """Decide every journaled batch again, in order, from `initial` (merging each decision
    into it, as the shell does once a commit succeeded): the decisions made."""
    decisions = []
    for entry in journal:
        overlay = Overlay(initial)
        decision = machine.decide(overlay, entry.events, entry.env)
        for batch in entry.rendered:
            decision = machine.decide(overlay, batch, entry.env, into=decision)
        overlay.merge()
        decisions.append(decision)
    return decisions


def summary(decision: Decision) -> dict[str, Any]:
    """A decision as plain data (its requeued outcomes by their content, not identity)."""
    return {
        "commit": decision.commit,
        "launch": decision.launch,
        "timers": decision.timers,
        "requeue": [
            (str(o.unit), o.attempt, o.output, None if o.error is None else o.error.to_record())
            for o in decision.requeue
        ],
        "cancel_running": decision.cancel_running,
        "cancel_children": decision.cancel_children,
        "final": decision.final,
    }
