"""Driving executions (`Engine`, mixed into it): one driver task per execution this engine
holds, driven to a final status, driven anew from what is stored after a store outage, and
taking over open executions whose owner is gone."""

from __future__ import annotations

import asyncio
import builtins
import time
from typing import TYPE_CHECKING, Any

from fuchsia.errors import StoreError
from fuchsia.logs import logger
from fuchsia.runtime import arguments
from fuchsia.runtime.owner import is_dead
from fuchsia.states import Control, ExecutionStatus
from fuchsia.store import OwnershipLost, StoreUnavailable

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.observe.telemetry import Telemetry
    from fuchsia.runtime.driver import Driver, Runtime
    from fuchsia.runtime.owner import Identity
    from fuchsia.runtime.views import Execution
    from fuchsia.store import Store
    from fuchsia.store.records import ExecutionRecord, NodeRecord

log = logger(__name__)


class Driving:
    """The drivers of the executions this engine holds (mixed into `Engine`)."""

    store: Store
    identity: Identity
    telemetry: Telemetry
    slots: int
    drives: bool
    _drivers: dict[str, asyncio.Task[str]]
    _driving: dict[str, Driver]
    _stopping: bool
    _wake: asyncio.Event

    if TYPE_CHECKING:

        @property
        def _runtime(self) -> Runtime: ...
        async def _node_values(self, execution_id: str) -> dict[str, NodeRecord]: ...
        def _wake_at(self, when: float) -> None: ...
        async def _locked(self, workflow_hash: str) -> LockedWorkflow: ...
        async def wait(self, execution_id: str, *, poll: float = 0.2) -> Execution: ...

    def _drive(
        self, record: ExecutionRecord, locked: LockedWorkflow, nodes: dict[str, Any]
    ) -> None:
        from fuchsia.runtime.driver import Driver

        if record.id in self._drivers:  # one driver per execution: a second would commit too
            return
        driver = Driver(self._runtime, record, locked, nodes)
        task = asyncio.create_task(self._guarded(driver), name=f"execution:{record.id}")
        self._drivers[record.id] = task
        self._driving[record.id] = driver

        def forget(_: object) -> None:
            last = self._driving.get(record.id, driver)  # a redrive replaces the driver
            if self._drivers.get(record.id) is task:
                self._drivers.pop(record.id, None)
                self._driving.pop(record.id, None)
            if self.slots:
                self._wake.set()  # a slot is free
                if last.parked_until is not None:
                    self._wake_at(last.parked_until)

        task.add_done_callback(forget)

    async def _guarded(self, driver: Driver) -> str:
        """Drive to a final status. When the store stays unavailable past its writer's
        retries, the driver stops (its state is ahead of the store); once the store answers
        again the execution is driven anew from what is stored, so an outage strands no
        execution (attempts it interrupted run again; committed nodes do not)."""
        delay = 0.1
        fields = {"execution_id": driver.id, "workflow": driver.wf.name}
        fields |= self.telemetry.log_fields(driver.state.trace)  # to find its trace
        log.info("driving execution %s of %s", driver.id, driver.wf.name, extra=fields)
        started = time.monotonic()
        while True:
            try:
                status = await driver.run()
            except OwnershipLost:
                log.info("execution %s was taken over", driver.id, extra=fields)
                return "lost"
            except StoreUnavailable as exc:
                log.warning(
                    "execution %s: the store is unavailable: %s", driver.id, exc, extra=fields
                )
                driver = await self._redrive(driver, delay)
                delay = min(delay * 2, 5.0)
                continue
            except Exception:
                log.exception(
                    "execution %s: driving failed (internal error)", driver.id, extra=fields
                )
                raise
            seconds = round(time.monotonic() - started, 3)
            ended = {**fields, "status": status, "seconds": seconds}
            log.info("execution %s %s after %.3fs", driver.id, status, seconds, extra=ended)
            return status

    async def _redrive(self, old: Driver, delay: float) -> Driver:
        """A new driver for `old`'s execution, from its stored state once it can be read."""
        from fuchsia.runtime.driver import Driver

        while True:
            await asyncio.sleep(delay)
            try:
                record, nodes = await self._stored_state(old.id)
            except StoreError:
                delay = min(delay * 2, 5.0)
                continue
            if record.owner != self.identity.id or record.claim != old.claim:
                raise OwnershipLost(f"execution {old.id} is now owned by {record.owner}")
            driver = Driver(self._runtime, record, old.wf, nodes)
            driver.draining = old.draining
            if self._stopping:
                driver.request(Control.STOP)
            self._driving[old.id] = driver
            return driver

    async def _stored_state(self, execution_id: str) -> tuple[ExecutionRecord, dict[str, Any]]:
        """An execution's record and node records as a driver starts from them."""
        record = await self.store.get_execution(execution_id)
        return record, await self._node_values(execution_id)

    async def _lift_pauses(self, ids: builtins.list[str]) -> None:
        """Paused ones of `ids` go on; their driver may be elsewhere."""
        for execution_id in ids:
            if (await self.store.get_execution(execution_id)).status == ExecutionStatus.PAUSED:
                await self.store.request(execution_id, Control.RESUME)
                driver = self._driving.get(execution_id)
                if driver is not None:
                    driver.request(Control.RESUME)

    async def resume(
        self, ids: builtins.list[str] | None = None, *, wait: bool = True
    ) -> builtins.list[str]:
        """Take over open executions whose owner is gone and drive them.

        With `ids`, only those (an id whose owner is alive is left alone); without, every
        open execution in the store. Returns the ids this engine now drives.
        """
        if ids is not None:
            ids = arguments.ids(ids)
        await self._lift_pauses(ids or [])
        if not self.drives:  # the workers drive
            return []
        return await self._take_over(set(ids) if ids is not None else None, wait=wait)

    async def _take_over(
        self, wanted: builtins.set[str] | None, *, wait: bool, parked: bool = False
    ) -> builtins.list[str]:
        """Claim and drive open executions whose owner is gone. A parked one is the
        workers' (any of them takes it when it wakes, and its wait goes on as the same
        attempt), so only a cancel (`parked`) takes it here: it ends at once."""

        taken: list[str] = []
        for item in await self.store.open_executions():
            if wanted is not None and item.id not in wanted:
                continue
            if item.id in self._drivers or item.owner_id == self.identity.id:
                continue
            if item.owner_id is not None and not is_dead(item.owner, me=self.identity):
                continue
            if item.owner_id is None and not parked and await self._parked(item.id):
                continue
            if not await self.store.claim(item.id, self.identity.id, item.owner_id):
                continue
            record = await self.store.get_execution(item.id)
            if record.owner != self.identity.id:
                continue  # taken by another since (this engine's lease passed meanwhile)
            locked = await self._locked(record.workflow_hash)
            self._drive(record, locked, await self._node_values(item.id))
            taken.append(item.id)
        if wait:
            await asyncio.gather(*(self.wait(i) for i in taken))
        return taken

    async def _parked(self, execution_id: str) -> bool:
        return (await self.store.get_execution(execution_id)).parked_until is not None
