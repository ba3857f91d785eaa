"""Driving one execution, from its stored state to a final status.

The driver is a thin shell around `scheduler.advance`: it keeps the node states it loaded
(a cache of the store, changed only after a commit), runs node attempts as tasks, and turns
every batch of finished attempts into ONE transition: the attempts' results, the successors
they make ready, those successors' first attempts and the events. Only after that commit does
it start the successors. So a crash at any point leaves a state from which `resume` continues:
a committed node never runs again, and an attempt that was running is recorded `interrupted`
and started afresh (attempts are at least once; committed outputs exactly once).

Attempts of `transform` (microseconds of sandboxed rendering) and `http` (non-blocking httpx)
run as tasks on the event loop: a thread hop would cost more than their work. Node kinds that
block a thread (WebAssembly components) belong on a thread pool.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fuchsia import scheduler
from fuchsia.definition.lock import LockedNode, LockedWorkflow
from fuchsia.errors import (
    InputError,
    Interrupted,
    LoopExhausted,
    NodeError,
    NodeTimeout,
    StoreError,
)
from fuchsia.expressions import ExpressionError, evaluate
from fuchsia.nodes import NodeContext, branch
from fuchsia.runtime.effects import SideEffects, execution_scope
from fuchsia.runtime.limits import BoundedLogs, Limits, Unstorable
from fuchsia.runtime.masking import Masker, node_store
from fuchsia.runtime.views import iso
from fuchsia.runtime.work import (
    Control,
    Fanout,
    Item,
    Outcome,
    RetryDue,
    attempt_row,
    keep_effects,
    split_key,
    trailing_failures,
    unit_key,
)
from fuchsia.store.base import OwnershipLost, Store, StoreUnavailable
from fuchsia.store.records import (
    CANCELLED,
    FAILED,
    INTERRUPTED,
    PAUSED,
    PENDING,
    RETRYING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TIMED_OUT,
    WAITING,
    AttemptWrite,
    Event,
    ExecutionRecord,
    ExecutionUpdate,
    NodeRecord,
    NodeWrite,
    Transition,
)
from fuchsia.templates import RenderError

if TYPE_CHECKING:
    from fuchsia.nodes.component import ComponentRuntime

Executor = Callable[[Any, NodeContext], Awaitable[Any]]
NODE_KINDS = ("transform", "http", "component", "branch", "wait", "workflow")


@functools.cache
def executor(kind: str) -> Executor:
    """The `run` of a node kind's module (`fuchsia.nodes.<kind>`), imported on first use: a
    workflow of transforms never loads the HTTP client or the wasm host."""
    if kind not in NODE_KINDS:
        raise KeyError(kind)
    run: Executor = importlib.import_module(f"fuchsia.nodes.{kind}").run
    return run


Listener = Callable[[str, list[Event]], None]
Loader = Callable[[str], Awaitable[tuple[ExecutionRecord, dict[str, NodeRecord]]]]


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
    load: Loader | None = None  # an execution's record and node records, as a resume reads
    masker: Masker = field(init=False)

    def __post_init__(self) -> None:
        self.masker = Masker(self.secrets)

    def wakeup(self, execution_id: str) -> asyncio.Event:
        """The event a waiting node of `execution_id` sleeps on; set by a local signal."""
        return self.wakeups.setdefault(execution_id, asyncio.Event())

    def notify(self, execution_id: str, events: list[Event]) -> None:
        for listener in list(self.listeners):
            listener(execution_id, events)


CANCEL_ERROR = {"type": "cancelled", "message": "the execution was cancelled"}
CRASHED = "the process running this attempt stopped before it finished"
STOPPED = "the engine was stopped before this attempt finished; it runs again on resume"


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
        self.wf = workflow
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.timers: dict[str, asyncio.Task[None]] = {}
        self.inbox: asyncio.Queue[Item] = asyncio.Queue()
        self.draining = False  # the engine is shutting down: start nothing new
        # between beginning or taking finished attempts and launching what that committed
        self.busy = False
        # after the store refused a transition: one finished attempt per transition, so the
        # next refusal names the attempt it is about
        self.one_at_a_time = False
        if any(node.kind == "http" for node in workflow.nodes.values()):
            runtime.http()  # made (and httpx imported) now, not inside an http node's timeout
        self._load(record, nodes)

    def _load(self, record: ExecutionRecord, nodes: dict[str, NodeRecord]) -> None:
        """Take the execution's state from its stored records (at start, and again after
        the store refused a transition: what was stored is then the truth)."""
        self.record = record
        self.context: dict[str, Any] = dict(record.context or {})
        self.started_at = record.started_at
        self.states: dict[str, str] = {n: r.status for n, r in nodes.items()}
        self.outputs: dict[str, Any] = {
            n: r.output for n, r in nodes.items() if r.status == SUCCEEDED
        }
        self.numbers: dict[str, int] = {
            n: max((a.number for a in r.attempts), default=0) for n, r in nodes.items()
        }
        self.retry_at: dict[str, float] = {
            n: r.ready_at or 0.0 for n, r in nodes.items() if r.status == RETRYING
        }
        self.first_error: dict[str, Any] | None = None
        self.started_iso = iso(self.started_at)
        self.skipped_edges: set[tuple[str, str]] = set()
        for node_id, output in self.outputs.items():
            self._note_branch(node_id, output)
        self.first_started: dict[str, float] = {
            n: r.attempts[0].started_at for n, r in nodes.items() if r.attempts
        }
        self.status = record.status
        self.fanouts: dict[str, Fanout] = {}
        self.paused = record.control == "pause"
        self.last_progress = time.monotonic()
        self.settled_as = self._stored_verdict(record.settled)
        self.held: list[str] = []  # ready, but not started while paused or draining
        repeating = [n for n in nodes if n in self.wf.nodes and self.wf.nodes[n].repeat]
        self.iterations = {
            n: sum(a.status == SUCCEEDED for a in nodes[n].attempts) for n in repeating
        }
        self.previous: dict[str, Any] = {n: nodes[n].output for n in repeating}
        # failed attempts since the last success: what the retry budget counts (an attempt
        # interrupted by a crash, or an earlier iteration of a repeat, does not)
        self.failures = {n: trailing_failures(r.attempts) for n, r in nodes.items()}
        self.stored_inputs: dict[str, Any] = {
            n: r.attempts[-1].inputs for n, r in nodes.items() if r.attempts
        }
        # foreach items that failed for good: reused as failures when their foreach restarts
        self.unit_errors: dict[str, dict[str, Any]] = {
            n: r.error or {}
            for n, r in nodes.items()
            if split_key(n)[1] is not None and r.status in (FAILED, TIMED_OUT)
        }

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> str:
        """Drive the execution to a final status and return it. A `stop` request ends it
        with its running attempts recorded interrupted ("stopped"); cancelling the task stops
        driving without writing anything. Either way the execution stays resumable."""
        try:
            self.busy = True
            try:
                status = await self._begin()
            finally:
                self.busy = False
            while status is None:
                item = await self._next()
                if item is None:
                    status = await self._abort(
                        TIMED_OUT,
                        {
                            "type": "timeout",
                            "message": f"the execution exceeded its timeout of {self.wf.timeout}s",
                        },
                    )
                    continue  # failure hooks may still run
                self.busy = True
                try:
                    status = await self._handle_or_refuse([item, *self._drain()])
                finally:
                    self.busy = False
            return status
        finally:
            for task in [*self.tasks.values(), *self.timers.values()]:
                task.cancel()

    def _pause(self, t: Transition, kind: str, to_start: list[str]) -> None:
        """`pause`: start nothing new (running attempts finish); `resume`: start what was
        held back. Both are idempotent, as the owning engine delivers a request repeatedly."""
        if kind == "pause" and not self.paused:
            self.paused = True
        elif kind == "resume" and self.paused:
            self.paused = False
            step = scheduler.advance(self.wf, self.states, None, self.skipped_edges)
            to_start.extend(k for k in [*self.held, *step.ready] if k not in to_start)
            self.held.clear()

    @property
    def settling(self) -> bool:
        """Whether an attempt is running, is about to be launched (its start is committed
        but the task not yet created), or finished without its outcome committed yet."""
        return bool(self.tasks) or self.busy or not self.inbox.empty()

    def request(self, kind: str) -> None:
        """Deliver a control request (`cancel`) to the running loop."""
        self.inbox.put_nowait(Control(kind))

    async def _handle_or_refuse(self, items: list[Item]) -> str | None:
        """`_handle(items)`; when the store refuses that transition (a value past one of its
        own limits, say), the attempts it held fail instead: a refused write fails a node,
        never the execution's bookkeeping, and is never retried by a resume. A store that
        is unavailable refused nothing: that error ends the drive (nothing of the transition
        is stored), and the engine drives the execution again from what is stored."""
        try:
            return await self._handle(items)
        except (OwnershipLost, StoreUnavailable):
            raise
        except StoreError as exc:
            outcomes = [i for i in items if isinstance(i, Outcome)]
            if not outcomes or self.rt.load is None:
                raise
            return await self._refused(outcomes, exc)

    async def _refused(self, outcomes: list[Outcome], exc: StoreError) -> str | None:
        """Start over from what is stored (nothing of the refused transition is), with the
        refused attempt failed. Of several attempts refused together, none is blamed: they
        are offered again one per transition, so the next refusal names its attempt.
        Running attempts are stopped and run again (attempts are at least once); finished
        ones are kept, except foreach items (their foreach restarts)."""
        for task in [*self.tasks.values(), *self.timers.values()]:
            task.cancel()
        await asyncio.gather(*self.tasks.values(), *self.timers.values(), return_exceptions=True)
        self.tasks.clear()
        self.timers.clear()
        waiting = self._drain_all()
        assert self.rt.load is not None
        record, nodes = await self.rt.load(self.id)
        self._load(record, nodes)
        for control in (i for i in waiting if isinstance(i, Control)):
            self.inbox.put_nowait(control)
        finished = [i for i in waiting if isinstance(i, Outcome)]
        refused: list[Outcome] = []
        if len(outcomes) == 1:
            o = outcomes[0]
            error = Unstorable(f"the store refused to write this attempt's result: {exc}")
            error.execution_id, error.node_id = self.id, split_key(o.node_id)[0]
            refused.append(Outcome(o.node_id, o.attempt, o.started_at, error=error))
        else:
            finished = [*outcomes, *finished]
        self.one_at_a_time = True
        again = [o for o in finished if split_key(o.node_id)[1] is None]
        return await self._begin(refused=refused, again=again)

    def _drain_all(self) -> list[Item]:
        items: list[Item] = []
        while not self.inbox.empty():
            items.append(self.inbox.get_nowait())
        return items

    async def _begin(
        self, refused: list[Outcome] | None = None, again: list[Outcome] | None = None
    ) -> str | None:
        """Commit the execution's (re)start: attempts that were running are recorded
        interrupted and run again, except the finished ones in `again` (taken from the
        inbox) and the `refused` ones (settled as failed)."""
        if self.record.control == "cancel":
            return await self._abort(CANCELLED, CANCEL_ERROR)
        t = self._transition()
        finished = {
            o.node_id: o
            for o in [*(refused or []), *(again or [])]
            if self.states.get(o.node_id) == RUNNING and self.numbers.get(o.node_id) == o.attempt
        }  # attempts whose start is stored; others (of an uncommitted start) are dropped
        refused = [o for o in refused or [] if o.node_id in finished]
        for o in again or []:
            if o.node_id in finished:
                self.inbox.put_nowait(o)
        if self.record.status == PENDING:
            self.started_at = time.time()
            self.started_iso = iso(self.started_at)
            t.execution = ExecutionUpdate(status=RUNNING, started=True, context=self.context)
            t.events.append(Event("execution_running"))
            self.status = RUNNING
        else:
            t.events.append(Event("execution_resumed"))
        self._interrupt_running(t, CRASHED, keep=finished)
        for node_id, state in list(self.states.items()):
            if state == "ready" or (state == RETRYING and split_key(node_id)[1] is not None):
                self.states[node_id] = PENDING  # an item's retry restarts with its foreach
                self.retry_at.pop(node_id, None)
        for o in refused or []:
            self._settle(t, o)
            base = split_key(o.node_id)[0]
            if o.node_id == base and scheduler.is_fatal(self.wf.nodes[base], self.states[base]):
                return await self._abort(FAILED, self.first_error, t)
        step = scheduler.advance(self.wf, self.states, None, self.skipped_edges)
        status = self._schedule(t, step)
        await self._commit(t)
        self._launch(step.ready)
        for node_id, when in self.retry_at.items():
            self._arm_retry(node_id, when)
        return status

    def _interrupt_running(
        self, t: Transition, reason: str, keep: Container[str] = (), stored: bool = False
    ) -> None:
        """Record every running attempt (but those in `keep`) interrupted for `reason`; its
        node is pending again, so it runs anew when the execution is next driven. With
        `stored`, the node's pending state is written too (nothing starts it in `t`)."""
        error = Interrupted(reason).to_record()
        now = time.time()
        for node_id, state in list(self.states.items()):
            if state != RUNNING or node_id in keep:
                continue
            number = self.numbers[node_id]
            t.attempts.append(
                AttemptWrite(node_id, number, INTERRUPTED, error=error, finished_at=now)
            )
            t.events.append(Event("node_interrupted", node_id, {"attempt": number}))
            self.states[node_id] = PENDING
            if stored:
                t.nodes.append(NodeWrite(node_id, PENDING, number))

    async def _stop(self, t: Transition) -> str:
        """The engine is closing (Ctrl-C, a server shutting down): stop the running attempts
        and record them interrupted, with whatever else `t` settles, so the stored execution
        says at once what a resume will run again. It stays open (resumable)."""
        running = list(self.tasks.values())
        for task in [*running, *self.timers.values()]:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self.tasks.clear()
        self.timers.clear()
        self._interrupt_running(t, STOPPED, stored=True)
        t.events.append(Event("execution_interrupted", data={"message": STOPPED}))
        await self._commit(t)
        return "stopped"

    async def _next(self) -> Item | None:
        """The next finished attempt or due retry; None when the execution timed out."""
        if self.wf.timeout is None or self.started_at is None or self.settled_as is not None:
            return await self.inbox.get()
        remaining = self.started_at + self.wf.timeout - time.time()
        try:
            return await asyncio.wait_for(self.inbox.get(), max(remaining, 0.0))
        except TimeoutError:
            return None

    def _drain(self) -> list[Item]:
        items: list[Item] = []
        if self.one_at_a_time:
            return items
        while not self.inbox.empty():
            items.append(self.inbox.get_nowait())
        return items

    async def _handle(self, items: list[Item]) -> str | None:
        t = self._transition()
        changed: list[str] = []
        to_start: list[str] = []
        requests: set[str] = set()
        work = list(items)
        while work:
            item = work.pop(0)
            if isinstance(item, Control):
                requests.add(item.kind)
                self._pause(t, item.kind, to_start)
                continue
            if isinstance(item, RetryDue):
                self.timers.pop(item.node_id, None)
                if self.states.get(item.node_id) == RETRYING:
                    to_start.append(item.node_id)
                continue
            self.tasks.pop(item.node_id, None)
            settled = self._settle(t, item)
            base, index = split_key(item.node_id)
            if index is None:
                if settled:
                    changed.append(item.node_id)
            elif settled:
                finished = self._item_settled(base, index, item, to_start)
                if finished is not None:
                    work.append(finished)
        ending = self._requested_end(t, requests)
        if ending is not None:
            return await ending
        fatal = [n for n in changed if scheduler.is_fatal(self.wf.nodes[n], self.states[n])]
        if fatal:
            return await self._abort(FAILED, self.first_error, t)
        step = scheduler.advance(self.wf, self.states, changed, self.skipped_edges)
        step.ready.extend(k for k in to_start if k not in step.ready)
        status = self._schedule(t, step)
        await self._commit(t)
        self._launch(step.ready)
        return status

    def _requested_end(self, t: Transition, requests: set[str]) -> Awaitable[str | None] | None:
        """What ends driving for the control requests received (with the outcomes settled in
        `t`), in order of precedence: a cancel, the engine's stop, the hung check."""
        if "cancel" in requests:
            return self._abort(CANCELLED, CANCEL_ERROR, t)
        if "stop" in requests:
            return self._stop(t)
        if "hung" in requests and self.idle_for() > 0:
            error = {
                "type": "hung",
                "message": "the execution made no progress for "
                f"{self.idle_for():.0f}s while running; failed as hung",
            }
            return self._abort(FAILED, error, t)
        return None

    # -- transitions ---------------------------------------------------------------------

    def _transition(self) -> Transition:
        return Transition(self.id, self.rt.owner)

    def _schedule(self, t: Transition, step: scheduler.Step) -> str | None:
        """Add the start of `step.ready` and the skips to `t`; finish if nothing is left.

        A ready `foreach` node starts its first items instead of an attempt of its own, so
        `step.ready` is rewritten to the keys to launch once `t` is committed."""
        now = time.time()
        for node_id in step.skipped:
            self.states[node_id] = SKIPPED
            t.nodes.append(NodeWrite(node_id, SKIPPED, self.numbers.get(node_id, 0)))
            t.events.append(Event("node_skipped", node_id))
        if self.paused or self.draining:
            self.held.extend(k for k in step.ready if k not in self.held)
            step.ready.clear()
        launch: list[str] = []
        for key in step.ready:
            self._start(t, key, now)
            base, index = split_key(key)
            if index is None and self.wf.nodes[base].foreach is not None:
                launch.extend(self._start_fanout(t, base, now))
            else:
                launch.append(key)
        step.ready[:] = launch
        busy = self.tasks or launch or self.timers or self.retry_at or self.fanouts or self.held
        if busy or not self.inbox.empty():
            self._note_activity(t, launch)
            return None
        hooks = self._start_hooks(t, self._verdict())
        if hooks:
            step.ready[:] = hooks
            self._note_activity(t, hooks)
            return None
        return self._finish(t)

    def _start(self, t: Transition, key: str, now: float, inputs: Any = None) -> int:
        number = self.numbers.get(key, 0) + 1
        self.numbers[key] = number
        self.first_started.setdefault(key, now)
        self.states[key] = RUNNING
        t.nodes.append(NodeWrite(key, RUNNING, number))
        t.attempts.append(AttemptWrite(key, number, RUNNING, inputs=inputs, started_at=now))
        t.events.append(Event("node_running", key, {"attempt": number}))
        return number

    def _start_fanout(self, t: Transition, node_id: str, now: float) -> list[str]:
        """Begin (or, after a restart, continue) a foreach: render its items once (kept with
        the parent's attempt, so a restart maps the same items), reuse every item already
        committed, and start as many as `concurrency` allows."""
        node = self.wf.nodes[node_id]
        assert node.foreach is not None and node.render_items is not None
        number = self.numbers[node_id]
        stored = self.stored_inputs.get(node_id)
        if isinstance(stored, dict) and isinstance(stored.get("items"), list):
            items = stored["items"]
        else:
            try:
                items = node.render_items(self._scope(node, number))
            except RenderError as exc:
                error = InputError(f"foreach.items: {exc.message}")
                self.inbox.put_nowait(Outcome(node_id, number, now, error=error))
                return []
            items = self.rt.masker.mask(items)
            try:
                if not isinstance(items, list):
                    raise InputError(
                        f"foreach.items must render to a list, got {type(items).__name__}"
                    )
                self.rt.limits.check(items, "foreach.items")
            except NodeError as error:
                self.inbox.put_nowait(Outcome(node_id, number, now, error=error))
                return []
        t.attempts[-1].inputs = {"items": items}
        fan = Fanout(number, now, items, int(node.foreach["concurrency"]))
        for index in range(len(items)):
            key = unit_key(node_id, index)
            if self.states.get(key) == SUCCEEDED:
                fan.outputs[index] = self.outputs.get(key)
            elif key in self.unit_errors:  # settled for good: a restart does not run it again
                fan.errors[index] = {**self.unit_errors[key], "item": index}
        self.fanouts[node_id] = fan
        keys = self._next_items(node_id)
        for key in keys:
            self._start(t, key, now)
        if fan.settled():  # every item was committed before a restart, or there are none
            self.inbox.put_nowait(self._fanout_outcome(node_id))
        return keys

    def _next_items(self, node_id: str) -> list[str]:
        """The items to start now, within the foreach's concurrency."""
        fan = self.fanouts[node_id]
        keys: list[str] = []
        while len(fan.running) < fan.concurrency and fan.next_index < len(fan.items):
            index = fan.next_index
            fan.next_index += 1
            if index not in fan.outputs and index not in fan.errors:
                fan.running.add(index)
                keys.append(unit_key(node_id, index))
        return keys

    def _item_settled(
        self, node_id: str, index: int, o: Outcome, to_start: list[str]
    ) -> Outcome | None:
        """Record a settled item and queue the next ones; the parent's outcome when all are."""
        fan = self.fanouts.get(node_id)
        if fan is None:
            return None
        fan.running.discard(index)
        if o.error is None:
            fan.outputs[index] = o.output
        else:
            fan.errors[index] = {**o.error.to_record(), "item": index}
        if fan.settled():
            return self._fanout_outcome(node_id)
        to_start.extend(self._next_items(node_id))
        return None

    def _fanout_outcome(self, node_id: str) -> Outcome:
        fan = self.fanouts.pop(node_id)
        node = self.wf.nodes[node_id]
        outcome = Outcome(node_id, fan.number, fan.started_at, inputs={"items": fan.items})
        if fan.errors and node.on_error == "fail":
            index = min(fan.errors)
            outcome.error = NodeError(
                f"item {index} of {len(fan.items)} failed: {fan.errors[index]['message']}",
                retryable=False,
            )
        else:
            outcome.output = [
                fan.outputs[i] if i in fan.outputs else {"error": fan.errors[i]}
                for i in range(len(fan.items))
            ]
        return outcome

    def _note_activity(self, t: Transition, starting: list[str]) -> None:
        """`waiting` while only wait nodes and retry timers are open, else `running`. What
        runs is the attempts in flight and those about to start (not a scan of every node:
        this is on the per-node path)."""
        running = [split_key(n)[0] for n in (*self.tasks, *starting)]
        only_waits = not self.held and all(self.wf.nodes[n].kind == "wait" for n in running)
        status = WAITING if only_waits else RUNNING
        status = PAUSED if self.paused else status
        if status != self.status and self.status in (RUNNING, WAITING, PENDING, PAUSED):
            self.status = status
            if t.execution is None:
                t.execution = ExecutionUpdate(status=status)
            else:
                t.execution.status = status
            t.events.append(Event(f"execution_{status}"))

    def _verdict(self) -> tuple[str, dict[str, Any] | None, Any]:
        """(status, error, result) of a settled graph; fixed once hooks start running."""
        if self.settled_as is not None:
            return self.settled_as
        items = self._nodes_with_failed_items()
        status = scheduler.outcome(self.wf, self.states, items)
        error = None
        if status != "completed":
            failed = [n for n in self.wf.order if self.states.get(n) in scheduler.ERRORED]
            failed += [n for n in items if n not in failed]
            error = (
                self.first_error
                if status == FAILED
                else {
                    "type": "node_errors",
                    "message": f"{len(failed)} node(s) failed with on_error: continue",
                    "nodes": failed,
                }
            )
        return status, error, scheduler.result(self.wf, self.states, self.outputs)

    def _nodes_with_failed_items(self) -> list[str]:
        """Foreach nodes that succeeded although some of their items failed."""
        nodes: list[str] = []
        for key, state in self.states.items():
            base, index = split_key(key)
            if index is None or state not in scheduler.ERRORED or base in nodes:
                continue
            if self.states.get(base) == SUCCEEDED:
                nodes.append(base)
        return nodes

    def _stored_verdict(
        self, settled: dict[str, Any] | None
    ) -> tuple[str, dict[str, Any] | None, Any] | None:
        """The verdict stored when hooks started (a restart while they run keeps it: the node
        states it was taken from have changed since, cancelled or timed out by an abort)."""
        if settled is None:
            return None
        aborted = bool(settled.get("aborted"))
        result = None if aborted else scheduler.result(self.wf, self.states, self.outputs)
        return str(settled["status"]), settled.get("error"), result

    def _start_hooks(
        self, t: Transition, verdict: tuple[str, dict[str, Any] | None, Any], aborted: bool = False
    ) -> list[str]:
        """Start the on_success / on_failure nodes due for the verdict (the stored one once
        hooks started: after a restart, the hooks it interrupted start again); their keys."""
        settling = self.settled_as is None
        verdict = verdict if self.settled_as is None else self.settled_as
        status = verdict[0]
        wanted = (
            {"success", "always"}
            if status.startswith("completed")
            else ({"failure", "always"} if status in (FAILED, TIMED_OUT) else set())
        )
        hooks = [
            n
            for n in self.wf.order
            if self.wf.nodes[n].hook in wanted and self.states.get(n, PENDING) == PENDING
        ]
        if not hooks:
            return []
        if settling:
            self.settled_as = verdict
            settled = {"status": status, "error": verdict[1], "aborted": aborted}
            if t.execution is None:
                t.execution = ExecutionUpdate(settled=settled)
            else:
                t.execution.settled = settled
            t.events.append(Event("execution_settled", data={"status": status, "hooks": hooks}))
        now = time.time()
        for key in hooks:
            self._start(t, key, now)
        return hooks

    def _finish(self, t: Transition) -> str:
        status, error, result = self._verdict()
        try:
            self.rt.limits.check(result, "the execution's result")
        except NodeError as exc:  # each output was within the cap; together they are not
            status, error, result = FAILED, exc.to_record(), None
        for node_id in self.wf.order:
            if self.states.get(node_id, PENDING) == PENDING:
                # hooks that were not due, or nodes a settled graph never reached
                self.states[node_id] = SKIPPED
                t.nodes.append(NodeWrite(node_id, SKIPPED, 0))
        t.execution = ExecutionUpdate(
            status=status,
            result=result,
            has_result=True,
            error=error,
            finished=True,
            context=self.context,
        )
        t.events.append(Event(f"execution_{status}", data=error))
        return status

    def _settle(self, t: Transition, o: Outcome) -> bool:
        """Record a finished attempt (of a node or a foreach item); True when it settled (no
        retry follows)."""
        base, index = split_key(o.node_id)
        node = self.wf.nodes[base]
        now = time.time()
        self._measure(o)
        inputs = o.inputs
        t.events.extend(Event("log", o.node_id, {**line, "attempt": o.attempt}) for line in o.logs)
        if o.error is None and node.repeat is not None and index is None:
            verdict = self._iterate(t, node, o, inputs, now)
            if verdict is not None:
                return verdict
        if o.error is None:
            self.failures.pop(o.node_id, None)
            self.states[o.node_id] = SUCCEEDED
            self.outputs[o.node_id] = o.output
            self._note_branch(o.node_id, o.output)
            t.consumed.extend((signal_id, o.node_id) for signal_id in o.consumed)
            if o.context:
                self.context.update(o.context)
                t.execution = ExecutionUpdate(context=self.context)
            t.nodes.append(NodeWrite(o.node_id, SUCCEEDED, o.attempt))
            t.attempts.append(attempt_row(o, SUCCEEDED, inputs, now))
            keep_effects(t, o)
            t.events.append(Event("node_succeeded", o.node_id, {"attempt": o.attempt}))
            return True
        error = {**o.error.to_record(), "node": o.node_id, "attempt": o.attempt}
        status = TIMED_OUT if isinstance(o.error, NodeTimeout) else FAILED
        row = attempt_row(o, status, inputs, now)
        row.error = error
        t.attempts.append(row)
        failures = self.failures.get(o.node_id, 0) + 1
        self.failures[o.node_id] = failures
        if o.error.retryable and failures < node.retry.max_attempts:
            when = now + node.retry.delay(failures)
            self.states[o.node_id] = RETRYING
            self.retry_at[o.node_id] = when
            t.nodes.append(NodeWrite(o.node_id, RETRYING, o.attempt, ready_at=when, error=error))
            t.events.append(Event("node_retrying", o.node_id, {**error, "retry_at": iso(when)}))
            self._arm_retry(o.node_id, when)
            return False
        self.states[o.node_id] = status
        if index is not None:
            self.unit_errors[o.node_id] = error
        t.nodes.append(NodeWrite(o.node_id, status, o.attempt, error=error))
        t.events.append(Event(f"node_{status}", o.node_id, error))
        if self.first_error is None and node.on_error == "fail" and index is None:
            self.first_error = error
        return True

    def _measure(self, o: Outcome) -> None:
        """Mask what the attempt leaves behind (held in memory as it is stored, so its
        successors see the same before and after a restart) and hold it to the caps: inputs
        over a cap are dropped, an output or context over one fails the attempt."""
        masker = self.rt.masker
        mask = masker.mask
        o.inputs, o.output, o.context = mask(o.inputs), mask(o.output), mask(o.context)
        if isinstance(o.logs, BoundedLogs):
            o.logs.close()
        if masker:
            o.logs = [mask(line) for line in o.logs]
            if o.error is not None:
                o.error.message = masker.text(o.error.message)
                o.error.args = (o.error.message,)
        limits = self.rt.limits
        try:
            limits.check(o.inputs, "the attempt's inputs")
        except NodeError as exc:
            o.inputs = None
            o.error = o.error or exc
        if o.error is not None:
            o.output = o.context = None
            return
        try:
            if o.output is not o.inputs:  # a transform's inputs are its output
                limits.check(o.output, "the node's output")
            if o.context:
                limits.check({**self.context, **o.context}, "the execution's context")
        except NodeError as exc:
            o.error, o.output, o.context = exc, None, None

    def _iterate(
        self, t: Transition, node: LockedNode, o: Outcome, inputs: Any, now: float
    ) -> bool | None:
        """One iteration of a `repeat` finished: None when `until` holds (the node succeeds
        with this output), False when another iteration follows `delay` later, True when the
        loop is exhausted (the node fails). A condition that cannot be evaluated turns the
        outcome into an error for the ordinary failure path."""
        assert node.repeat is not None
        iteration = self.iterations.get(node.id, 0) + 1
        variables = {
            "data": o.output,
            "context": self.context,
            "execution": {"id": self.id, "workflow": self.wf.name},
        }
        try:
            done = evaluate(node.repeat["until"], variables)
        except ExpressionError as exc:
            o.error = InputError(f"repeat.until: {exc}")
            return None
        if done:
            return None
        self.iterations[node.id] = iteration
        self.previous[node.id] = o.output
        self.failures.pop(node.id, None)
        t.attempts.append(attempt_row(o, SUCCEEDED, inputs, now))
        keep_effects(t, o)
        t.events.append(Event("node_iterated", node.id, {"iteration": iteration}))
        if iteration >= int(node.repeat["max_iterations"]):
            error = {
                **LoopExhausted(f"`until` did not hold after {iteration} iterations").to_record(),
                "node": node.id,
                "attempt": o.attempt,
            }
            self.states[node.id] = FAILED
            t.nodes.append(NodeWrite(node.id, FAILED, o.attempt, error=error))
            t.events.append(Event("node_failed", node.id, error))
            if self.first_error is None and node.on_error == "fail":
                self.first_error = error
            return True
        when = now + float(node.repeat.get("delay") or 0.0)
        self.states[node.id] = RETRYING
        self.retry_at[node.id] = when
        t.nodes.append(NodeWrite(node.id, RETRYING, o.attempt, ready_at=when))
        self._arm_retry(node.id, when)
        return False

    async def _abort(
        self, status: str, error: dict[str, Any] | None, t: Transition | None = None
    ) -> str | None:
        """Stop every running attempt and close the execution with `status` (fail fast)."""
        t = t or self._transition()
        running = list(self.tasks.items())
        for _, task in running:
            task.cancel()
        await asyncio.gather(*(task for _, task in running), return_exceptions=True)
        self.tasks.clear()
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        self.retry_at.clear()
        now = time.time()
        attempt_status = TIMED_OUT if status == TIMED_OUT else CANCELLED
        self.fanouts.clear()
        units = [k for k in self.states if split_key(k)[1] is not None]
        hooks_due = status != CANCELLED and self.settled_as is None
        for node_id in [*self.wf.order, *units]:
            if hooks_due and node_id in self.wf.nodes and self.wf.nodes[node_id].hook:
                continue  # decided below: it may run now
            state = self.states.get(node_id, PENDING)
            if state in (RUNNING, RETRYING, PENDING):
                self.states[node_id] = attempt_status if state == RUNNING else CANCELLED
                number = self.numbers.get(node_id, 0)
                t.nodes.append(NodeWrite(node_id, self.states[node_id], number))
                if state == RUNNING:
                    t.attempts.append(
                        AttemptWrite(node_id, number, attempt_status, finished_at=now)
                    )
                t.events.append(Event(f"node_{self.states[node_id]}", node_id))
        hooks = self._start_hooks(t, (status, error, None), aborted=True) if hooks_due else []
        if hooks:
            self._note_activity(t, hooks)
            await self._commit(t)
            self._launch(hooks)
            return None
        if hooks_due:  # no hook was due: the rest of them will never run
            for node_id in self.wf.order:
                if self.wf.nodes[node_id].hook and self.states.get(node_id, PENDING) == PENDING:
                    self.states[node_id] = CANCELLED
                    t.nodes.append(NodeWrite(node_id, CANCELLED, 0))
        t.execution = ExecutionUpdate(
            status=status,
            error=error,
            finished=True,
            has_result=True,
            result=None,
            context=self.context,
        )
        t.events.append(Event(f"execution_{status}", data=error))
        await self._commit(t)
        if self.rt.children is not None and any(
            n.kind == "workflow" for n in self.wf.nodes.values()
        ):
            await self.rt.children.cancel_children(self.id)
        return status

    def idle_for(self) -> float:
        """Seconds since this driver last committed, while it is running (0 when waiting
        or paused: idling is their job)."""
        if self.status not in (RUNNING, PENDING) or self.settled_as is not None:
            return 0.0
        return time.monotonic() - self.last_progress

    async def _commit(self, t: Transition) -> None:
        """Store `t`, masked: the one way the driver writes (DESIGN.md §7, secrets are
        never stored)."""
        self.last_progress = time.monotonic()
        t = self.rt.masker.transition(t)
        await self.rt.store.apply(t)
        if self.rt.listeners:
            self.rt.notify(self.id, t.events)

    # -- attempts ------------------------------------------------------------------------

    def _launch(self, keys: list[str]) -> None:
        for key in keys:
            self.retry_at.pop(key, None)
            base, index = split_key(key)
            self.tasks[key] = asyncio.create_task(
                self._attempt(self.wf.nodes[base], self.numbers[key], index),
                name=f"{self.id}:{key}",
            )

    def _arm_retry(self, node_id: str, when: float) -> None:
        async def later() -> None:
            await asyncio.sleep(max(0.0, when - time.time()))
            self.inbox.put_nowait(RetryDue(node_id))

        self.timers[node_id] = asyncio.create_task(later(), name=f"{self.id}:{node_id}:retry")

    async def attempt_once(self, node_id: str, upstream: Any) -> Outcome:
        """Run one attempt of one node outside the graph (`fuchsia node run`): `upstream` is
        what the node's templates see as its data, and nothing is committed."""
        node = self.wf.nodes[node_id]
        if node.join is not None and isinstance(upstream, dict):
            self.outputs.update(upstream)
        elif node.after:
            self.outputs[node.after[0]] = upstream
        await self._attempt(node, 1)
        outcome = self.inbox.get_nowait()
        assert isinstance(outcome, Outcome)
        self._measure(outcome)  # shown as it would be stored: masked, within the caps
        return outcome

    async def _attempt(self, node: LockedNode, number: int, index: int | None = None) -> None:
        key = node.id if index is None else unit_key(node.id, index)
        limits = self.rt.limits
        outcome = Outcome(key, number, time.time())
        outcome.logs = BoundedLogs(limits.log_line, limits.log_volume)
        if node.kind == "component":
            outcome.effects = SideEffects(execution_scope(self.id), limits.side_effects)
        try:
            scope = self._scope(node, number)
            if index is not None:
                fan = self.fanouts[node.id]
                scope["item"], scope["index"] = fan.items[index], index
            try:
                outcome.inputs = node.render(scope)
            except RenderError as exc:
                field = f"{node.kind}.{exc.path}" if exc.path else node.kind
                raise InputError(f"{field}: {exc.message}") from None
            ctx = NodeContext(
                self.id,
                self.wf.name,
                node.id,
                number,
                node.timeout,
                self.rt.http,
                spec=node.spec,
                store=node_store(self.rt.store, self.rt.masker),
                components=self.rt.components,
                logs=outcome.logs,
                scope=scope,
                since=self.first_started.get(node.id),
                consumed=outcome.consumed,
                wakeup=self.rt.wakeup(self.id) if node.kind == "wait" else None,
                children=self.rt.children,
                child_key=f"{self.id}/{key}/{self.failures.get(key, 0)}",
                max_response=limits.response,
                effects=outcome.effects,
            )
            run = executor(node.kind)(outcome.inputs, ctx)
            if node.timeout is not None and node.kind != "transform":
                try:
                    async with asyncio.timeout(node.timeout):
                        outcome.output = await run
                except TimeoutError:
                    raise NodeTimeout(f"node timed out after {node.timeout}s") from None
            else:
                outcome.output = await run
            if node.render_context is not None:
                outcome.context = self._render_context(node, scope, outcome.output)
        except NodeError as exc:
            exc.execution_id, exc.node_id = self.id, node.id
            outcome.error = exc
        except Exception as exc:  # a bug in a node kind must fail the node, not the engine
            outcome.error = NodeError(
                f"internal error: {type(exc).__name__}: {exc}", retryable=False
            )
        if outcome.error is not None:
            _drop_frames(outcome.error)
        self.inbox.put_nowait(outcome)

    def _note_branch(self, node_id: str, output: Any) -> None:
        """Remember which successors a finished branch did not choose."""
        node = self.wf.nodes.get(node_id)
        if node is None or node.kind != "branch":
            return
        routes = output if isinstance(output, list) else [output]  # a foreach: one per item
        taken = {t for route in routes if isinstance(route, dict) for t in route.get("taken") or ()}
        for target in branch.conditional_targets(node.spec) - taken:
            self.skipped_edges.add((node_id, target))

    def _data_of(self, node_id: str) -> Any:
        """A node's output as its successors see it (a branch passes its input through)."""
        output = self.outputs.get(node_id)
        if self.wf.nodes[node_id].kind != "branch":
            return output
        if isinstance(output, list):  # a foreach branch: each item's data
            return [route.get("data") if isinstance(route, dict) else route for route in output]
        return output.get("data") if isinstance(output, dict) else output

    def _scope(self, node: LockedNode, number: int) -> dict[str, Any]:
        data: Any
        if node.hook is not None:
            status, error, result = self._verdict()
            data = {"status": status, "error": error, "result": result}
        elif not node.after:
            data = self.record.payload
        elif node.join is None:
            data = self._data_of(node.after[0])
        else:
            data = {
                up: self._data_of(up)
                for up in node.after
                if up in self.outputs and (up, node.id) not in self.skipped_edges
            }
        scope = dict(data) if isinstance(data, dict) else {}
        if node.join is not None:
            # every upstream is a name, None when it did not succeed: `a or b` picks the one
            # that ran; `data` holds only those that succeeded
            for up in node.after:
                scope.setdefault(up, None)
        scope["data"] = data
        if node.repeat is not None:
            scope["loop"] = {
                "iteration": self.iterations.get(node.id, 0) + 1,
                "previous": self.previous.get(node.id),
            }
        scope["context"] = self.context
        scope["secrets"] = self.rt.secrets
        scope["execution"] = {
            "id": self.id,
            "workflow": self.wf.name,
            "version": self.wf.version,
            "node": node.id,
            "attempt": number,
            "started_at": self.started_iso,
        }
        return scope

    def _render_context(self, node: LockedNode, scope: dict[str, Any], output: Any) -> Any:
        assert node.render_context is not None
        own = dict(output) if isinstance(output, dict) else {}
        own.update({k: scope[k] for k in ("context", "secrets", "execution")}, data=output)
        try:
            values = node.render_context(own)
        except RenderError as exc:
            raise InputError(f"context.{exc.path}: {exc.message}") from None
        return values


def _drop_frames(error: BaseException) -> None:
    """Keep a failed attempt's error as a value, without the frames it was raised through:
    they hold what the attempt ran on (a component's wasm store, its host's engine), and the
    error is held by the outcome their frames hold, a cycle that would keep them alive until
    a full garbage collection. Errors are stored and shown by type and message only."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        following = current.__cause__ or current.__context__
        current.__cause__ = current.__context__ = None
        current = following
