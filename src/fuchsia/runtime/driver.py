"""Driving one execution: the shell around the execution machine.

The driver awaits work (finished attempts, due retries, control requests, the deadline),
hands each batch to `machine.decide`, commits the ONE transition the decision holds, and only
then merges it into its state, launches the units it started and arms its retries. So a crash
at any point leaves a state from which `resume` continues: a committed node never runs again,
and an attempt that was running is recorded `interrupted` and started afresh (attempts are at
least once; committed outputs exactly once). What the driver holds besides the stored state
is process-local: the attempts' tasks, the retry timers and the inbox.

Attempts of `transform` (microseconds of sandboxed rendering) and `http` (non-blocking httpx)
run as tasks on the event loop: a thread hop would cost more than their work. Node kinds that
block a thread (WebAssembly components) belong on a thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fuchsia.definition.lock import LockedWorkflow
from fuchsia.errors import InputError, NodeError, StoreError
from fuchsia.nodes.kind import KINDS
from fuchsia.observe import metrics
from fuchsia.observe.telemetry import OFF, Settled, Telemetry
from fuchsia.runtime import attempts, machine
from fuchsia.runtime.limits import Limits, Unstorable
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
from fuchsia.runtime.machine.control import CANCEL_ERROR, CRASHED, STOPPED
from fuchsia.runtime.masking import Masker
from fuchsia.runtime.work import Outcome
from fuchsia.states import FINAL_STATUSES, AttemptStatus, Control, ExecutionStatus
from fuchsia.store.base import OwnershipLost, Store, StoreUnavailable
from fuchsia.store.records import Event as LogEvent
from fuchsia.store.records import ExecutionRecord, NodeRecord, Transition, UnitKey
from fuchsia.templates import RenderError

if TYPE_CHECKING:
    from fuchsia.nodes.component import ComponentRuntime

__all__ = ["CANCEL_ERROR", "CRASHED", "STOPPED", "Driver", "Runtime"]

Listener = Callable[[str, list[LogEvent]], None]


@dataclass
class Runtime:
    """What every driver in one engine shares."""

    store: Store
    owner: str
    http: Callable[[], Any]  # the shared httpx.AsyncClient, made on first use
    secrets: dict[str, str] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)
    components: Callable[[], ComponentRuntime] | None = None
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    children: Any = None  # the engine: starts, awaits and cancels sub-workflow executions
    limits: Limits = field(default_factory=Limits)
    worker: str | None = None  # the engine's name, stored with every attempt it writes
    # a wait open this long parks: its execution goes back to the store (claiming engines)
    park_after: float | None = None
    # whether an attempt about to start (after `n` others this step starts here) is left
    # for any worker to run: this engine's slots are full and another worker's are not
    share: Callable[[int], bool] | None = None
    telemetry: Telemetry = OFF  # spans of attempts and executions (`fuchsia.observe`)
    masker: Masker = field(init=False)

    def __post_init__(self) -> None:
        self.masker = Masker(self.secrets)

    def wakeup(self, execution_id: str) -> asyncio.Event:
        """The event a waiting node of `execution_id` sleeps on; set by a local signal."""
        return self.wakeups.setdefault(execution_id, asyncio.Event())

    def notify(self, execution_id: str, events: list[LogEvent]) -> None:
        for listener in list(self.listeners):
            listener(execution_id, events)


class Driver:
    def __init__(
        self,
        runtime: Runtime,
        record: ExecutionRecord,
        workflow: LockedWorkflow,
        nodes: dict[str, NodeRecord],
    ) -> None:
        self.rt = runtime
        self.id = record.id
        self.claim = record.claim  # the claim number this driver's commits are fenced by
        self.wf = workflow
        self.state = machine.load(State.from_records(workflow, record, nodes))
        self.tasks: dict[UnitKey, asyncio.Task[None]] = {}
        # attempts started here and left for any worker (`Runtime.share`): unit -> number
        self.shared: dict[UnitKey, int] = {}
        # shared attempts whose outcome a worker stored: folded in by the next commit
        self.folding: set[tuple[UnitKey, int]] = set()
        # attempts a decision starts here whose tasks its commit has not made yet: they take
        # slots already (a claim of shared attempts runs while the commit is answered)
        self.launching = 0
        self.timers: dict[UnitKey, asyncio.Task[None]] = {}
        self.inbox: asyncio.Queue[Event] = asyncio.Queue()
        self.draining = False  # the engine is shutting down: start nothing new
        # between beginning or taking finished attempts and launching what that committed
        self.busy = False
        # after the store refused a transition: one finished attempt per transition, so the
        # next refusal names the attempt it is about
        self.one_at_a_time = False
        self.last_progress = time.monotonic()
        self.parked_until: float | None = None  # set when driving ended with the execution parked
        if any(node.kind == "http" for node in workflow.nodes.values()):
            runtime.http()  # made (and httpx imported) now, not inside an http node's timeout

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> str:
        """Drive the execution to a final status and return it. A `stop` request ends it
        with its running attempts recorded interrupted ("stopped"); cancelling the task stops
        driving without writing anything. Either way the execution stays resumable."""
        try:
            status = await self._step([Begin()])
            while status is None:
                event = await self._next()
                status = await self._step_or_refuse([event, *self._drain()])
            return status
        finally:
            for task in [*self.tasks.values(), *self.timers.values()]:
                task.cancel()

    def interrupt(self) -> None:
        """Cancel the running attempts at once, committing nothing (the engine's lease
        passed); the stop that follows records them interrupted."""
        for task in self.tasks.values():
            task.cancel()

    def deliver(self, unit: UnitKey, outcome: Outcome) -> None:
        """A shared attempt's outcome, stored by the worker that ran it: handed to the loop
        once (a second read of the same row finds it taken)."""
        if self.shared.get(unit) == outcome.attempt:
            del self.shared[unit]
            self.folding.add((unit, outcome.attempt))
            self.inbox.put_nowait(outcome)

    def request(self, kind: Control) -> None:
        """Deliver a control request (`cancel`) to the running loop."""
        self.inbox.put_nowait(ControlRequested(kind))

    @property
    def settling(self) -> bool:
        """Whether an attempt is running, is about to be launched (its start is committed
        but the task not yet created), or finished without its outcome committed yet."""
        return bool(self.tasks) or bool(self.shared) or self.busy or not self.inbox.empty()

    def idle_for(self) -> float:
        """Seconds since this driver last committed, while it is running (0 when waiting
        or paused: idling is their job)."""
        active = (ExecutionStatus.RUNNING, ExecutionStatus.PENDING)
        if self.state.status not in active or self.state.verdict is not None:
            return 0.0
        return time.monotonic() - self.last_progress

    async def _next(self) -> Event:
        """The next event; `DeadlineReached` once the execution ran past its timeout."""
        state = self.state
        if self.wf.timeout is None or state.started_at is None or state.verdict is not None:
            return await self.inbox.get()
        remaining = state.started_at + self.wf.timeout - time.time()
        if remaining <= 0:
            return DeadlineReached()
        try:
            async with asyncio.timeout(remaining):
                return await self.inbox.get()
        except TimeoutError:
            return DeadlineReached()

    def _drain(self) -> list[Event]:
        events: list[Event] = []
        if self.one_at_a_time:
            return events
        while not self.inbox.empty():
            events.append(self.inbox.get_nowait())
        return events

    async def _step_or_refuse(self, events: list[Event]) -> str | None:
        """`_step(events)`; when the store refuses that transition (a value past one of its
        own limits, say), the attempt it held fails instead: a refused write fails a node,
        never the execution's bookkeeping, and is never retried by a resume. Of several
        attempts refused together none is blamed: they are offered again one per
        transition, so the next refusal names its attempt. A store that is unavailable
        refused nothing: that error ends the drive (nothing of the transition is stored),
        and the engine drives the execution again from what is stored."""
        try:
            return await self._step(events)
        except (OwnershipLost, StoreUnavailable):
            raise
        except StoreError as exc:
            outcomes = [e for e in events if isinstance(e, Outcome)]
            if not outcomes:
                raise
            if len(outcomes) > 1:
                self.one_at_a_time = True
                for event in events:
                    self.inbox.put_nowait(event)
                return None
            o = outcomes[0]
            error = Unstorable(f"the store refused to write this attempt's result: {exc}")
            error.execution_id, error.node_id = self.id, o.unit.node
            refused = Outcome(o.unit, o.attempt, o.started_at, error=error)
            return await self._step([e if e is not o else refused for e in events])

    # -- one step: decide, commit, launch --------------------------------------------------

    async def _step(self, events: list[Event]) -> str | None:
        self.busy = True
        try:
            return await self._decide_and_commit(events)
        finally:
            self.busy = False

    async def _decide_and_commit(self, events: list[Event]) -> str | None:
        state = self.state
        for i, event in enumerate(events):
            if isinstance(event, Outcome):
                self.tasks.pop(event.unit, None)
                attempts.measure(self.rt, state, event)
            elif isinstance(event, RetryDue):
                self.timers.pop(event.key, None)
            elif isinstance(event, ControlRequested) and event.control == Control.HUNG:
                events[i] = replace(event, idle_for=self.idle_for())
        overlay = Overlay(state)
        env = Env(
            now=time.time(),
            limits=self.rt.limits,
            owner=self.rt.owner,
            starting=not self.draining,
            jitter=random.uniform(0.5, 1.0),
            running=self.tasks.keys() | self.shared.keys() if self.shared else self.tasks.keys(),
            pending=not self.inbox.empty(),
            park_after=self.rt.park_after,
        )
        decision = machine.decide(overlay, events, env)
        while decision.expand:
            rendered = [self._expand(overlay, node_id) for node_id in decision.expand]
            decision = machine.decide(overlay, rendered, env, into=decision)
        running = [(key, state.numbers[key]) for key in self.tasks]  # before a cancel
        if decision.cancel_running:
            await self._cancel_running()
        shared = self._share(overlay, decision, events)
        try:
            await self._commit(decision.commit)
        except OwnershipLost:
            await self._rejected(events, running)
            raise
        finally:
            self.launching = 0
        overlay.merge()
        if decision.commit.withdraw_shared:
            self.shared.clear()
            self.folding.clear()
        else:
            self.folding.difference_update(decision.commit.unshared)
        self.shared.update(shared)
        if decision.final == "parked" and decision.commit.execution is not None:
            park = decision.commit.execution.park
            self.parked_until = None if park is None else park.until
        self._follow(decision, env.now)
        if decision.final in FINAL_STATUSES and self.rt.telemetry.enabled:
            self._settled(decision)
        if decision.cancel_children and self.rt.children is not None:
            await self.rt.children.cancel_children(self.id)
        return decision.final

    def _settled(self, decision: Decision) -> None:
        """Emit the span of the execution, which this decision's commit ended."""
        state, update = self.state, decision.commit.execution
        self.rt.telemetry.settled(
            Settled(
                self.id,
                state.trace,
                self.wf.name,
                self.wf.version,
                self.wf.hash,
                str(decision.final),
                update.error if update is not None else None,
                state.created_at,
                state.started_at,
                time.time(),
            )
        )

    def _share(
        self, overlay: Overlay, decision: Decision, events: list[Event]
    ) -> dict[UnitKey, int]:
        """Fill in the decision's commit with what it does to shared attempts: the outcomes
        it folds in, the ones it withdraws (the execution begins here, ends, or stops its
        running attempts) and the attempts it starts for any worker to run (`Runtime.share`),
        which are then not launched here. The attempts it shares, by unit."""
        t = decision.commit
        t.unshared = [
            (e.unit, e.attempt)
            for e in events
            if isinstance(e, Outcome) and (e.unit, e.attempt) in self.folding
        ]
        begins = isinstance(events[0], Begin) and self.state.status != ExecutionStatus.PENDING
        if begins or decision.cancel_running or (decision.final and self.shared):
            t.withdraw_shared = True
        share = self.rt.share
        if share is None or not decision.launch or decision.final:
            return {}
        shared: dict[UnitKey, int] = {}
        here = 0
        nodes = self.wf.nodes
        for key in decision.launch:
            node = nodes[key.node]
            kind = KINDS[node.kind]
            if kind.inline or kind.parks or node.hook is not None or node.repeat is not None:
                continue
            if not share(here):
                here += 1
                self.launching = here
                continue
            number = overlay.numbers[key]
            parent = 0 if key.item is None else overlay.numbers[overlay.keys[key.node]]
            t.shared.append((key, number, parent))
            shared[key] = number
        if shared:
            decision.launch = [key for key in decision.launch if key not in shared]
        return shared

    def _expand(self, overlay: Overlay, node_id: str) -> ItemsRendered:
        """Render a ready foreach's items (masked, a list, within the output cap)."""
        node = self.wf.nodes[node_id]
        assert node.render_items is not None
        number = overlay.numbers[overlay.keys[node_id]]
        try:
            items = node.render_items(attempts.scope(self.rt, overlay, node, number))
        except RenderError as exc:
            return ItemsRendered(node_id, None, InputError(f"foreach.items: {exc.message}"))
        items = self.rt.masker.mask(items)
        try:
            if not isinstance(items, list):
                raise InputError(f"foreach.items must render to a list, got {type(items).__name__}")
            self.rt.limits.check(items, "foreach.items")
        except NodeError as error:
            return ItemsRendered(node_id, None, error)
        return ItemsRendered(node_id, items)

    async def _cancel_running(self) -> None:
        running = list(self.tasks.values())
        for task in [*running, *self.timers.values()]:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self.tasks.clear()
        self.timers.clear()

    async def _commit(self, t: Transition) -> None:
        """Store `t`, masked: the one way the driver writes (DESIGN.md §7, secrets are
        never stored)."""
        t.worker, t.claim = self.rt.worker, self.claim
        t = self.rt.masker.transition(t)
        await self.rt.store.apply(t)
        _report(self.wf, t)
        if t.execution or t.nodes or t.attempts or t.events or t.consumed:
            # progress for hung detection (a parked wait launched again writes nothing)
            self.last_progress = time.monotonic()
        if self.rt.listeners:
            self.rt.notify(self.id, t.events)

    async def _rejected(self, events: list[Event], running: list[tuple[UnitKey, int]]) -> None:
        """Another worker holds the execution now (this engine let its lease pass): record
        that the attempts this engine ran or was running (also those this very transition
        stopped) are not committed. They run again under the new owner."""
        dropped = {(e.unit, e.attempt) for e in events if isinstance(e, Outcome)}
        dropped.update(running)
        with contextlib.suppress(StoreError):
            await self.rt.store.reject(
                self.id,
                sorted(dropped),
                self.rt.worker or self.rt.owner,
                "taken over",
                owner=self.rt.owner,
            )

    def _follow(self, decision: Decision, decided: float) -> None:
        """What a committed decision (made at `decided`) asks of the shell: retries armed,
        units launched, outcomes it decided handed back as events of their own."""
        for key, when in decision.timers.items():
            self._arm_retry(key, when)
        for key in decision.launch:
            base, index = key
            node = self.wf.nodes[base]
            number = self.state.numbers[key]
            if KINDS[node.kind].inline:  # no task: it runs to its end at once
                metrics.recorder.attempt_queued(self.wf.name, node.kind, time.time() - decided)
                self.inbox.put_nowait(
                    _finish_now(attempts.run(self.rt, self.state, node, number, index))
                )
                continue
            self.tasks[key] = asyncio.create_task(
                self._attempt(node.id, number, index, decided), name=f"{self.id}:{key}"
            )
        for outcome in decision.requeue:
            self.inbox.put_nowait(outcome)

    def _arm_retry(self, key: UnitKey, when: float) -> None:
        old = self.timers.pop(key, None)
        if old is not None:
            old.cancel()

        async def later() -> None:
            await asyncio.sleep(max(0.0, when - time.time()))
            self.inbox.put_nowait(RetryDue(key))

        self.timers[key] = asyncio.create_task(later(), name=f"{self.id}:{key}:retry")

    # -- attempts ------------------------------------------------------------------------

    async def _attempt(self, node_id: str, number: int, index: int | None, decided: float) -> None:
        node = self.wf.nodes[node_id]
        metrics.recorder.attempt_queued(self.wf.name, node.kind, time.time() - decided)
        self.inbox.put_nowait(await attempts.run(self.rt, self.state, node, number, index))

    async def attempt_once(self, node_id: str, upstream: Any) -> Outcome:
        """Run one attempt of one node outside the graph (`fuchsia node run`): `upstream` is
        what the node's templates see as its data, and nothing is committed."""
        node = self.wf.nodes[node_id]
        keys = self.state.keys
        if node.join is not None and isinstance(upstream, dict):
            self.state.outputs.update((keys[n], v) for n, v in upstream.items() if n in keys)
        elif node.after:
            self.state.outputs[keys[node.after[0]]] = upstream
        outcome = await attempts.run(self.rt, self.state, node, 1)
        attempts.measure(self.rt, self.state, outcome)  # shown as it would be stored
        return outcome


