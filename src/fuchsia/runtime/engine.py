"""`fuchsia.Engine`: the Python API (async first) over a store and a set of drivers.

An engine is one owner: it registers itself in the store, heartbeats while open, and drives
the executions it started or resumed. Closing it stops driving without marking anything: its
owner row is removed, so any other engine may resume its open executions at once.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from fuchsia import payload as payloads
from fuchsia.definition.lock import LockedWorkflow, load
from fuchsia.errors import FuchsiaError, PayloadError
from fuchsia.runtime.driver import Driver, Listener, Runtime
from fuchsia.runtime.owner import current_identity, is_dead
from fuchsia.runtime.views import Execution, execution_view
from fuchsia.store import OwnershipLost, Store, open_store
from fuchsia.store.records import (
    FINAL_STATUSES,
    ExecutionRecord,
    NewExecution,
    OwnerRecord,
    new_id,
)
from fuchsia.templates import RenderError

DEFAULT_HOME = ".fuchsia"
WorkflowRef = str | Path | LockedWorkflow


def default_db(home: str | Path | None = None) -> str:
    """The store URL: `FUCHSIA_DB`, else `fuchsia.db` under `FUCHSIA_HOME` (default .fuchsia)."""
    if env := os.environ.get("FUCHSIA_DB"):
        return env
    base = Path(home if home is not None else os.environ.get("FUCHSIA_HOME", DEFAULT_HOME))
    return str(base / "fuchsia.db")


class Engine:
    """Run, inspect and resume workflow executions.

    ```python
    async with await Engine.open() as engine:
        execution = await engine.run("examples/hello.yaml", {"name": "Ada"})
        print(execution.status, execution.result)
    ```
    """

    def __init__(
        self,
        store: Store,
        *,
        secrets: dict[str, str] | None = None,
        lease: float = 30.0,
        heartbeat_every: float = 5.0,
    ) -> None:
        self.store = store
        self.identity = current_identity()
        self.lease = lease
        self.heartbeat_every = heartbeat_every
        self._http = httpx.AsyncClient()
        self._runtime = Runtime(store, self.identity.id, self._http, dict(secrets or {}))
        self._drivers: dict[str, asyncio.Task[str]] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        db: str | None = None,
        *,
        home: str | Path | None = None,
        secrets: dict[str, str] | None = None,
        lease: float = 30.0,
    ) -> Engine:
        """Open the store (creating and migrating it if needed) and register this engine."""
        store = open_store(db or default_db(home))
        await store.open()
        engine = cls(store, secrets=secrets, lease=lease)
        try:
            await engine._beat()
        except BaseException:
            await store.close()
            raise
        engine._heartbeat = asyncio.create_task(engine._heartbeat_loop())
        return engine

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop driving (running executions stay resumable) and release the store."""
        tasks = [*self._drivers.values(), *([self._heartbeat] if self._heartbeat else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._drivers.clear()
        with contextlib.suppress(FuchsiaError):
            await self.store.forget_owner(self.identity.id)
        await self._http.aclose()
        await self.store.close()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(execution_id, events)` after every commit this engine makes."""
        self._runtime.listeners.append(listener)
        return lambda: self._runtime.listeners.remove(listener)

    # -- starting ------------------------------------------------------------------------

    async def start(
        self,
        workflow: WorkflowRef,
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
        detached: bool = False,
    ) -> str:
        """Create an execution and start driving it; return its id at once.

        With an idempotency key already used, nothing new is created and the existing
        execution's id is returned. `detached=True` only records the execution, unowned, for
        another process (`fuchsia runs resume ID`) to drive.
        """
        locked = workflow if isinstance(workflow, LockedWorkflow) else load(workflow)
        payload = {} if payload is None else payload
        payloads.check(payload, schema=locked.trigger_schema)
        execution_id = new_id()
        new = NewExecution(
            id=execution_id,
            workflow_hash=locked.hash,
            workflow_name=locked.name,
            workflow_version=locked.version,
            workflow_document=locked.to_json(),
            payload=payload,
            context=self._trigger_context(locked, execution_id, payload),
            idempotency_key=idempotency_key,
            owner=None if detached else self.identity.id,
        )
        record, created = await self.store.create_execution(new)
        if created and not detached:
            self._drive(record, locked, {})
        elif not created and record.status not in FINAL_STATUSES and not detached:
            await self.resume([record.id], wait=False)
        return record.id

    async def run(
        self, workflow: WorkflowRef, payload: Any = None, *, idempotency_key: str | None = None
    ) -> Execution:
        """Start an execution and wait for it to finish."""
        return await self.wait(await self.start(workflow, payload, idempotency_key=idempotency_key))

    def _trigger_context(self, locked: LockedWorkflow, execution_id: str, payload: Any) -> Any:
        scope = dict(payload) if isinstance(payload, dict) else {}
        scope.update(
            data=payload,
            context={},
            secrets=self._runtime.secrets,
            execution={"id": execution_id, "workflow": locked.name, "version": locked.version},
        )
        try:
            values = locked.render_trigger_context(scope)
        except RenderError as exc:
            raise PayloadError(f"trigger.context.{exc.path}: {exc.message}") from None
        return values if isinstance(values, dict) else {}

    # -- driving -------------------------------------------------------------------------

    def _drive(
        self, record: ExecutionRecord, locked: LockedWorkflow, nodes: dict[str, Any]
    ) -> None:
        driver = Driver(self._runtime, record, locked, nodes)
        task = asyncio.create_task(self._guarded(driver), name=f"execution:{record.id}")
        self._drivers[record.id] = task
        task.add_done_callback(lambda _: self._drivers.pop(record.id, None))

    async def _guarded(self, driver: Driver) -> str:
        try:
            return await driver.run()
        except OwnershipLost:
            return "lost"

    async def resume(
        self, ids: builtins.list[str] | None = None, *, wait: bool = True
    ) -> builtins.list[str]:
        """Take over open executions whose owner is gone and drive them.

        With `ids`, only those (an id whose owner is alive is left alone); without, every
        open execution in the store. Returns the ids this engine now drives.
        """
        wanted = set(ids) if ids is not None else None
        taken: list[str] = []
        for item in await self.store.open_executions():
            if wanted is not None and item.id not in wanted:
                continue
            if item.id in self._drivers or item.owner_id == self.identity.id:
                continue
            if item.owner_id is not None and not is_dead(
                item.owner, lease=self.lease, me=self.identity
            ):
                continue
            if not await self.store.claim(item.id, self.identity.id, item.owner_id):
                continue
            record = await self.store.get_execution(item.id)
            locked = LockedWorkflow.from_json(await self.store.get_workflow(record.workflow_hash))
            self._drive(record, locked, await self.store.get_nodes(item.id))
            taken.append(item.id)
        if wait:
            await asyncio.gather(*(self.wait(i) for i in taken))
        return taken

    # -- inspecting ----------------------------------------------------------------------

    async def wait(self, execution_id: str, *, poll: float = 0.2) -> Execution:
        """Wait until the execution reaches a final status (or this engine stops driving it)."""
        task = self._drivers.get(execution_id)
        if task is not None:
            await asyncio.shield(task)
        else:
            while (await self.store.get_execution(execution_id)).status not in FINAL_STATUSES:
                await asyncio.sleep(poll)
        return await self.get(execution_id)

    async def get(self, execution_id: str) -> Execution:
        """An execution with its node runs; a unique id prefix is accepted."""
        full = (
            execution_id if len(execution_id) >= 26 else await self.store.resolve_id(execution_id)
        )
        record = await self.store.get_execution(full)
        locked = LockedWorkflow.from_json(await self.store.get_workflow(record.workflow_hash))
        return execution_view(record, await self.store.get_nodes(full), locked)

    async def list(
        self, *, limit: int = 50, status: str | None = None
    ) -> builtins.list[ExecutionRecord]:
        """Execution records, newest first."""
        return await self.store.list_executions(limit=limit, status=status)

    async def events(self, execution_id: str, after: int = 0) -> builtins.list[Any]:
        return await self.store.get_events(execution_id, after)

    # -- ownership -----------------------------------------------------------------------

    async def _beat(self) -> None:
        me = self.identity
        await self.store.heartbeat(OwnerRecord(me.id, me.host, me.pid, me.started_at, time.time()))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_every)
            with contextlib.suppress(FuchsiaError):
                await self._beat()


__all__ = ["Engine", "default_db"]
