"""The Python runtime component that `python` nodes run in: where it comes from, how it is
built, how a registry gets it.

Its source ships inside this package (`python_runtime/`: `app.py` and `component.yaml`). It is
built with componentize-py like any Python component, and installed in the registry as
`fuchsia/python-runtime@1.0.0-fp<fingerprint>`: the version names the build's inputs (the
source, the platform WIT, the SDK, componentize-py's version), so a Fuchsia whose runtime
source changed installs a new version beside the old one, and a workflow locked to the old
one keeps its digest. A locked `python` node pins the digest of the installed build, which the
registry verifies on every load like any component's.

The build takes tens of seconds (componentize-py snapshots a CPython with the standard library
modules steps may import); it happens the first time a workflow with a `python` node is locked
against a registry without it, or ahead with `fuchsia component install --python-runtime`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from fuchsia.components.build import build_component, fingerprint, source_files
from fuchsia.components.manifest import MANIFEST_FILE
from fuchsia.components.registry import InstalledComponent, Registry
from fuchsia.errors import ComponentNotFound

RUNTIME_NAME = "fuchsia/python-runtime"
BASE_VERSION = "1.0.0"
TASK = "run"
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
