"""Real components for tests, built from source once and then reused across sessions.

`built_component(source_dir)` builds a Python component with `fuchsia.components.build` into
`<repo>/.cache/fuchsia-test-components/<fingerprint>/` and returns the wasm's path. The
fingerprint covers everything the build is made from (the component's sources, the platform
WIT, the SDK, componentize-py's version), so a test session after the first rebuilds only
what changed. Each cache entry is a complete component directory (sources, `component.yaml`
with the digest filled in, `component.wasm`), so tests can install it like a user's.

`compiled_component(wasm)` compiles a wasm with one shared wasmtime Engine, once per session,
and keeps the compiled artifact beside cached wasm files so later sessions only deserialize it.

`build_examples()` returns {"greeter": wasm, "fetcher": wasm, "csv_summary": wasm}, the
examples in `examples/components/`, built two at a time on a cold cache. The session fixture
`example_components` returns the same: import it into a conftest.py
(`from support.components import example_components`), or wrap `build_examples()` in a
fixture of the test module.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import pytest
import wasmtime
from wasmtime.component import Component

from fuchsia.components.build import build_into, fingerprint
from fuchsia.components.manifest import MANIFEST_FILE, load_manifest
from fuchsia.components.package import digest_of
from fuchsia.errors import FuchsiaError

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "components"
EXAMPLE_NAMES = ("greeter", "fetcher", "csv_summary")
CACHE = Path(os.environ.get("FUCHSIA_TEST_CACHE", REPO / ".cache" / "fuchsia-test-components"))
KEEP_UNUSED = 7 * 24 * 3600  # seconds an entry may go unused before a new build removes it

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _cached_wasm(directory: Path) -> Path | None:
    """The wasm of a finished cache entry whose digest still matches its manifest."""
    if not (directory / MANIFEST_FILE).is_file():
        return None
    try:
        manifest = load_manifest(directory)
        wasm = directory / manifest.wasm
        ok = wasm.is_file() and digest_of(wasm.read_bytes()) == manifest.digest
    except (FuchsiaError, OSError):
        return None
    return wasm if ok else None


def built_component(source_dir: Path) -> Path:
    """The wasm built from `source_dir`, from the cache when its fingerprint is there."""
    key = fingerprint(source_dir).removeprefix("sha256:")
    entry = CACHE / key
    with _lock(key):
        if (wasm := _cached_wasm(entry)) is not None:
            os.utime(entry)  # recently used: kept by `_prune`
            return wasm
        CACHE.mkdir(parents=True, exist_ok=True)
        _prune()
        scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=CACHE))
        try:
            build_into(source_dir, scratch / "component")
            if entry.exists():  # a broken entry, or another process finished first
                if (wasm := _cached_wasm(entry)) is not None:
                    return wasm
                shutil.rmtree(entry)
            os.rename(scratch / "component", entry)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    wasm = _cached_wasm(entry)
    assert wasm is not None, f"the build of {source_dir} left no usable wasm in {entry}"
    return wasm


def built_python_runtime() -> Path:
    """The Python runtime component's directory (built with `fuchsia.components.python`),
    from the cache when this runtime version (which names its build's inputs) is there:
    install it in a test's registry so that locking a python node builds nothing."""
    from fuchsia.components.python import build_runtime, runtime_version

    key = f"python-runtime-{runtime_version()}"
    entry = CACHE / key
    with _lock(key):
        if _cached_wasm(entry) is not None:
            os.utime(entry)
            return entry
        CACHE.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=CACHE))
        try:
            build_runtime(scratch / "component")
            if entry.exists():
                if _cached_wasm(entry) is not None:
                    return entry
                shutil.rmtree(entry)
            os.rename(scratch / "component", entry)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    assert _cached_wasm(entry) is not None, f"the runtime build left no usable wasm in {entry}"
    return entry


def _prune() -> None:
    """Remove cache entries nobody has used for a week (sources since edited, old tools)."""
    cutoff = time.time() - KEEP_UNUSED
    for entry in CACHE.iterdir():
        try:
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except FileNotFoundError:
            continue  # another session removed it first


def build_all(sources: Iterable[Path]) -> list[Path]:
    """`built_component` of each source, two builds at a time (one per core here)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(built_component, sources))


_engine: wasmtime.Engine | None = None
_compiled: dict[Path, Component] = {}
_compile_guard = threading.Lock()


def engine() -> wasmtime.Engine:
    """The session's one wasmtime Engine (default configuration)."""
    global _engine
    with _compile_guard:
        if _engine is None:
            _engine = wasmtime.Engine()
        return _engine


def compiled_component(wasm: Path) -> Component:
    """`wasm` compiled with `engine()`: once per session, and for wasm in the test cache,
    once per wasmtime version (the compiled artifact is kept beside it)."""
    shared = engine()
    with _compile_guard:
        if wasm in _compiled:
            return _compiled[wasm]
        artifact = wasm.with_name(f"{wasm.name}.wasmtime-{version('wasmtime')}.cwasm")
        component: Component | None = None
        if artifact.is_file():
            try:
                component = Component.deserialize_file(shared, str(artifact))
            except wasmtime.WasmtimeError:
                component = None  # made by another engine configuration: compile again
        if component is None:
            component = Component.from_file(shared, str(wasm))
            if wasm.is_relative_to(CACHE):
                tmp = artifact.with_name(f".{artifact.name}.{os.getpid()}.tmp")
                tmp.write_bytes(component.serialize())
                os.replace(tmp, artifact)
        _compiled[wasm] = component
        return component


@functools.cache
def build_examples() -> dict[str, Path]:
    """The example components' wasm files by example name, built from source (cached)."""
    wasms = build_all(EXAMPLES / name for name in EXAMPLE_NAMES)
    return dict(zip(EXAMPLE_NAMES, wasms, strict=True))


@pytest.fixture(scope="session")
def example_components() -> dict[str, Path]:
    """`build_examples()` as a fixture."""
    return build_examples()
