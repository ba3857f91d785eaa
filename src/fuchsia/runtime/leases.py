"""An engine's lease on what it drives, and the claims that make it a worker.

An engine renews its lease on the database's clock every third of it (`_heartbeat_loop`);
one that finds the lease passed meanwhile stops what other workers may have taken, and one
that cannot renew in time stops every attempt (`_lease_passed`, fired by a timer on the
event loop, `_arm_watchdog`, so a store whose every thread hangs cannot delay it) and drives
again what is still its own once the store answers. An engine with `slots` claims executions
nobody holds (`_claim_loop`): woken by a NOTIFY or a freed slot, and every second; each round
takes its even share of what is claimable (`fair_share`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fuchsia.errors import FuchsiaError
from fuchsia.logs import logger
from fuchsia.runtime.owner import Identity, gone, same_machine
from fuchsia.states import FINAL_STATUSES, Control, ExecutionStatus
from fuchsia.store.records import NodeRecord, OwnerRecord

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.runtime.driver import Driver
    from fuchsia.store import Store
    from fuchsia.store.records import ExecutionRecord

log = logger(__name__)

# An attempt's artifact blob is stored at once and its row with the attempt's success; a blob
# no row names once it is a day old was left by an attempt that never succeeded.
ORPHAN_BLOB_AGE = 24 * 3600.0
BLOB_SWEEP_EVERY = 6 * 3600.0
LEASE_MARGIN = 0.9  # an engine that could not renew stops its attempts after this much of it
STALE_OWNER_LEASES = 10  # owner rows whose lease passed this many leases ago are deleted
CLAIM_BACKOFF = 5.0  # seconds a worker claims nothing after one it could not read
POLL = 1.0  # seconds between claim rounds of a worker woken by NOTIFY (PostgreSQL)
POLL_UNNOTIFIED = 0.2  # ... and of one on a store that sends no notifications (SQLite)
PARKED_TIMER_HORIZON = 3600.0  # a parked timer due within this is woken here, on time
WORKFLOW_CACHE = 256  # locked workflows a worker keeps by hash
ENDING_DRIVER = 5.0  # seconds a claim round waits for a driver here that just parked its claim


class Leases:
    """The lease and claim half of `Engine` (mixed into it)."""

    store: Store
    identity: Identity
    name: str
    lease: float
    heartbeat_every: float
    control_every: float
    hung_after: float | None
    slots: int
    drives: bool
    _drivers: dict[str, asyncio.Task[str]]
    _driving: dict[str, Driver]
    _stopping: bool
    _heartbeat: asyncio.Task[None] | None
    _wake: asyncio.Event
    _claiming: asyncio.Task[None] | None
    _unlisten: Callable[[], None] | None
    _renewed: float
    _lease_lost: bool
    _stopped_for_lease: set[str]
    _workflows: dict[str, LockedWorkflow]
    _claim_pause: float
    _watchdog: asyncio.TimerHandle | None
    _beat_sent: float | None  # when the renewal in flight was sent (monotonic)

    if TYPE_CHECKING:

        def _drive(
            self, record: ExecutionRecord, locked: LockedWorkflow, nodes: dict[str, Any]
        ) -> None: ...
        async def _node_values(self, execution_id: str) -> dict[str, NodeRecord]: ...
        def _running_here(self) -> int: ...
        def _note_peers(self, live: list[OwnerRecord]) -> None: ...
        async def _share_round(self, others: bool, ready: int) -> None: ...
        async def _check_shared(self) -> None: ...
        def _interrupt_shared(self) -> None: ...

    async def _stop_claiming(self) -> None:
        """Take nothing more from the store, and say so (`draining`) in this owner's row."""
        if self._claiming is None:
            return
        self._claiming.cancel()
        await asyncio.gather(self._claiming, return_exceptions=True)
        self._claiming = None
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self._stopping = True
        with contextlib.suppress(FuchsiaError):
            await self._beat()

    async def _held_elsewhere(self, execution_id: str) -> bool:
        """Whether a live engine other than this one holds the execution."""
        owner = (await self.store.get_execution(execution_id)).owner
        if owner is None or owner == self.identity.id:
            return False
        return any(o.id == owner and o.alive for o in await self.store.owners())

    async def _beat(self) -> None:
        """Renew this engine's lease. When it had passed meanwhile (this process was stopped
        or cut off from the store for longer than the lease), other workers may have taken
        executions it drives: those stop here, and what they would commit is refused."""
        me = self.identity
        record = OwnerRecord(
            me.id,
            me.host,
            me.pid,
            me.started_at,
            0.0,  # the store stamps the heartbeat on its own clock
            machine=me.machine,
            name=self.name,
            slots=self.slots if self.drives and not self._stopping else 0,
            executions=len(self._drivers),
            running=self._running_here(),
            draining=self._stopping,
        )
        sent = time.monotonic()
        self._beat_sent = sent
        try:
            held = await self.store.heartbeat(record, self.lease)
        finally:
            self._beat_sent = None
        first = self._heartbeat is None
        self._renewed = sent  # the lease runs from a moment after this at the earliest
        self._arm_watchdog()
        if first:
            return
        owned: builtins.set[str] | None = None
        if not held or self._lease_lost:
            self._lease_lost = False
            owned = await self.store.owned(me.id)
            for execution_id, driver in list(self._driving.items()):
                if execution_id not in owned:
                    driver.request(Control.STOP)  # refused by the fence: attempts dropped
        # what `_lease_passed` stopped and is still this engine's goes on here
        stopped = {e for e in self._stopped_for_lease if e not in self._drivers}
        if stopped and self.drives and not self._stopping:
            owned = owned if owned is not None else await self.store.owned(me.id)
            self._stopped_for_lease -= stopped
            await self._adopt(stopped & owned)

    def _arm_watchdog(self, due: float | None = None) -> None:
        """Stop every attempt once `LEASE_MARGIN` of the lease passed since the last renewal,
        unless a renewal comes first. A timer on the event loop: it fires whatever the
        store's threads are blocked on (a connection black-holed mid-call), and whatever
        the heartbeat loop awaits."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if due is None:
            due = self._renewed + self.lease * LEASE_MARGIN
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(
            max(due - time.monotonic(), 0.0), self._watchdog_fired, due
        )

    def _watchdog_fired(self, due: float) -> None:
        """A renewal in flight gets a third of the lease however late it was sent, as the
        heartbeat loop gives it (its answer says whether the lease held meanwhile); so does
        the next renewal when this timer itself ran late (the event loop was blocked, and
        the attempts on it with it: a renewal, not the timer, tells whether they may go on)."""
        self._watchdog = None
        now = time.monotonic()
        grace = None if self._beat_sent is None else self._beat_sent + self.lease / 3
        if grace is None and now - due > self.lease * (1 - LEASE_MARGIN):
            grace = now + self.lease / 3
        if grace is not None and now < grace:
            self._arm_watchdog(grace)
        elif not self._lease_lost:
            self._lease_passed()

    def _lease_passed(self) -> None:
        """No renewal for a whole lease (the store unreachable): stop every attempt here, as
        another worker may run them now. What is still this engine's is driven again once
        the store answers (`_beat`)."""
        self._lease_lost = True
        log.error(
            "%s let its lease pass (%gs without a renewal): stopping its attempts; what is "
            "still its own goes on once the store answers",
            self.name,
            self.lease,
        )
        self._interrupt_shared()
        self._stopped_for_lease.update(self._driving)
        for driver in self._driving.values():
            driver.interrupt()  # now, even if the driver waits on a commit
            driver.request(Control.STOP)

    async def _adopt(self, ids: builtins.set[str]) -> None:
        """Drive executions this engine holds in the store but drives no more, each under a
        new claim number (claimed from itself): nothing its previous driver may still have
        in flight for it can commit."""
        me = self.identity.id
        for execution_id in sorted(ids):
            if execution_id in self._drivers or not await self.store.claim(execution_id, me, me):
                continue
            record = await self.store.get_execution(execution_id)
            if record.status in FINAL_STATUSES or record.owner != me:
                continue
            locked = await self._locked(record.workflow_hash)
            self._drive(record, locked, await self._node_values(execution_id))

    async def _claim_loop(self) -> None:
        """Take executions nobody holds, up to `slots` driven at once: when woken (a
        NOTIFY, a slot freed) and every `POLL` seconds (`POLL_UNNOTIFIED` on a store that
        sends no notifications, SQLite). Each round first gives up owners on this host whose
        process is gone, so their executions go on at once, not after their lease."""
        # what a claim drives (~0.2 s to import): loaded before the first claim, not by it
        import fuchsia.runtime.driver  # noqa: F401

        listen = getattr(self.store, "listen", None)
        poll = POLL if listen is not None else POLL_UNNOTIFIED
        if listen is not None:
            loop = asyncio.get_running_loop()
            self._unlisten = listen(lambda: loop.call_soon_threadsafe(self._wake.set), poll=poll)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._claim_round()
            except FuchsiaError:
                await asyncio.sleep(poll)  # the store is unavailable: the next round retries
            except Exception:  # a bug must not end claiming while the worker looks alive
                log.exception("worker %s: claim round failed", self.name)
                await asyncio.sleep(poll)

    def _wake_at(self, when: float) -> None:
        """Claim again at `when` (a parked execution's timer), not a poll later. Far-off
        timers are left to the polling: a parked wait for a signal never times out."""
        delay = when - time.time()
        if delay < PARKED_TIMER_HORIZON:
            loop = asyncio.get_running_loop()
            loop.call_later(max(delay, 0.0), self._wake.set)

    def _busy_slots(self) -> int:
        """Executions driven here that take a slot: a waiting or paused one holds none (a
        wait for an approval may take days)."""
        idle = (ExecutionStatus.WAITING, ExecutionStatus.PAUSED)
        return sum(1 for d in self._driving.values() if d.state.status not in idle)

    async def _locked(self, workflow_hash: str) -> LockedWorkflow:
        """The locked workflow stored under `workflow_hash` (kept: a hash names one)."""
        from fuchsia.definition.lock import LockedWorkflow

        locked = self._workflows.get(workflow_hash)
        if locked is None:
            if len(self._workflows) >= WORKFLOW_CACHE:
                self._workflows.clear()
            locked = LockedWorkflow.from_json(await self.store.get_workflow(workflow_hash))
            self._workflows[workflow_hash] = locked
        return locked

    async def _claim_round(self) -> None:
        if self._stopping or self._lease_lost:
            return
        me = self.identity
        free = self.slots - self._busy_slots()
        paused = time.monotonic() < self._claim_pause
        # more than a share for each worker changes no share: counted no further
        at_most = 0 if paused else max(free, 0)
        outlook = await self.store.outlook(at_most)
        gone_here = [o for o in outlook.owners if o.alive and same_machine(o, me) and gone(o)]
        for owner in gone_here:
            await self.store.forget_owner(owner.id)
        if gone_here:  # what they held is claimable now: in this round's count too
            outlook = await self.store.outlook(at_most)
        live = [o for o in outlook.owners if o.alive]
        self._note_peers(live)
        await self._share_round(any(o.id != me.id for o in live), outlook.ready_work)
        if free <= 0 or paused or not outlook.claimable:
            return
        share = fair_share(free, outlook.claimable, live, me.id)
        for claimed in await self.store.claim_open(me.id, share):
            if await self._driven_here(claimed.id):
                continue
            try:
                record = claimed.record or await self.store.get_execution(claimed.id)
                if record.owner != me.id or record.claim != claimed.claim:
                    continue  # taken from this engine since (its lease passed meanwhile)
                locked = await self._locked(record.workflow_hash)
                nodes = await self._node_values(claimed.id) if claimed.nodes else {}
            except Exception as exc:  # a key this worker lacks, a newer format: leave it
                log.warning("worker %s cannot run execution %s: %s", self.name, claimed.id, exc)
                with contextlib.suppress(FuchsiaError):
                    await self.store.release(claimed.id, me.id)
                self._claim_pause = time.monotonic() + CLAIM_BACKOFF
                continue
            self._drive(record, locked, nodes)

    async def _driven_here(self, execution_id: str) -> bool:
        """Whether a driver here still holds an execution this engine just claimed. One that
        parked it is waited for (its park and this claim may share a transaction, and the
        claim resume before the driver is done). One that still drives it lost it and took it
        back (A, B, then A): what its first tenure commits is refused, so it is stopped, and
        the next renewal drives the execution anew."""
        task, old = self._drivers.get(execution_id), self._driving.get(execution_id)
        if task is None or old is None:
            return False
        if old.parked_until is not None:
            done, _ = await asyncio.wait({task}, timeout=ENDING_DRIVER)
            return not done
        old.interrupt()
        old.request(Control.STOP)
        self._stopped_for_lease.add(execution_id)
        return True

    async def _deliver_controls(self) -> None:
        """Hand the drivers the requests left in the store for them, and the hung check;
        stop the shared attempts here that were withdrawn or handed on."""
        await self._check_shared()
        if self.hung_after is not None:
            for running in list(self._driving.values()):
                if running.idle_for() > self.hung_after:
                    running.request(Control.HUNG)
        if self._driving:
            for execution_id, control in await self.store.controls(self.identity.id):
                driver = self._driving.get(execution_id)
                if driver is not None:
                    driver.request(Control(control))

    async def _heartbeat_loop(self) -> None:
        """Renew this owner's lease, and deliver requests other processes left in the store
        for the executions this engine drives (a cancel from `fuchsia runs cancel`). With
        the first renewal and every `BLOB_SWEEP_EVERY` after, delete the blobs of artifacts
        that attempts stored and never committed (they failed, or were lost), once they are
        `ORPHAN_BLOB_AGE` old; a worker also deletes the rows of owners whose lease passed
        `STALE_OWNER_LEASES` leases ago."""
        last_beat = time.monotonic()
        next_sweep = last_beat
        controls: asyncio.Task[None] | None = None  # one read at a time, however long it hangs
        try:
            while True:
                await asyncio.sleep(self.control_every)
                if controls is None or controls.done():
                    controls = asyncio.create_task(self._controls_once())
                with contextlib.suppress(TimeoutError):  # a hung read: renew all the same
                    async with asyncio.timeout(self.lease / 3):
                        await asyncio.shield(controls)
                last_beat, next_sweep = await self._renew_in_time(last_beat, next_sweep)
        finally:
            if controls is not None:
                controls.cancel()

    async def _controls_once(self) -> None:
        """`_deliver_controls`, the store's errors ignored (the next round asks again)."""
        with contextlib.suppress(FuchsiaError):
            await self._deliver_controls()

    async def _renew_in_time(self, last_beat: float, next_sweep: float) -> tuple[float, float]:
        """Renew when `heartbeat_every` passed since `last_beat`; sweep when due. Returns
        the new (last_beat, next_sweep)."""
        if time.monotonic() - last_beat < self.heartbeat_every:
            return last_beat, next_sweep
        last_beat = time.monotonic()
        # stop in time: before the lease can have passed on the database's clock
        deadline = self._renewed + self.lease * LEASE_MARGIN
        try:  # at least a third of the lease for each try, however late the last one
            async with asyncio.timeout(max(deadline - last_beat, self.lease / 3)):
                await self._beat()
        except (FuchsiaError, TimeoutError) as exc:
            reason = str(exc) or "no answer in time"
            log.warning("%s cannot renew its lease: %s", self.name, reason)
            if time.monotonic() >= deadline and not self._lease_lost:
                self._lease_passed()
            return last_beat, next_sweep
        with contextlib.suppress(FuchsiaError):
            if last_beat >= next_sweep:
                next_sweep = last_beat + BLOB_SWEEP_EVERY
                await self.store.sweep_blobs(time.time() - ORPHAN_BLOB_AGE)
                if self.slots:
                    await self.store.forget_stale_owners(STALE_OWNER_LEASES * self.lease)
        if self.slots and self.drives:
            with contextlib.suppress(FuchsiaError):  # the next renewal reaps again
                await self.store.reclaim_lost()
        return last_beat, next_sweep


def fair_share(free: int, claimable: int, live: list[OwnerRecord], me: str) -> int:
    """How many executions one claim round takes: its free slots, but no more than an even
    split of what is claimable among the live workers with free slots (this one and those
    whose last renewal said so), so a burst is spread over the workers that can run it
    instead of filling whichever woke first. A worker alone takes everything it can."""
    return min(free, math.ceil(claimable / (1 + _free_peers(live, me))))


def _free_peers(live: list[OwnerRecord], me: str) -> int:
    """The live workers other than `me` whose last renewal said they had free slots."""
    return sum(1 for o in live if o.id != me and not o.draining and o.slots > o.executions)