def _report(wf: LockedWorkflow, t: Transition) -> None:
    """Report what a committed transition did (`fuchsia.observe.metrics`): the attempts it
    finished, the retries and timeouts among them, the end of the execution. Counted from
    the commit, so a shared attempt counts once (where its outcome was folded in) and one
    whose commit failed not at all."""
    recorder = metrics.recorder
    if not recorder.enabled:
        return
    nodes, name = wf.nodes, wf.name
    for row in t.attempts:
        if row.finished_at is None:
            continue  # a start
        kind = nodes[row.node_id].kind
        if row.started_at is not None:  # not one ended by its execution's end or a stop
            recorder.attempt_finished(name, kind, row.finished_at - row.started_at, row.status)
        if row.status == AttemptStatus.TIMED_OUT:
            recorder.timed_out(name, kind)
    for event in t.events:
        if event.type == "node_retrying" and event.node_id is not None:
            recorder.retried(name, nodes[event.node_id].kind)
    done = t.execution
    if done is not None and done.finished and done.status is not None:
        recorder.execution_finished(name, done.status)


def _finish_now(attempt: Coroutine[Any, Any, Outcome]) -> Outcome:
    """The outcome of an attempt of an inline kind, run to its end without the event loop:
    it awaits nothing, so its coroutine finishes on the first step."""
    try:
        attempt.send(None)
    except StopIteration as done:
        outcome: Outcome = done.value
        return outcome
    attempt.close()
    raise RuntimeError("an inline node kind's attempt awaited something")
