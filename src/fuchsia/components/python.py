"""The Python runtime component that `python` nodes run in: where it comes from, how it is
built, how a registry gets it.

Its source ships inside this package (`python_runtime/`: `app.py` and `component.yaml`). It is
built with componentize-py like any Python component, and installed in the registry as
`fuchsia/python-runtime@1.0.0-fp<fingerprint>`: the version names the build's inputs (the
source, the platform WIT, the SDK, componentize-py's version), so a Fuchsia whose runtime
source changed installs a new version beside the old one, and a workflow locked to the old
one keeps its digest. A locked `python` node pins the digest of the installed build, which the
registry verifies on every load like any component's.

A step's code that runs more than once in a process is compiled by the runtime itself, in an
instance of its own that runs none of it (the `compile` task), once per process, runtime
digest and source (`CompiledSteps`); its attempts then load the marshalled code object
instead of compiling, which is most of what a small step costs inside the sandbox.

The build takes tens of seconds (componentize-py snapshots a CPython with the standard library
modules steps may import); it happens the first time a workflow with a `python` node is locked
against a registry without it, or ahead with `fuchsia component install --python-runtime`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fuchsia.components.build import build_component, fingerprint, source_files
from fuchsia.components.manifest import MANIFEST_FILE
from fuchsia.components.registry import InstalledComponent, Registry
from fuchsia.errors import ComponentNotFound

RUNTIME_NAME = "fuchsia/python-runtime"
BASE_VERSION = "1.0.0"
TASK = "run"
COMPILE_TASK = "compile"  # since runtime source that declares it; older runtimes compile in `run`
_VERSION_LINE = re.compile(r"^version:[^\n]*$", re.MULTILINE)
_building = threading.Lock()


def source_dir() -> Path:
    """The runtime component's source directory, shipped in the package."""
    from fuchsia.components.build import _package_dir

    return _package_dir("components", "python_runtime")


def runtime_version(source: Path | None = None) -> str:
    """The version this Fuchsia's runtime source is installed under (`1.0.0-fp<12 hex>`)."""
    key = fingerprint(source or source_dir()).removeprefix("sha256:")
    return f"{BASE_VERSION}-fp{key[:12]}"


def runtime_ref() -> str:
    return f"{RUNTIME_NAME}@{runtime_version()}"


def build_runtime(target: Path, source: Path | None = None) -> Path:
    """Build the runtime into `target` (a new or empty directory), its manifest's version set
    to `runtime_version`; returns the wasm. `target` is then a component directory to
    install."""
    source = source or source_dir()
    version = runtime_version(source)
    target.mkdir(parents=True, exist_ok=True)
    for relative in source_files(source):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, destination)
    manifest = target / MANIFEST_FILE
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(_VERSION_LINE.sub(f"version: {version}", text, count=1), encoding="utf-8")
    return build_component(target, full_wasi=True)


def installed_runtime(
    registry: Registry, *, build: bool = True, on_build: Callable[[str], None] | None = None
) -> InstalledComponent:
    """This Fuchsia's runtime in `registry`; built and installed first when it is missing
    (`on_build` is told its reference then), unless `build` is false: then
    `ComponentNotFound` says how to install it."""
    ref = runtime_ref()
    try:
        return registry.resolve(ref)
    except ComponentNotFound:
        if not build:
            raise ComponentNotFound(
                f"the Python runtime {ref} is not installed; install it with "
                "`fuchsia component install --python-runtime`",
                ref=ref,
            ) from None
    with _building:  # one build per process at a time: each takes a core for seconds
        try:
            return registry.resolve(ref)
        except ComponentNotFound:
            pass
        if on_build is not None:
            on_build(ref)
        with tempfile.TemporaryDirectory(prefix="fuchsia-python-runtime-") as scratch:
            directory = Path(scratch) / "runtime"
            build_runtime(directory)
            return registry.install(directory)


class CompiledSteps:
    """Steps' code objects as the runtime's `compile` task returned them (base64 of the
    marshalled object), by runtime digest, code, file and line; the `size` most recently used
    are kept. The value depends on those alone: the task runs none of the step's code, so
    nothing an attempt does can reach what a later attempt loads. Shared by worker threads.

    The task costs an instance of its own, which pays off only for code that runs again: the
    first attempt of a code in this process compiles it in `run`, the second asks the task
    (`should_compile`), and attempts on other threads meanwhile compile in `run` as well."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._compiled: OrderedDict[str, str] = OrderedDict()
        self._seen: OrderedDict[str, bool] = OrderedDict()  # True while the task compiles it
        self._lock = threading.Lock()

    @staticmethod
    def key(runtime_digest: str, code: str, file: str, line: int) -> str:
        return hashlib.sha256(json.dumps([runtime_digest, code, file, line]).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is not None:
                self._compiled.move_to_end(key)
            return compiled

    def should_compile(self, key: str) -> bool:
        """True once for a key not compiled yet: the second time it is asked about. The
        caller then runs the task and hands its result to `put`, or calls `abandon`."""
        with self._lock:
            if key in self._compiled:
                return False
            compiling = self._seen.get(key)
            if compiling is None:
                self._keep(self._seen, key, False)
            elif not compiling:
                self._seen[key] = True
                return True
            return False

    def abandon(self, key: str) -> None:
        """The task did not compile `key` (it failed, or was stopped): ask again later."""
        with self._lock:
            if key in self._seen:
                self._seen[key] = False

    def put(self, key: str, compiled: str) -> None:
        with self._lock:
            self._seen.pop(key, None)
            self._keep(self._compiled, key, compiled)

    def _keep(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._size:
            table.popitem(last=False)
