"""Shared attempts: a busy worker's attempts run by others, so one big foreach spreads out.

A worker's `slots` bound the attempts it runs at once as well as the executions it drives.
When a driver starts an attempt while this worker's attempts fill its slots and another live
worker has room (by its last renewal), the attempt is shared (`share`): its start commits as
usual, with a `work` row, and any worker with a free slot claims it (`_take_shared`), this
one too once a slot frees. The claimer runs it from the execution's stored state (cached per
execution while the foreach it belongs to runs), stores the outcome, fenced by its claim
number, and the owner folds it in (`_fold_finished`) in a transition that deletes the row,
so a chain of steps never pays a claim round trip and only attempts beyond a worker's slots
do. Only attempts of kinds that do the work (components, http) are shared: inline kinds run
in place, waits and sub-workflows park, and hooks and repeats read the whole state.

A claimer that lets its lease pass loses its claims to the reaper (`reclaim_lost`, every
renewal of any worker): the attempt runs again elsewhere, and its late outcome is refused.
One whose attempt was withdrawn (the execution was cancelled, ended, or taken over) stops
it at its next check (`_check_shared`). A claim whose attempt stops here without an outcome
(it could not be run, the store failed, it was cancelled) is handed back by that check, so a
live worker never holds a row nobody runs: the reaper only takes claims of workers whose
lease passed. A draining worker finishes its shared attempts within the grace period and
hands back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from fuchsia.errors import FuchsiaError, StoreError
from fuchsia.logs import logger
from fuchsia.observe import metrics
from fuchsia.runtime.leases import CLAIM_BACKOFF
from fuchsia.states import NodeStatus
from fuchsia.store.records import OwnerRecord, SharedAttempt, dumps

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.runtime.driver import Driver, Runtime
    from fuchsia.runtime.machine import State
    from fuchsia.runtime.owner import Identity
    from fuchsia.store import Store
    from fuchsia.store.records import NodeRecord
    from fuchsia.store.sharing import Key

log = logger(__name__)

VIEWS = 8  # executions whose state a worker keeps to run their shared attempts
# seconds a shared attempt waits for another worker before the one that shared it runs it
# itself, as it would have without sharing: sharing never takes capacity away (a worker woken
# by NOTIFY claims in milliseconds; one on SQLite polls every 0.2 s)
PATIENCE = 1.0
TAKE_BACK = 1000  # shared attempts an owner takes back in one claim


class Sharing:
    """The shared-attempt half of `Engine` (mixed into it)."""

    store: Store
    identity: Identity
    name: str
    slots: int
    _driving: dict[str, Driver]
    _wake: asyncio.Event
    _shared: dict[Key, tuple[SharedAttempt, asyncio.Task[bool]]]
    _peers_room: int  # free slots of the other live workers, less what was shared since
    share_patience: float  # seconds before this engine runs its own unclaimed shared attempts
    _views: OrderedDict[str, State]
    # claims taken here whose attempt stopped without an outcome: handed back by the next
    # `_check_shared` (by key, with the claim number the hand-back is fenced by)
    _unfinished: dict[Key, int]
    _claim_pause: float  # no claims of other workers' attempts before this (monotonic)

    if TYPE_CHECKING:

        @property
        def _runtime(self) -> Runtime: ...

        async def _locked(self, workflow_hash: str) -> LockedWorkflow: ...
        async def _node_values(self, execution_id: str) -> dict[str, NodeRecord]: ...

    def _running_here(self) -> int:
        """Attempts running in this process: its drivers' and the shared ones it claimed."""
        drivers = self._driving.values()
        return sum(len(d.tasks) + d.launching for d in drivers) + len(self._shared)

    def _share(self, starting: int) -> bool:
        """`Runtime.share`: whether an attempt about to start (after `starting` others this
        step starts here) is left for any worker to run."""
        if self._peers_room <= 0 or self._running_here() + starting < self.slots:
            return False
        self._peers_room -= 1
        return True

    def _note_peers(self, live: list[OwnerRecord]) -> None:
        """The other workers' free slots, as their last renewals counted them."""
        me = self.identity.id
        self._peers_room = sum(
            max(o.slots - o.running, 0) for o in live if o.id != me and not o.draining
        )

    async def _share_round(self, others: bool, ready: int) -> None:
        """Fold in what workers finished of this engine's shared attempts; claim shared
        attempts while slots are free (there may be some while another worker is alive, or
        this engine shared some: its own, handed back by a worker that went). `ready`:
        how many shared attempts waited for a worker when the round began."""
        sharing = await self._settle_shared()
        room = self.slots - self._running_here()
        if room <= 0 or time.monotonic() < self._claim_pause:
            return
        if (others or sharing) and ready:
            await self._take_shared(room)

    async def _settle_shared(self) -> bool:
        """Fold in what workers finished of the attempts this engine's drivers shared, and
        run here those nobody took in time (as they would have run without sharing): in
        every claim round, and while a closing engine lets its drivers settle, when nothing
        claims any more. Whether any driver here has shared attempts out."""
        sharing = any(d.shared for d in self._driving.values())
        if sharing:
            await self._fold_finished()
            await self._take_shared(TAKE_BACK, own_after=self.share_patience)
        return sharing

    async def _fold_finished(self) -> None:
        from fuchsia.runtime.work import from_json

        for (execution_id, unit, attempt), data in await self.store.finished_work(self.identity.id):
            driver = self._driving.get(execution_id)
            if driver is not None and isinstance(data, dict):
                driver.deliver(unit, from_json(unit, attempt, data))

    async def _take_shared(self, room: int, own_after: float | None = None) -> None:
        me = self.identity.id
        for work in await self.store.claim_work(me, self.name, room, own_after=own_after):
            key = (work.execution_id, work.unit, work.attempt)
            task = asyncio.create_task(self._run_shared(work), name=f"shared:{key}")
            self._shared[key] = (work, task)

            def done(
                _: object, work: SharedAttempt = work, task: asyncio.Task[bool] = task
            ) -> None:
                key = (work.execution_id, work.unit, work.attempt)
                if self._shared.get(key, (None, None))[1] is task:
                    del self._shared[key]
                if task.cancelled() or task.exception() is not None or not task.result():
                    self._unfinished[key] = work.claim  # stopped here: handed back
                self._wake.set()  # a slot is free

            task.add_done_callback(done)

    async def _run_shared(self, work: SharedAttempt) -> bool:
        """Run a claimed attempt and store its outcome for the owner; an outcome the store
        refuses (the attempt was withdrawn or claimed again since) is counted. Whether the
        store answered the completion (False: the attempt could not be run or its outcome
        stored, and its claim is handed back; this worker claims nobody's attempts for a
        while, as after an execution it could not read)."""
        from fuchsia.runtime import attempts
        from fuchsia.runtime.work import to_json

        me = self.identity.id
        try:
            view = await self._view(work)
            node = view.workflow.nodes[work.unit.node]
            metrics.recorder.attempt_queued(view.workflow.name, node.kind, work.waited)
            rt = self._runtime
            outcome = await attempts.run(rt, view, node, work.attempt, work.unit.item)
            attempts.measure(rt, view, outcome)
            if not await self.store.finish_work(work, me, dumps(to_json(outcome))):
                with contextlib.suppress(StoreError):
                    await self.store.reject(
                        work.execution_id,
                        [(work.unit, work.attempt)],
                        self.name,
                        "withdrawn",
                        owner=me,
                    )
            return True
        except FuchsiaError as exc:  # a key this worker lacks, the store: handed back
            log.warning("worker %s: shared attempt %s: %s", self.name, work.unit, exc)
        except Exception:  # a bug must not end this worker: handed back
            log.exception("worker %s: shared attempt %s failed", self.name, work.unit)
        self._claim_pause = time.monotonic() + CLAIM_BACKOFF
        return False

    async def _view(self, work: SharedAttempt) -> State:
        """The execution's state to run `work` from: kept while it holds what the attempt
        reads (its foreach's items of that expansion, its upstream outputs), with the
        execution's context read afresh."""
        from fuchsia.runtime import machine
        from fuchsia.runtime.machine import State

        record = await self.store.get_execution(work.execution_id)
        state = self._views.get(work.execution_id)
        if state is not None and _covers(state, work):
            self._views.move_to_end(work.execution_id)
            state.context = dict(record.context or {})
            return state
        locked = await self._locked(record.workflow_hash)
        nodes = await self._node_values(work.execution_id)
        state = machine.load(State.from_records(locked, record, nodes))
        self._views[work.execution_id] = state
        while len(self._views) > VIEWS:
            self._views.popitem(last=False)
        return state

    async def _check_shared(self) -> None:
        """Stop the shared attempts running here that are no longer this worker's to run:
        withdrawn by their owner, or handed to another worker; hand back the claims whose
        attempt stopped here without an outcome. Only attempts claimed before the read of
        what this worker holds are judged by it (a claim round may run meanwhile)."""
        me = self.identity.id
        if self._unfinished:
            unfinished = dict(self._unfinished)
            await self.store.release_claims(me, list(unfinished.items()))
            for key, claim in unfinished.items():
                if self._unfinished.get(key) == claim:
                    del self._unfinished[key]
        if not self._shared:
            return
        running = list(self._shared.items())
        held = await self.store.held_work(me)
        for key, (work, task) in running:
            if (key, work.claim) not in held and not task.done():
                task.cancel()

    def _interrupt_shared(self) -> None:
        """Stop every shared attempt here at once (the lease passed: others may run them)."""
        for _, task in self._shared.values():
            task.cancel()

    async def _stop_sharing(self, deadline: float) -> None:
        """Let the shared attempts here finish until `deadline` (monotonic), then stop the
        rest and hand them back to the others."""
        tasks = [task for _, task in self._shared.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=max(deadline - time.monotonic(), 0.0))
        self._interrupt_shared()
        rest = [task for _, task in self._shared.values()]
        if rest:
            await asyncio.gather(*rest, return_exceptions=True)
        if tasks or self._unfinished:
            with contextlib.suppress(FuchsiaError):
                await self.store.release_work(self.identity.id)
                self._unfinished.clear()


def _covers(state: State, work: SharedAttempt) -> bool:
    """Whether a kept state holds what `work`'s attempt reads: its foreach's items as the
    expansion it belongs to rendered them, or its upstream nodes settled."""
    node = state.workflow.nodes.get(work.unit.node)
    if node is None:
        return False
    if work.unit.item is not None:
        return node.id in state.items and state.numbers.get(state.keys[node.id]) == work.parent
    settled = state.statuses
    return all(
        NodeStatus(settled.get(state.keys[up], NodeStatus.PENDING)).is_settled for up in node.after
    )
