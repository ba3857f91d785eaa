"""`component`: run a task of a WebAssembly component on a worker thread.

The attempt's inputs are checked against the task's input schema before the component is
called, and its output against the output schema when one is declared. The component's kv
and artifact imports reach the store through the engine's event loop; everything else it
does stays on the worker thread, where wasmtime runs without holding the GIL. An attempt's
kv writes and artifact rows are kept in its `SideEffects` and committed with its success
(see `fuchsia.runtime.effects`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from fuchsia import schemas
from fuchsia.components.manifest import MANIFEST_FILE
from fuchsia.components.registry import InstalledComponent, Registry
from fuchsia.components.threads import GuestThreads
from fuchsia.errors import ComponentLoadError, InputError, OutputError
from fuchsia.nodes import NodeContext
from fuchsia.nodes.kind import ComponentSpec, Grants, PythonSpec, TriggerComponentSpec
from fuchsia.runtime.effects import SideEffects, execution_scope
from fuchsia.store.base import Store
from fuchsia.store.records import ArtifactRef, PendingArtifact, new_id

if TYPE_CHECKING:
    from fuchsia.components.host import TaskOutput

T = TypeVar("T")
# seconds a closing runtime waits for calls still running after their attempts were stopped:
# only a guest asleep in a WASI call outlasts its stop (`fuchsia.components.threads`)
CLOSE_WITHIN = 5.0
OnLoop = Callable[[Coroutine[Any, Any, Any]], Any]  # a store call, run on the event loop


@dataclass(frozen=True)
class ComponentSettings:
    registry: Registry
    cache: Path
    threads: int = max(2, min(8, os.cpu_count() or 2))


class ComponentRuntime:
    """The wasm host, the registry, a thread pool and an HTTP client for one engine.

    Built the first time a component node runs, so engines that never run one never load
    wasmtime. Its HTTP client makes components' requests on the engine's event loop: close
    it there, with `aclose`."""

    def __init__(self, settings: ComponentSettings) -> None:
        from fuchsia.components.host import HostSettings, WasmHost
        from fuchsia.components.python import CompiledSteps

        self.registry = settings.registry
        self.compiled_steps = CompiledSteps()
        self._installed: dict[str, tuple[InstalledComponent, tuple[int, int, int]]] = {}
        self.host = WasmHost(
            HostSettings(
                cache_dir=settings.cache / "compiled",
                instances=max(32, settings.threads * 2),
            )
        )
        self.pool = GuestThreads(settings.threads, "fuchsia-wasm")
        self.http = httpx.AsyncClient()

    def close(self) -> None:
        """Wait for the attempts still running, then drop the host (not the HTTP client)."""
        self.pool.shutdown(wait=True, cancel_futures=True, within=CLOSE_WITHIN)
        self.host.close(release=self.pool.ended)  # a guest still asleep keeps what it uses

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
        await self.http.aclose()

    def _grants(self, grants: Grants) -> Any:
        from fuchsia.components import host

        return host.Grants(
            allowed_hosts=grants.allowed_hosts,
            allowed_paths=grants.allowed_paths,
            memory_limit=grants.memory_limit,
            sockets=grants.sockets,
        )

    def installed(self, ref: str) -> InstalledComponent:
        """`ref` as the registry resolves it. A `name@version` is remembered while its manifest
        file is the same one on disk (one `stat` a call instead of listing the registry and
        parsing the manifest); a bare name is resolved every time (a newer version may come)."""
        cached = self._installed.get(ref)
        if cached is not None and _stamp(cached[0]) == cached[1]:
            return cached[0]
        installed = self.registry.resolve(ref)
        stamp = _stamp(installed)
        if "@" in ref and stamp is not None:
            self._installed[ref] = (installed, stamp)
        return installed

    def _load(self, spec: ComponentSpec | TriggerComponentSpec | PythonSpec) -> Any:
        installed = self.installed(spec.component)
        if installed.digest != spec.digest:
            raise ComponentLoadError(
                f"{spec.component}: the workflow was locked to {spec.digest} but the "
                f"registry has {installed.digest}; lock the workflow again"
            )
        return self.host.load(installed.digest, lambda: self.registry.read_wasm(installed))

    def poll(
        self,
        spec: TriggerComponentSpec,
        call: Any,
        services: Any,
        request: dict[str, Any] | None = None,
    ) -> Any:
        """Ask a trigger component whether it is ready; on a worker thread."""
        grants = self._grants(spec.grants)
        return self.host.run_trigger(self._load(spec), grants, call, services, request)

    def execute(self, spec: ComponentSpec | PythonSpec, call: Any, services: Any) -> Any:
        """Load (verifying the pinned digest) and run one attempt; on a worker thread."""
        return self.host.run_task(self._load(spec), self._grants(spec.grants), call, services)


def _stamp(installed: InstalledComponent) -> tuple[int, int, int] | None:
    """What changes when an installed manifest is replaced (None once it is removed)."""
    try:
        found = os.stat(installed.directory / MANIFEST_FILE)
    except OSError:
        return None
    return (found.st_ino, found.st_mtime_ns, found.st_size)


async def run(spec: ComponentSpec, rendered: dict[str, Any], ctx: NodeContext) -> Any:
    assert ctx.components is not None
    inputs = rendered["inputs"]
    _validate(inputs, spec.input_schema, InputError, "input")
    runtime = ctx.components()
    result = await call_on_thread(
        ctx,
        runtime,
        lambda call, services: runtime.execute(spec, call, services),
        component=(spec.component, spec.digest),
        task=spec.task,
        input=json.dumps(inputs),
        config=rendered["config"],
        allowed_hosts=list(spec.grants.allowed_hosts),
    )
    _validate(result.data, spec.output_schema, OutputError, "output")
    return with_artifacts(result)


async def call_on_thread(
    ctx: NodeContext,
    runtime: ComponentRuntime,
    execute: Callable[[Any, Any], TaskOutput],
    *,
    component: tuple[str, str],
    task: str,
    input: str,
    config: dict[str, Any],
    allowed_hosts: list[str],
) -> TaskOutput:
    """One wasm call of an attempt (`execute(call, services)`) on the runtime's worker pool:
    a cancel or timeout of the attempt stops the wasm at its next epoch tick; the call's log
    lines go to the attempt's; a kv or artifact write over the attempt's cap fails it. With
    traces on, the call is a span (`component`: the reference and digest) and runs in a
    copy of this context, so its host imports' spans are under it."""
    from fuchsia.components.host import Call

    assert ctx.store is not None
    loop = asyncio.get_running_loop()
    cancelled = threading.Event()
    call = Call(
        execution_id=ctx.execution_id,
        workflow=ctx.workflow,
        node_id=ctx.node_id,
        task=task,
        attempt=ctx.attempt,
        input=input,
        timeout=ctx.timeout,
        cancelled=cancelled,
    )
    services = _services(ctx, config, allowed_hosts, runtime, loop)
    services.telemetry = ctx.telemetry
    attributes = {
        "fuchsia.component": component[0],
        "fuchsia.component.digest": component[1],
        "fuchsia.component.task": task,
    }
    with ctx.telemetry.span(f"component {task}", attributes):
        work = functools.partial(execute, call, services)
        if ctx.telemetry.enabled:
            work = functools.partial(contextvars.copy_context().run, work)
        future = loop.run_in_executor(runtime.pool, work)
        try:
            result: TaskOutput = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled.set()  # the wasm stops at its next epoch tick
            future.add_done_callback(_consume)
            raise
        except Exception:
            _over_cap(ctx.effects)  # a write over the cap is why it failed, whatever it raised
            raise
        finally:
            ctx.logs.extend(services.logs)
    _over_cap(ctx.effects)  # the component went on after a refused artifact
    return result


