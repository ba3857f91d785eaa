"""The WebAssembly host: one engine, compiled components cached on disk, one store per attempt.

Guarantees:
- a component is compiled once per digest and engine settings; the compiled artifact is
  cached on disk (`<cache>/<digest>-<fingerprint>.cwasm`), so another process loads it in
  milliseconds instead of compiling for seconds;
- every attempt gets a fresh `Store` and instance: no state survives between attempts. While
  a core is spare, a finished store is dropped on a thread of its own (`_Reaper`): dropping
  one resets its instance's memory slot (most of a millisecond for a CPython component),
  which then need not delay the attempt's result; a slot is reused only once it is reset;
- a component's imports are checked against what it was granted before it is instantiated;
  nothing is granted by default (no filesystem, environment or network); WASI stdout and
  stderr are captured into the attempt's bounded log;
- a component built for the original `fuschia:task` interface gets WASI as the original host
  linked it, deny by default: sockets linked but reaching no address, no preopens, no
  environment, stdio captured;
- everything the guest hands the host is capped while it is copied out (`limits`);
- a trap is reported with its reason (`unreachable`, `integer divide by zero`, a stack
  overflow...) and the guest's last line on stderr, if it wrote one;
- timeouts and cancellation stop the wasm at the next epoch tick (every `tick` seconds), and
  are reported as such, never as success; memory is capped per store;
- the calling thread is the only thread that touches the store, and wasmtime releases the GIL
  while wasm runs, so attempts on different threads run in parallel.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import Config, Engine, Store, WasiConfig, WasmtimeError
from wasmtime import _ffi as ffi  # pooling-allocator settings are not wrapped by wasmtime-py
from wasmtime.component import Component, ExportIndex, Func, Linker, Record, Variant

from fuchsia.components import abi, imports, limits
from fuchsia.errors import (
    CapabilityError,
    ComponentLoadError,
    ComponentTrap,
    MemoryLimitExceeded,
    OutputError,
    TaskFailed,
)
from fuchsia.observe import metrics

MiB = 1024 * 1024
TASK_EXPORT = f"{imports.PLATFORM}/task@{imports.VERSION}"
TRIGGER_EXPORT = f"{imports.PLATFORM}/trigger@{imports.VERSION}"
LEGACY_TASK_EXPORT = "fuschia:task/task@0.1.0"
_MEMORY_MARKER = "memory limit exceeded"


@dataclass(frozen=True)
class HostSettings:
    cache_dir: Path
    default_memory: int = 256 * MiB
    max_memory: int = 2048 * MiB
    max_output: int = 4 * MiB
    tick: float = 0.01
    # Instances alive at once: attempts running in parallel in this process, and the stores
    # of finished ones still being dropped (at most a quarter of them, and 2: `_Reaper`).
    instances: int = 32
    # Bytes of each instance memory reset in place (memset) instead of unmapped.
    keep_resident: int = 64 * MiB


@dataclass(frozen=True)
class Loaded:
    """A compiled component with what it imports and exports."""

    digest: str
    component: Component
    imports: tuple[str, ...]
    exports: tuple[str, ...]
    execute: ExportIndex | None  # the task interface's `execute`, found once per component
    # how to call each export, planned on its first call (by export name)
    signatures: dict[str, abi.Signature] = field(default_factory=dict, compare=False)

    def signature(self, name: str, func: Func, store: Store) -> abi.Signature:
        signature = self.signatures.get(name)
        if signature is None:
            try:
                signature = abi.signature_of(func, store)
            except abi.SignatureError as exc:
                raise ComponentLoadError(f"`{name}` has an unexpected signature: {exc}") from None
            self.signatures[name] = signature
        return signature

    @property
    def legacy(self) -> bool:
        return LEGACY_TASK_EXPORT in self.exports and TASK_EXPORT not in self.exports


@dataclass(frozen=True)
class Grants:
    """What a component's manifest allows."""

    allowed_hosts: tuple[str, ...] = ()
    allowed_paths: tuple[tuple[str, bool], ...] = ()  # (directory, writable)
    memory_limit: int | None = None
    sockets: bool = False  # link wasi:sockets; the WASI context reaches no address


