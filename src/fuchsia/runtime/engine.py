"""`fuchsia.Engine`: the Python API (async first) over a store and a set of drivers.

An engine is one owner: it registers itself in the store, renews its lease (on the database's
clock) while open, and drives the executions it started, resumed or claimed. An engine with
`slots` is a worker: it also takes executions nobody holds from the store (recorded detached,
or left by an owner that is gone or let its lease pass), up to that many at once. Closing it
stops driving: the attempts still running are recorded interrupted, its owner row is removed,
and any other engine may take its open executions at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import functools
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fuchsia.config import Settings
from fuchsia.errors import (
    FuchsiaError,
    InvalidState,
    NodeNotFound,
    PayloadError,
    RequestError,
)
from fuchsia.logs import logger
from fuchsia.observe import metrics, setup
from fuchsia.observe.telemetry import OFF, Telemetry
from fuchsia.runtime import arguments
from fuchsia.runtime.deployments import Deployments, TriggerAnswer
from fuchsia.runtime.driving import Driving
from fuchsia.runtime.idempotency import check_key as check_idempotency_key
from fuchsia.runtime.idempotency import refuse_other_request
from fuchsia.runtime.inspection import Inspection
from fuchsia.runtime.leases import Leases
from fuchsia.runtime.limits import LimitExceeded, Limits, size_text
from fuchsia.runtime.owner import current_identity
from fuchsia.runtime.reruns import Reruns
from fuchsia.runtime.sharing import PATIENCE, Sharing
from fuchsia.runtime.views import (
    Execution,
)
from fuchsia.states import (
    FINAL_STATUSES,
    Control,
    ExecutionStatus,
)
from fuchsia.store import Store, StoreUnavailable, StoreUnwritable, open_store
from fuchsia.store.records import (
    ExecutionRecord,
    KvChanges,
    NewExecution,
    new_id,
)

log = logger(__name__)

# What only running a workflow needs (the definition models, the HTTP client, the drivers,
# the wasm host) is imported where it is used: `fuchsia runs list` does not pay for it.
if TYPE_CHECKING:
    import httpx

    from fuchsia.components.registry import Registry
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.definition.source import Source
    from fuchsia.nodes.component import ComponentRuntime
    from fuchsia.runtime.driver import Driver, Listener, Runtime
    from fuchsia.runtime.machine import State
    from fuchsia.runtime.work import Outcome
    from fuchsia.store.cipher import Keyring
    from fuchsia.store.records import SharedAttempt
    from fuchsia.store.sharing import Key

    WorkflowRef = str | Path | LockedWorkflow


PARK_AFTER = 2.0  # seconds of only waits before a worker parks an execution (Engine.park_after)
STOP_TIMEOUT = 5.0  # seconds a closing engine waits for its drivers to record their stop
# seconds beyond its grace and its drivers' stop a closing engine's writes may take: a store
# that does not answer then fails them (its leases pass; other workers take its executions)
CLOSE_WRITES = 5.0


def home_path(home: str | Path | None = None) -> Path:
    """Where Fuchsia keeps its state: `home`, else `FUCHSIA_HOME`, else `.fuchsia`."""
    return Settings.load(home=home).home


def cache_dir(home: str | Path | None = None) -> Path:
    """Where compiled components are cached: `FUCHSIA_CACHE`, else `cache/` under the home.
    Sharing one cache between homes (CI, test suites) compiles each component once."""
    return Settings.load(home=home).cache_dir


def default_db(home: str | Path | None = None) -> str:
    """The store URL: `FUCHSIA_DB`, else `fuchsia.db` under the home directory."""
    return Settings.load(home=home).store_url


def default_inline_limit() -> int:
    """Bytes of JSON above which a value is stored as an artifact: `FUCHSIA_INLINE_LIMIT`,
    else 256 KiB."""
    return Settings.load().inline_limit


def default_registry(home: str | Path | None = None) -> Registry:
    """The component registry under the home directory."""
    from fuchsia.components.registry import Registry

    return Registry(Settings.load(home=home).registry_root)


class Engine(Deployments, Driving, Inspection, Leases, Reruns, Sharing):
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
        home: str | Path | None = None,
        secrets: dict[str, str] | None = None,
        lease: float = 30.0,
        heartbeat_every: float = 5.0,
        hung_after: float | None = None,
        settings: Settings | None = None,
        limits: Limits | None = None,
        name: str | None = None,
        slots: int = 0,
        drives: bool = True,
        park_after: float | None = PARK_AFTER,
        telemetry: Telemetry = OFF,
    ) -> None:
        self.telemetry = telemetry  # spans and log records (`fuchsia.observe`), or none
        self.settings = settings if settings is not None else Settings.load(home=home)
        if home is not None:
            self.settings = dataclasses.replace(self.settings, home=Path(home))
        self.store = store
        self.home = self.settings.home
        self._components: ComponentRuntime | None = None
        self.identity = current_identity()
        self.name = name or f"{self.identity.host}:{self.identity.pid}"
        self.lease = lease
        self.heartbeat_every = min(heartbeat_every, lease / 3)
        # a worker: executions nobody holds are claimed from the store, this many at once
        self.slots = slots
        # False (`fuchsia serve --no-worker`): executions are recorded for workers to run,
        # and nothing is driven here
        self.drives = drives
        # a worker hands an execution back to the store once only waits have been open in
        # it this long (None: never): it holds no memory or slot until it is woken
        self.park_after = park_after if slots and drives else None
        self._wake = asyncio.Event()  # work may be claimable: a NOTIFY, a slot freed
        self._claiming: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None
        self._renewed = time.monotonic()  # the last renewal that held the lease
        self._watchdog: asyncio.TimerHandle | None = None  # stops attempts if none follows
        self._beat_sent: float | None = None
        self._lease_lost = False
        self._stopped_for_lease: set[str] = set()  # stopped by `_lease_passed`, to go on
        self._workflows: dict[str, LockedWorkflow] = {}  # by hash (`_locked`)
        self._claim_pause = 0.0  # no claims before this (monotonic): one could not be read
        self._shared: dict[Key, tuple[SharedAttempt, asyncio.Task[bool]]] = {}  # claimed here
        self._peers_room = 0  # the other workers' free slots at the last claim round
        self.share_patience = PATIENCE  # then an attempt it shared and nobody took runs here
        self._views: OrderedDict[str, State] = OrderedDict()  # to run shared attempts from
        self._unfinished: dict[Key, int] = {}  # claims to hand back (`Sharing._check_shared`)
        self.hung_after = hung_after
        self._secrets = dict(secrets if secrets is not None else self.settings.secrets)
        self._limits = limits or Limits()
        self._drivers: dict[str, asyncio.Task[str]] = {}
        self._driving: dict[str, Driver] = {}
        self._http: httpx.AsyncClient | None = None
        self._stopping = False  # closing: every driver, also one made anew, is asked to stop
        self.control_every = 0.25
        self._heartbeat: asyncio.Task[None] | None = None

    @functools.cached_property
    def registry(self) -> Registry:
        """The component registry under this engine's home."""
        from fuchsia.components.registry import Registry

        return Registry(self.settings.registry_root)

    @functools.cached_property
    def _runtime(self) -> Runtime:
        """What the drivers share, made when the first execution is driven or subscribed
        to: an engine that only reads the store never imports it (nor its HTTP client, made
        by the first http node)."""
        from fuchsia.runtime.driver import Runtime

        runtime = Runtime(
            self.store,
            self.identity.id,
            self._http_client,
            self._secrets,
            components=self._component_runtime,
            limits=self._limits,
            worker=self.name,
            park_after=self.park_after,
            share=self._share if self.slots and self.drives else None,
            telemetry=self.telemetry,
        )
        runtime.children = self
        self.telemetry.bind(runtime.masker)
        return runtime

    def _http_client(self) -> httpx.AsyncClient:
        """The HTTP client every http node of this engine shares, made on first use."""
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient()
        return self._http

    @classmethod
    async def open(
        cls,
        db: str | None = None,
        *,
        home: str | Path | None = None,
        secrets: dict[str, str] | None = None,
        lease: float | None = None,
        hung_after: float | None = None,
        inline_limit: int | None = None,
        keys: Keyring | None = None,
        settings: Settings | None = None,
        limits: Limits | None = None,
        name: str | None = None,
        slots: int = 0,
        drives: bool = True,
        park_after: float | None = PARK_AFTER,
        tracer_provider: Any = None,
        logger_provider: Any = None,
        meter_provider: Any = None,
    ) -> Engine:
        """Open the store (creating and migrating it if needed) and register this engine.

        `settings` (default: `Settings.load()`, the `FUCHSIA_*` variables read and validated
        once, see `fuchsia.config`) gives the home, store, cache, inline limit, hung-after
        period and secrets; each explicit argument wins over its setting. `hung_after`
        (seconds): fail an execution that is running (not waiting or paused) but has
        committed nothing for that long, as hung. `inline_limit` (bytes): inputs, outputs and
        results whose JSON is larger are stored as artifacts, not in their rows. `keys`:
        encrypt what is stored with the first key and decrypt with any (default
        `FUCHSIA_ENCRYPTION_KEY[_FILE]`, else none). `limits`: the caps on what an attempt
        may store (outputs 64 MiB, http response bodies 10 MiB, log lines 16 KiB and 1 MiB of
        them per attempt, by default); a node over one fails with `limit_exceeded`.
        `lease` (seconds, default `FUCHSIA_LEASE` or 30): how long what this engine drives
        stays its own without a renewal (renewed every third of it). `name`: how workers
        lists and attempt records show it (default HOST:PID). `slots` > 0 makes it a worker:
        it claims executions nobody holds (recorded detached, or whose owner is gone or let
        its lease pass), that many at once, woken by PostgreSQL's NOTIFY or by polling.
        `drives=False` records every execution for workers to run and drives none here.
        `park_after` (seconds, a worker only; None: never): an execution whose only open work
        has been waits or sub-workflows for this long (or retries due later than that) is
        parked, handed back to the store with no process holding it, and woken on any worker
        by its signal, a control request, its child's end or its timer.
        `tracer_provider`, `logger_provider`, `meter_provider`: OpenTelemetry's (default:
        what the `OTEL_*` variables configure, else none; see `fuchsia.observe.setup`)."""
        if inline_limit is not None and inline_limit < 1024:
            raise FuchsiaError(f"inline_limit must be at least 1024 bytes, got {inline_limit}")
        telemetry = setup.telemetry(tracer_provider, logger_provider, meter_provider)
        base = settings if settings is not None else Settings.load(home=home, db=db)
        if home is not None:
            base = dataclasses.replace(base, home=Path(home), db=db or base.db)
        store = open_store(db or base.store_url)
        store.inline_limit = inline_limit or base.inline_limit
        store.keyring = keys if keys is not None else base.keys
        await store.open()
        engine = cls(
            store,
            secrets=secrets,
            lease=lease if lease is not None else base.lease,
            hung_after=hung_after if hung_after is not None else base.hung_after,
            settings=base,
            limits=limits,
            name=name,
            slots=slots,
            drives=drives,
            park_after=park_after,
            telemetry=telemetry,
        )
        try:
            await engine._beat()
        except StoreUnwritable:
            pass  # a store that cannot be written still serves reads; its writes say why
        except BaseException:
            await store.close()
            raise
        engine._heartbeat = asyncio.create_task(engine._heartbeat_loop())
        if slots > 0 and drives:
            engine._claiming = asyncio.create_task(engine._claim_loop())
        return engine

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, grace: float = 0.0) -> None:
        """Stop driving and release the store. With a `grace` period (seconds), first start
        no new node and let running attempts finish for up to that long; whatever is still
        running then is interrupted. Open executions stay resumable either way: a worker
        takes them at once. What telemetry has batched is flushed whatever else fails."""
        try:
            await self._release(grace)
        finally:
            if self.telemetry.enabled:
                await asyncio.to_thread(self.telemetry.close)  # flush what is batched

    async def _release(self, grace: float) -> None:
        """`close`, but for the telemetry. Bounded when the store does not answer: its writes
        give up `CLOSE_WRITES` seconds after the grace period and the drivers' stop."""
        self.store.closing(grace + STOP_TIMEOUT + CLOSE_WRITES)
        await self._stop_claiming()
        deadline = time.monotonic() + grace
        if grace > 0 and self._driving:
            for driver in self._driving.values():
                driver.draining = True
            while any(d.settling for d in self._driving.values()) and time.monotonic() < deadline:
                with contextlib.suppress(FuchsiaError):  # the next turn folds them
                    await self._settle_shared()  # nothing claims now: fold them here
                await asyncio.sleep(0.05)
        await self._stop_sharing(deadline)
        await self._stop_drivers()
        tasks = [*self._drivers.values(), *([self._heartbeat] if self._heartbeat else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._drivers.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        with contextlib.suppress(FuchsiaError):
            await self.store.forget_owner(self.identity.id)
        if self._components is not None:
            await self._components.aclose()
            self._components = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await self.store.close()

    async def _stop_drivers(self) -> None:
        """Ask every driver to record its running attempts interrupted and stop, so the store
        says at once what a resume runs again (a driver that cannot commit within
        `STOP_TIMEOUT`, the store being unavailable, is cancelled: a resume records them)."""
        self._stopping = True
        drivers = {task: self._driving.get(eid) for eid, task in self._drivers.items()}
        for driver in drivers.values():
            if driver is not None:
                driver.request(Control.STOP)
        if drivers:
            await asyncio.wait(drivers, timeout=STOP_TIMEOUT)

    def _component_runtime(self) -> ComponentRuntime:
        """The wasm host and its thread pool, created when the first component node runs."""
        from fuchsia.nodes.component import ComponentRuntime, ComponentSettings

        if self._components is None:
            self._components = ComponentRuntime(
                ComponentSettings(registry=self.registry, cache=self.settings.cache_dir)
            )
        return self._components

    def load(self, path: str | Path) -> LockedWorkflow:
        """Validate and lock a workflow file against this engine's component registry
        (sub-workflows named by name come from the files beside it)."""
        from fuchsia.definition.lock import load

        return load(path, self.registry)

    async def lock(self, workflow: str | Path | Source) -> LockedWorkflow:
        """Validate and lock a workflow file (or parsed source) against this engine's
        component registry; a sub-workflow named by name that is not beside it is taken from
        the deployed workflows (its current version unless the node gives one)."""
        from fuchsia.definition.lock import LockedWorkflow, child_names, lock
        from fuchsia.definition.source import Source, read_file
        from fuchsia.definition.validate import validate

        if not isinstance(workflow, Source | str | os.PathLike):
            raise RequestError(
                f"workflow is a file's path or a LockedWorkflow, not {type(workflow).__name__}",
                param="workflow",
            )
        source = workflow if isinstance(workflow, Source) else read_file(workflow)
        definition = validate(source)
        deployed: dict[tuple[str, int | None], LockedWorkflow] = {}
        for name, version in child_names(definition):
            ref = name if version is None else f"{name}@{version}"
            with contextlib.suppress(FuchsiaError):
                deployment = await self.deployment(ref)
                text = await self.store.get_workflow(deployment.hash)
                deployed[(name, version)] = LockedWorkflow.from_json(text)
        return lock(definition, source, self.registry, deployed=deployed)

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
        parent_id: str | None = None,
    ) -> str:
        """Create an execution and start driving it; return its id at once.

        With an idempotency key already used for the same workflow name and payload, nothing
        new is created and the existing execution's id is returned; used for another workflow
        or payload, IdempotencyConflict names the execution it holds. A key is at most 255
        visible ASCII characters. `detached=True` only records the execution, unowned, for
        another process (`fuchsia runs resume ID`) to drive.
        """
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        from fuchsia.definition.lock import LockedWorkflow

        locked = workflow if isinstance(workflow, LockedWorkflow) else await self.lock(workflow)
        return await self._start(locked, payload, idempotency_key, detached, parent_id)

    async def _start(
        self,
        locked: LockedWorkflow,
        payload: Any,
        idempotency_key: str | None,
        detached: bool = False,
        parent_id: str | None = None,
        kv: KvChanges | None = None,
        *,
        same_request: bool = True,
    ) -> str:
        """Create (or find, by key) the execution. `same_request`: a found execution must
        have been started with this workflow name and payload (IdempotencyConflict if not);
        False where the key names an instant or a child, not a request (a component trigger's
        answer, a sub-workflow's rendered input)."""
        from fuchsia import payload as payloads

        payload = {} if payload is None else payload
        payload = payloads.check(payload, schema=locked.trigger_schema)
        if self._secrets:  # stored as every other value is: with the secrets masked
            payload = self._runtime.masker.mask(payload)
        execution_id = new_id()
        trace = self.telemetry.trace_for(execution_id, child=parent_id is not None)
        new = NewExecution(
            id=execution_id,
            workflow_hash=locked.hash,
            workflow_name=locked.name,
            workflow_version=locked.version,
            workflow_document=locked.to_json(),
            payload=payload,
            context=self._trigger_context(locked, execution_id, payload),
            idempotency_key=idempotency_key,
            owner=None if detached or not self.drives else self.identity.id,
            parent_id=parent_id,
            kv=kv,
            trace_id=trace.trace_id,
            trace_parent=trace.parent,
            trace_link=trace.link,
        )
        record, created = await self._create(new)
        if created:
            metrics.recorder.execution_started(locked.name)
        detached = detached or not self.drives
        if not created and same_request and idempotency_key is not None:
            refuse_other_request(record, locked.name, payload, idempotency_key)
        if created and not detached:
            self._drive(record, locked, {})
        elif not created and record.status not in FINAL_STATUSES and not detached:
            await self.resume([record.id], wait=False)
        return record.id

    async def _create(self, new: NewExecution) -> tuple[ExecutionRecord, bool]:
        """`create_execution`; when the store could not tell whether it committed (it became
        unavailable during COMMIT), whether the execution exists after all: one that does is
        driven like any other, never left owned by this engine and driven by no one."""
        try:
            return await self.store.create_execution(new)
        except StoreUnavailable:
            with contextlib.suppress(FuchsiaError):  # not stored, or not readable either
                return await self.store.get_execution(new.id), True
            raise

    async def run(
        self, workflow: WorkflowRef, payload: Any = None, *, idempotency_key: str | None = None
    ) -> Execution:
        """Start an execution and wait for it to finish."""
        return await self.wait(await self.start(workflow, payload, idempotency_key=idempotency_key))

    def _trigger_context(self, locked: LockedWorkflow, execution_id: str, payload: Any) -> Any:
        from fuchsia.templates import RenderError

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
            message = self._runtime.masker.text(f"trigger.context.{exc.path}: {exc.message}")
            raise PayloadError(message) from None
        return self._runtime.masker.mask(values) if isinstance(values, dict) else {}

    async def run_node(self, workflow: WorkflowRef, node_id: str, upstream: Any = None) -> Outcome:
        """Run one node of a workflow in isolation, for debugging: `upstream` is its input
        data (the payload for a node without `after`, a map by node id for a join). Component
        kv writes and artifacts stay in the attempt (its artifacts' blobs are stored, and
        swept once old); no execution is recorded."""
        from fuchsia import payload as payloads
        from fuchsia.definition.lock import LockedWorkflow
        from fuchsia.runtime.driver import Driver

        arguments.text(node_id, "node_id")
        upstream = payloads.check(upstream, source="upstream")
        locked = workflow if isinstance(workflow, LockedWorkflow) else await self.lock(workflow)
        if node_id not in locked.nodes:
            close = difflib.get_close_matches(node_id, list(locked.nodes), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise NodeNotFound(locked.name, node_id, hint)
        root = not locked.nodes[node_id].after
        payload = upstream if root else {}
        execution_id = "node-run-" + new_id()
        now = time.time()
        record = ExecutionRecord(
            id=execution_id,
            workflow_name=locked.name,
            workflow_version=locked.version,
            workflow_hash=locked.hash,
            status=ExecutionStatus.RUNNING,
            payload=payload,
            context=self._trigger_context(locked, execution_id, payload) if root else {},
            idempotency_key=None,
            result=None,
            error=None,
            owner=self.identity.id,
            created_at=now,
            started_at=now,
            finished_at=None,
        )
        driver = Driver(self._runtime, record, locked, {})
        return await driver.attempt_once(node_id, upstream)

    # -- sub-workflows (the `Children` protocol of fuchsia.nodes.workflow) ----------------

    async def start_child(
        self, workflow: LockedWorkflow, payload: Any, parent_id: str, key: str
    ) -> str:
        payload = self._runtime.masker.mask(payload)  # a child's payload is stored
        return await self._start(workflow, payload, key, parent_id=parent_id, same_request=False)

    async def wait_child(self, execution_id: str) -> tuple[str, Any, dict[str, Any] | None]:
        done = await self.wait(execution_id)
        while done.status not in FINAL_STATUSES:  # driven elsewhere, or taken over: poll
            await asyncio.sleep(0.2)
            done = await self.get(execution_id)
        artifact = done.result_artifact
        cap = self._runtime.limits.output
        if artifact is not None and artifact.size > cap:  # refused before it is loaded
            raise LimitExceeded(
                f"the result of sub-workflow {done.workflow} ({done.id}) is "
                f"{size_text(artifact.size)}, over the output cap of {size_text(cap)} "
                "(limits.output)"
            )
        return done.status, await self._result_of(done), done.error

    async def child_ended(self, execution_id: str) -> bool:
        return (await self.store.get_execution(execution_id)).status in FINAL_STATUSES

    async def cancel_children(self, parent_id: str) -> None:
        for child_id in await self.store.open_children(parent_id):
            with contextlib.suppress(FuchsiaError):
                await self.cancel(child_id)

    async def pause(self, execution_id: str) -> Execution:
        """Pause an execution: no new node starts (running attempts finish) until it is
        resumed with `resume([id])`. Works for executions driven by any process."""
        full = (await self.get(execution_id)).id
        record = await self.store.get_execution(full)
        if record.status in FINAL_STATUSES:
            raise InvalidState(
                f"execution {full} is already {record.status}; nothing to pause", execution_id=full
            )
        if record.control == Control.CANCEL:
            raise InvalidState(
                f"execution {full} is being cancelled; nothing to pause", execution_id=full
            )
        await self._control(full, Control.PAUSE)
        if full not in self._drivers and not await self._held_elsewhere(full):
            return await self.get(full)  # the worker that takes it pauses it at once
        while (current := await self.get(full)).status not in (
            ExecutionStatus.PAUSED,
            *FINAL_STATUSES,
        ):
            await asyncio.sleep(0.05)
        return current

    async def _control(self, execution_id: str, kind: Control) -> None:
        """Leave a request for whoever drives the execution; take orphans over to act on it."""
        if not await self.store.request(execution_id, kind):
            return
        driver = self._driving.get(execution_id)
        if driver is not None:
            driver.request(kind)
        elif self.drives or kind == Control.CANCEL:  # a cancel ends at once, running nothing
            await self._take_over({execution_id}, wait=False, parked=kind == Control.CANCEL)

    async def cancel(self, execution_id: str) -> Execution:
        """Cancel an execution: running attempts are interrupted (components within one epoch
        tick), pending nodes cancelled, the execution `cancelled`. Idempotent; cancelling a
        finished execution is an error. Works for executions driven by any process."""
        full = (await self.get(execution_id)).id
        record = await self.store.get_execution(full)
        if record.status == ExecutionStatus.CANCELLED:
            return await self.get(full)
        if record.status in FINAL_STATUSES:
            raise InvalidState(
                f"execution {full} is already {record.status}; nothing to cancel", execution_id=full
            )
        await self._control(full, Control.CANCEL)  # an orphan is taken over, which cancels it
        return await self.wait(full)

    async def signal(self, execution_id: str, name: str, payload: Any = None) -> int:
        """Send signal `name` to an open execution; a `wait: {signal: name}` node takes it as
        its output (now, or when it starts waiting). Returns the signal's id."""
        from fuchsia import payload as payloads
        from fuchsia.definition.models import MAX_SIGNAL_NAME, NUL

        if isinstance(name, str) and (not name or len(name) > MAX_SIGNAL_NAME or NUL in name):
            raise RequestError(
                f"a signal name is 1 to {MAX_SIGNAL_NAME} characters without a NUL, "
                f"not {name[:60]!r}",
                param="name",
            )
        arguments.text(name, "name")  # text, without a lone surrogate
        full = (await self.get(execution_id)).id
        record = await self.store.get_execution(full)
        if record.status in FINAL_STATUSES:
            raise InvalidState(
                f"execution {full} is {record.status}; signals go to executions still running",
                execution_id=full,
            )
        payload = payloads.check(payload, source="signal payload")
        self._runtime.limits.check_payload(payload, "the signal payload")
        payload = self._runtime.masker.mask(payload)
        signal_id = await self.store.send_signal(full, name, payload)
        event = self._runtime.wakeups.get(full)
        if event is not None:
            event.set()
        elif self.slots:
            self._wake.set()  # parked, it may be claimable now: here, without a poll's delay
        return signal_id

    # -- inspecting ----------------------------------------------------------------------

    async def wait(self, execution_id: str, *, poll: float = 0.2) -> Execution:
        """Wait until the execution reaches a final status, wherever it is driven (or this
        engine closes); a unique id prefix is accepted."""
        execution_id = await self._full_id(execution_id)
        task = self._drivers.get(execution_id)
        if task is not None:
            ended = await asyncio.shield(task)
            if ended in FINAL_STATUSES or self._stopping:
                return await self.get(execution_id)
        # driven by another process (or taken over by one from this engine): poll
        while (await self.store.get_execution(execution_id)).status not in FINAL_STATUSES:
            await asyncio.sleep(poll)
        return await self.get(execution_id)


__all__ = ["Engine", "TriggerAnswer", "default_db"]