def with_artifacts(result: TaskOutput) -> Any:
    """A call's output data, with the artifacts it stored listed under `artifacts`."""
    data = result.data
    if result.artifacts:
        refs = [
            {
                "id": a.id,
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "hash": a.hash,
            }
            for a in result.artifacts
        ]
        data = (
            {**data, "artifacts": refs}
            if isinstance(data, dict)
            else {"data": data, "artifacts": refs}
        )
    return data


def _over_cap(effects: SideEffects | None) -> None:
    if effects is not None and effects.exceeded is not None:
        raise effects.exceeded


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of an attempt nobody awaits any more (its node timed out or was
    cancelled while the wasm still ran): the wasm's own `Cancelled` or `NodeTimeout` is
    expected, and asyncio would otherwise print it as "exception was never retrieved"."""
    if not future.cancelled():
        future.exception()


def _services(
    ctx: NodeContext,
    config: dict[str, Any],
    allowed_hosts: list[str],
    runtime: ComponentRuntime,
    loop: asyncio.AbstractEventLoop,
) -> Any:
    assert ctx.store is not None
    return services_for(
        ctx.store,
        execution_scope(ctx.execution_id),
        ctx.execution_id,
        ctx.node_id,
        config,
        allowed_hosts,
        runtime,
        loop,
        effects=ctx.effects,
    )


def services_for(
    store: Store,
    scope: str,
    execution_id: str,
    node_id: str,
    config: dict[str, Any],
    allowed_hosts: list[str],
    runtime: ComponentRuntime,
    loop: asyncio.AbstractEventLoop,
    kv_changes: dict[str, str | None] | None = None,
    effects: SideEffects | None = None,
) -> Any:
    """The imports' services for one call: kv in `scope` (an execution's, or a trigger's that
    persists across polls), artifacts under `execution_id`, and outbound HTTP. With
    `kv_changes` (a trigger's), kv writes are collected there (None: deleted) instead of
    stored, for the caller to commit together with what the call decided. With `effects` (a
    task attempt's), kv writes and artifact rows are kept there, for the driver to commit
    with the attempt's success; the artifacts' blobs are stored at once."""
    from fuchsia.components import imports
    from fuchsia.components.imports import Services

    on_loop = functools.partial(imports.on_loop, loop)
    kv_get, kv_set = _kv(store, scope, on_loop, kv_changes, effects)
    put_artifact, get_artifact = _artifacts(store, execution_id, node_id, on_loop, effects)
    return Services(
        kv_get=kv_get,
        kv_set=kv_set,
        kv_delete=lambda key: kv_set(key, None),
        put_artifact=put_artifact,
        get_artifact=get_artifact,
        config=config,
        allowed_hosts=tuple(allowed_hosts),
        http=runtime.http,
        loop=loop,
    )


def _kv(
    store: Store,
    scope: str,
    on_loop: OnLoop,
    kv_changes: dict[str, str | None] | None,
    effects: SideEffects | None,
) -> tuple[Callable[[str], str | None], Callable[[str, str | None], None]]:
    """`kv_get` and `kv_set` (None deletes): writes kept in `effects` or `kv_changes` when
    given (and read back from there first), else stored at once."""
    kept = effects.kv.changes if effects is not None else kv_changes

    def kv_get(key: str) -> str | None:
        if kept is not None and key in kept:
            return kept[key]
        value: str | None = on_loop(store.kv_get(scope, key))
        return value

    def kv_set(key: str, value: str | None) -> None:
        if effects is not None:
            effects.kv_set(key, value)  # counted against the cap
        elif kv_changes is not None:
            kv_changes[key] = value
        elif value is None:
            on_loop(store.kv_delete(scope, key))
        else:
            on_loop(store.kv_set(scope, key, value))

    return kv_get, kv_set


def _artifacts(
    store: Store, execution_id: str, node_id: str, on_loop: OnLoop, effects: SideEffects | None
) -> tuple[Callable[[str, str, bytes], Any], Callable[[str], bytes]]:
    """`put_artifact` and `get_artifact`: with `effects`, an artifact's blob is stored at
    once and its row kept there (and found there first); without, both are stored at once."""
    from fuchsia.components.imports import ArtifactInfo

    def put_artifact(name: str, content_type: str, data: bytes) -> ArtifactInfo:
        if effects is None:
            ref = on_loop(store.put_artifact(execution_id, node_id, name, content_type, data))
        else:
            effects.reserve(name, content_type, len(data))
            digest = on_loop(store.put_blob(data, execution_id))
            ref = ArtifactRef(new_id(), digest, name, content_type, len(data))
            effects.add_artifact(PendingArtifact(execution_id, node_id, ref, time.time()))
        return ArtifactInfo(ref.id, ref.name, ref.content_type, ref.size, ref.hash)

    def get_artifact(artifact_id: str) -> bytes:
        own = None if effects is None else effects.artifact(artifact_id)
        refs = [own] if own is not None else on_loop(store.list_artifacts(execution_id))
        for ref in refs:
            if ref.id == artifact_id:
                data: bytes = on_loop(store.get_blob(ref.hash))
                return data
        raise KeyError(artifact_id)

    return put_artifact, get_artifact


def _validate(value: Any, schema: dict[str, Any] | None, error: type[Exception], what: str) -> None:
    if schema is None:
        return
    try:
        problems = schemas.errors(schema, value)
    except schemas.SchemaUnusable as exc:
        raise error(f"the task's {what} schema cannot be applied: {exc}") from None
    if problems:
        lines = [f"{what}{_path(e.absolute_path)}: {e.message}" for e in problems[:5]]
        raise error(f"the {what} does not match the task's {what} schema: " + "; ".join(lines))


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