@dataclass
class Call:
    """One attempt of one task."""

    execution_id: str
    workflow: str
    node_id: str
    task: str
    attempt: int
    input: str
    timeout: float | None = None
    cancelled: threading.Event | None = None


@dataclass(frozen=True)
class TaskOutput:
    data: Any
    artifacts: list[imports.ArtifactInfo]
    logs: list[dict[str, Any]]


class WasmHost:
    """Owns the wasmtime engine, its epoch ticker, the compiled-component cache and linker."""

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings
        config = Config()
        config.epoch_interruption = True
        config.parallel_compilation = True
        _pooling(config, settings)
        self.engine = Engine(config)
        self.fingerprint = hashlib.sha256(
            f"wasmtime-{_wasmtime_version()}-epoch".encode()
        ).hexdigest()[:16]
        self._linker = Linker(self.engine)
        # WASI is linked, but only components granted allowed_paths get a WASI context
        self._linker.add_wasip2()
        imports.build_linker(self._linker)
        self._loaded: dict[str, Loaded] = {}
        self._lock = threading.Lock()
        self._compiling: dict[str, threading.Lock] = {}
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="fuchsia-epoch", daemon=True)
        self._ticker.start()
        self._reaper = _Reaper(backlog=min(2, settings.instances // 4))

    def close(self, release: bool = True) -> None:
        """Stop the epoch ticker and drop the stores still waiting; with `release` (no call
        runs any more), free the compiled components, the linker and the engine now, not
        while the interpreter exits, when wasmtime's own module may be gone already."""
        self._reaper.close()
        self._stop.set()
        self._ticker.join()
        if not release:
            return
        loaded, self._loaded = self._loaded, {}
        for item in loaded.values():
            item.component.close()
        self._linker.close()
        self.engine.close()

    def _tick(self) -> None:
        while not self._stop.wait(self.settings.tick):
            self.engine.increment_epoch()

    # -- loading -------------------------------------------------------------------------

    def load(self, digest: str, read: Callable[[], bytes]) -> Loaded:
        """The compiled component for `digest`: from memory, else from the disk cache, else
        compiled (and cached). `read` returns the wasm bytes after verifying their digest;
        it runs once per process and digest, so a tampered file is caught on every load."""
        loaded = self._loaded.get(digest)
        if loaded is not None:
            return loaded
        with self._lock:
            guard = self._compiling.setdefault(digest, threading.Lock())
        with guard:
            loaded = self._loaded.get(digest)
            if loaded is None:
                loaded = self._describe(digest, self._compile(digest, read()))
                self._loaded[digest] = loaded
        return loaded

    def cache_path(self, digest: str) -> Path:
        return (
            self.settings.cache_dir / f"{digest.removeprefix('sha256:')}-{self.fingerprint}.cwasm"
        )

    def _compile(self, digest: str, wasm: bytes) -> Component:
        path = self.cache_path(digest)
        if path.exists():
            with contextlib.suppress(WasmtimeError):
                return Component.deserialize_file(self.engine, str(path))
        _check_component_bytes(wasm)
        try:
            component = Component(self.engine, wasm)
        except WasmtimeError as exc:
            raise ComponentLoadError(f"not a loadable component: {_first_line(exc)}") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_bytes(component.serialize())
        temporary.replace(path)
        return component

    def _describe(self, digest: str, component: Component) -> Loaded:
        kind = component.type
        exports = tuple(sorted(kind.exports(self.engine)))
        interface = TASK_EXPORT if TASK_EXPORT in exports else LEGACY_TASK_EXPORT
        index = component.get_export_index(interface)
        return Loaded(
            digest=digest,
            component=component,
            imports=tuple(sorted(kind.imports(self.engine))),
            exports=exports,
            execute=component.get_export_index("execute", index) if index else None,
        )

    # -- granting ------------------------------------------------------------------------

    def check_imports(self, loaded: Loaded, grants: Grants) -> None:
        """Refuse, before instantiation, a component importing what it was not granted."""
        refused = [
            f"{name}: {why}"
            for name in loaded.imports
            if (why := _refusal(name, grants, loaded.legacy)) is not None
        ]
        if refused:
            raise CapabilityError(
                "the component imports what it was not granted:\n  " + "\n  ".join(refused)
            )
        if TASK_EXPORT not in loaded.exports and LEGACY_TASK_EXPORT not in loaded.exports:
            raise ComponentLoadError(
                f"the component exports no task interface (expected {TASK_EXPORT}); it exports "
                + (", ".join(loaded.exports) or "nothing")
            )

    # -- running -------------------------------------------------------------------------

    def run_task(
        self, loaded: Loaded, grants: Grants, call: Call, services: imports.Services
    ) -> TaskOutput:
        """Run one attempt on the calling thread; raise a typed `NodeError` on failure."""
        self.check_imports(loaded, grants)
        memory = self._memory(grants)
        store = Store(self.engine)
        abi.limit_memory(store, memory)
        stdio = _Stdio(services.log_sink)
        if any(name.startswith("wasi:") for name in loaded.imports):
            store.set_wasi(_wasi(grants, stdio))
        stop = self._arm(store, call)
        imports.bind(services, stop)
        held = self._reaper.hold()
        try:
            raw = self._invoke(store, loaded, call)
        except WasmtimeError as exc:
            raise self._classify(exc, stop.reason, stdio) from None
        finally:
            imports.bind(None)
            stdio.flush()
            self._reaper.release(store, held)
        return self._output(raw, loaded.legacy, services)

    def run_trigger(
        self,
        loaded: Loaded,
        grants: Grants,
        call: Call,
        services: imports.Services,
        request: dict[str, Any] | None = None,
    ) -> Any:
        """Call a trigger component's `handle` with a poll tick, or with a webhook `request`
        ({method, url, headers, body}): the JSON payload it is ready with, or None (pending).
        Raises a typed error like a task does."""
        refused = [name for name in loaded.imports if _refusal(name, grants, False) is not None]
        if refused:
            raise CapabilityError(f"the trigger imports what it was not granted: {refused}")
        if TRIGGER_EXPORT not in loaded.exports:
            raise ComponentLoadError(f"the component does not export {TRIGGER_EXPORT}")
        store = Store(self.engine)
        abi.limit_memory(store, self._memory(grants))
        stdio = _Stdio(services.log_sink)
        if any(name.startswith("wasi:") for name in loaded.imports):
            store.set_wasi(_wasi(grants, stdio))
        stop = self._arm(store, call)
        imports.bind(services, stop)
        held = self._reaper.hold()
        try:
            t0 = time.perf_counter()
            instance = self._linker.instantiate(store, loaded.component)
            seconds = time.perf_counter() - t0
            metrics.recorder.component_instantiated(call.workflow, call.task, seconds)
            index = instance.get_export_index(store, TRIGGER_EXPORT)
            handle = instance.get_export_index(store, "handle", index) if index else None
            func = abi.get_func(instance, store, handle) if handle else None
            if func is None:
                raise ComponentLoadError(f"{TRIGGER_EXPORT} has no `handle` function")
            context = imports.record(
                execution_id="",
                workflow=call.workflow,
                node_id=call.node_id,
                task=call.task,
                attempt=call.attempt,
            )
            event = None  # the `poll` case of trigger-event
            if request is not None:
                event = imports.record(
                    method=request["method"],
                    url=request["url"],
                    headers=[(k, v) for k, v in request["headers"]],
                    body=request["body"],
                    timeout_ms=None,
                )
            signature = loaded.signature("handle", func, store)
            cap = abi.Cap("the trigger's payload", self.settings.max_output)
            t0 = time.perf_counter()
            try:  # a trap, a timeout or a cancel is a call too
                raw = abi.call(func, store, signature, context, event, cap=cap)
            finally:
                seconds = time.perf_counter() - t0
                metrics.recorder.component_called(call.workflow, call.task, seconds)
            abi.post_return(func, store)
        except WasmtimeError as exc:
            raise self._classify(exc, stop.reason, stdio) from None
        finally:
            imports.bind(None)
            stdio.flush()
            self._reaper.release(store, held)
        return _trigger_result(raw)

    def _memory(self, grants: Grants) -> int:
        return min(grants.memory_limit or self.settings.default_memory, self.settings.max_memory)

    def _arm(self, store: Store, call: Call) -> _Deadline:
        deadline = _Deadline(
            None if call.timeout is None else time.monotonic() + call.timeout, call.cancelled
        )
        abi.watch_epochs(store, deadline)
        return deadline

    def _invoke(self, store: Store, loaded: Loaded, call: Call) -> Any:
        t0 = time.perf_counter()
        instance = self._linker.instantiate(store, loaded.component)
        metrics.recorder.component_instantiated(call.workflow, call.task, time.perf_counter() - t0)
        func = abi.get_func(instance, store, loaded.execute) if loaded.execute else None
        if func is None:
            interface = LEGACY_TASK_EXPORT if loaded.legacy else TASK_EXPORT
            raise ComponentLoadError(f"{interface} has no `execute` function")
        if loaded.legacy:
            context = imports.record(
                execution_id=call.execution_id, node_id=call.node_id, task_id=call.task
            )
        else:
            context = imports.record(
                execution_id=call.execution_id,
                workflow=call.workflow,
                node_id=call.node_id,
                task=call.task,
                attempt=call.attempt,
            )
        signature = loaded.signature("execute", func, store)
        cap = abi.Cap("the output", self.settings.max_output)
        t0 = time.perf_counter()
        try:  # a trap, a timeout or a cancel is a call too
            result = abi.call(func, store, signature, context, call.input, cap=cap)
        finally:
            metrics.recorder.component_called(call.workflow, call.task, time.perf_counter() - t0)
        abi.post_return(func, store)
        return result

    def _classify(self, exc: WasmtimeError, reason: str | None, stdio: _Stdio) -> Exception:
        stopped = imports.stopped(reason)
        if stopped is not None:
            return stopped
        cause = trap_reason(exc)
        if _HOSTCALL_FUEL in cause:
            return OutputError(
                "the component handed the host a value larger than one call may copy "
                f"(wasmtime's hostcall data limit): {cause}"
            )
        message = f"the component trapped: {cause}"
        if stdio.last_error:
            message += f" (its last line on stderr: {stdio.last_error})"
        return ComponentTrap(message)

    def _output(self, raw: Any, legacy: bool, services: imports.Services) -> TaskOutput:
        if isinstance(raw, (Variant, str)):
            kind, message = ("retryable", raw) if isinstance(raw, str) else (raw.tag, raw.payload)
            message = str(message)
            if message.startswith(_MEMORY_MARKER):
                raise MemoryLimitExceeded(f"the component hit its memory limit ({message})")
            raise TaskFailed(f"the task failed: {message}", retryable=kind == "retryable")
        if not isinstance(raw, Record):
            raise OutputError(f"the component returned {type(raw).__name__}, not an output")
        text = imports.wit_field(raw, "data")  # lifted under the output's cap
        data = limits.parse_json(text, "the output")
        return TaskOutput(data=data, artifacts=list(services.artifacts), logs=list(services.logs))


class _Reaper:
    """Drops finished stores on a thread of its own while attempts run one at a time.

    Dropping a store resets its instance's memory slot in the pool: wasmtime copies the
    slot's kept-resident memory back from the component's image (about 13 MB for
    componentize-py's CPython, most of a millisecond). While attempts run one at a time (a
    chain of nodes), that copy can overlap what follows an attempt, on another core, instead
    of delaying its result. While they overlap, the cores are busy with them, and handing the
    copy to another thread only costs (it then runs beside two attempts on a two-core machine,
    on a core other than the one that uses the slot next): an attempt hands its store over
    only if it ran alone from start to end, so did the attempt before it, and fewer than
    `backlog` stores wait; otherwise it drops the store itself. Isolation is unchanged:
    wasmtime hands a slot to another instance only after its reset."""

    def __init__(self, backlog: int) -> None:
        self._backlog = backlog
        self._lock = threading.Lock()
        self._running = 0  # attempts holding a store
        self._started = 0  # attempts that ever held one
        self._alone = False  # whether the last attempt to end ran alone
        self._waiting = 0  # stores handed over and not dropped yet
        self._stores: queue.SimpleQueue[Store | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="fuchsia-reaper", daemon=True)
        self._thread.start()

    def hold(self) -> int | None:
        """An attempt made its store: a token for `release`, None if others are running."""
        with self._lock:
            alone = self._running == 0 and os.cpu_count() != 1
            self._running += 1
            self._started += 1
            return self._started if alone else None

    def release(self, store: Store, token: int | None) -> None:
        """Drop `store`, here or on the reaper's thread."""
        with self._lock:
            self._running -= 1
            alone = token == self._started and self._running == 0
            hand_over = alone and self._alone and self._waiting < self._backlog
            self._alone = alone
            self._waiting += hand_over
        if hand_over:
            self._stores.put(store)
        else:
            store.close()

    def close(self) -> None:
        """Drop the stores still waiting, then stop."""
        self._stores.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (store := self._stores.get()) is not None:
            store.close()
            with self._lock:
                self._waiting -= 1


class _Deadline:
    """Checked at every epoch tick: the reason to stop the attempt (timeout, cancelled)."""

    def __init__(self, end: float | None, cancelled: threading.Event | None) -> None:
        self.end = end
        self.cancelled = cancelled
        self.reason: str | None = None

    def __call__(self) -> str | None:
        if self.cancelled is not None and self.cancelled.is_set():
            self.reason = "cancelled"
        elif self.end is not None and time.monotonic() >= self.end:
            self.reason = "timeout"
        return self.reason


def _pooling(config: Config, settings: HostSettings) -> None:
    """Use wasmtime's pooling allocator: instance memory slots are reserved once and reused,
    and up to 64 MiB of each is kept resident and reset in place rather than unmapped and
    faulted in again. On-demand allocation serialises parallel attempts on the kernel's
    memory-map lock; pooling lets two threads really run two components at once. The
    per-component limits fit componentize-py's CPython components (38 core instances)."""
    pool = ffi.wasmtime_pooling_allocation_config_new()
    try:
        per_component = {"core_instances": 128, "memories": 32, "tables": 64}
        count = settings.instances
        ffi.wasmtime_pooling_allocation_config_total_component_instances_set(pool, count)
        ffi.wasmtime_pooling_allocation_config_total_stacks_set(pool, count)
        ffi.wasmtime_pooling_allocation_config_max_core_instances_per_component_set(
            pool, per_component["core_instances"]
        )
        ffi.wasmtime_pooling_allocation_config_total_core_instances_set(
            pool, count * per_component["core_instances"]
        )
        ffi.wasmtime_pooling_allocation_config_max_memories_per_component_set(
            pool, per_component["memories"]
        )
        ffi.wasmtime_pooling_allocation_config_total_memories_set(
            pool, count * per_component["memories"]
        )
        ffi.wasmtime_pooling_allocation_config_max_tables_per_component_set(
            pool, per_component["tables"]
        )
        ffi.wasmtime_pooling_allocation_config_total_tables_set(
            pool, count * per_component["tables"]
        )
        ffi.wasmtime_pooling_allocation_config_table_elements_set(pool, 100_000)
        ffi.wasmtime_pooling_allocation_config_max_core_instance_size_set(pool, MiB)
        ffi.wasmtime_pooling_allocation_config_max_memory_size_set(pool, settings.max_memory)
        ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(
            pool, settings.keep_resident
        )
        ffi.wasmtime_pooling_allocation_config_table_keep_resident_set(pool, MiB)
        ffi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(pool)


_WORLD_EXPORTS = {
    "task-component": TASK_EXPORT,
    "fuschia-task": LEGACY_TASK_EXPORT,
    "trigger-component": f"{imports.PLATFORM}/trigger@{imports.VERSION}",
}


def verify_exports(loaded: Loaded, world: str) -> None:
    """Refuse a component that does not export the interface its manifest's world promises."""
    expected = _WORLD_EXPORTS[world]
    if expected not in loaded.exports:
        found = ", ".join(e for e in loaded.exports if ":" in e) or "no interfaces"
        raise ComponentLoadError(
            f"the manifest declares world {world!r}, so the component must export {expected}; "
            f"it exports {found}"
        )


_LINKED_WASI = ("wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:cli/", "wasi:filesystem/")


class _Stdio:
    """A guest's WASI stdout (logged as info) and stderr (as warn), bounded by the sink.

    Observed with wasmtime 50 and componentize-py's CPython: of one guest write larger than
    8 KiB, only the first 8 KiB reach the callback (line-sized prints all arrive)."""

    def __init__(self, sink: limits.LogSink) -> None:
        self.stdout = limits.OutputStream(sink, "info", "stdout")
        self.stderr = limits.OutputStream(sink, "warn", "stderr")

    def flush(self) -> None:
        self.stdout.flush()
        self.stderr.flush()

    @property
    def last_error(self) -> str:
        """The last line the guest wrote to stderr (a runtime's fatal message), at most 200
        characters."""
        line = self.stderr.pending.strip() or self.stderr.last_line
        return line.decode("utf-8", errors="replace").strip()[:200]


def _wasi(grants: Grants, stdio: _Stdio) -> WasiConfig:
    """A WASI context that grants only the listed directories: no environment, no arguments,
    no stdin, no network; stdout and stderr go to the attempt's log."""
    config = WasiConfig()
    config.stdout_custom = stdio.stdout.write
    config.stderr_custom = stdio.stderr.write
    for directory, writable in grants.allowed_paths:
        config.preopen_dir(directory, directory, fs_mutable=writable)
    return config


def _refusal(name: str, grants: Grants, legacy: bool) -> str | None:
    """Why an import is refused, naming the capability that would allow it; None when it may
    be linked. Linking is not granting: WASI gets an empty context (no environment, arguments
    or stdin, stdout and stderr logged), a filesystem holding only `allowed_paths`, and no
    network. A component of the original interface gets sockets as the original host linked
    them: present, reaching nothing."""
    if name.startswith((f"{imports.PLATFORM}/", *_LINKED_WASI)):
        return None
    if name.startswith("wasi:sockets/"):
        if grants.sockets or legacy:
            return None
        return (
            "set capabilities.sockets: true to link it (a runtime built with full WASI "
            "imports it; no address is reachable through it). Make requests through the "
            f"{imports.PLATFORM}/http import, with the hosts in capabilities.allowed_hosts"
        )
    if name.startswith("wasi:http/"):
        return (
            "outbound HTTP goes through the host: use the "
            f"{imports.PLATFORM}/http import and list the hosts in capabilities.allowed_hosts"
        )
    return "Fuchsia provides no such interface"


def _trigger_result(raw: Any) -> Any:
    """result<trigger-result, string> as wasmtime-py lifts it: ok/err may come tagged."""
    if isinstance(raw, Variant) and raw.tag in ("ok", "err"):
        if raw.tag == "err":
            raise TaskFailed(f"the trigger failed: {raw.payload}")
        raw = raw.payload
    if isinstance(raw, Variant):
        raw = raw.payload if raw.tag == "ready" else None
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise OutputError("the trigger's payload is not JSON text")
    return limits.parse_json(raw, "the trigger's payload")


def _check_component_bytes(wasm: bytes) -> None:
    if not wasm.startswith(b"\x00asm"):
        raise ComponentLoadError("not WebAssembly: the bytes do not start with \\0asm")
    if wasm[4:8] == b"\x01\x00\x00\x00":
        raise ComponentLoadError(
            "a core WebAssembly module, not a component; build it with componentize-py"
        )


def trap_reason(exc: Exception) -> str:
    """What wasmtime says stopped the wasm: the causes it lists after `Caused by:` (the trap
    code, e.g. `wasm trap: integer divide by zero`, or a host function's message), else its
    first line. The backtrace is left out."""
    lines = str(exc).strip().splitlines()
    causes: list[str] = []
    for i, line in enumerate(lines):
        if line.strip() == "Caused by:":
            causes = [_CAUSE_INDEX.sub("", c.strip()) for c in lines[i + 1 :] if c.strip()]
            break
    head = lines[0].strip() if lines else ""
    if not head or head.startswith("error while executing at wasm backtrace"):
        head = ""
    parts = [p for p in (head, *causes) if p]
    return ": ".join(parts) if parts else type(exc).__name__


_HOSTCALL_FUEL = "too much data is being copied between the host and the guest"
_CAUSE_INDEX = re.compile(r"^\d+: ")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _wasmtime_version() -> str:
    from importlib.metadata import version

    try:
        return version("wasmtime")
    except Exception:
        return getattr(wasmtime, "__version__", "unknown")
