"""Installed components, looked up by `name@version` and verified by digest.

Layout (one directory per installed version; `acme/shop` nests one level deeper):

```
<root>/                       by default $FUCHSIA_HOME/components
  greeter/1.0.0/              component.yaml (digest filled in), component.wasm,
  acme/shop/1.2.0/              README.md and assets/ when the component has them
```

Guarantees:
- An installed version is immutable: installing the same name@version again with the same
  files is a no-op, with different files it is refused unless forced. Workflows lock to a
  digest, so silently replacing a version would change what a locked workflow runs.
- Installs and removals are atomic: files are written to a scratch directory under the root and
  renamed into place, so a reader sees a whole component or none, even across a crash.
- The digest is checked twice: at install (the wasm against the manifest) and on every load
  (`read_wasm`), so a wasm changed on disk after install is refused, naming both digests.
"""

from __future__ import annotations

import builtins
import difflib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuchsia.components.manifest import (
    MANIFEST_FILE,
    Manifest,
    is_valid_name,
    is_valid_version,
    load_manifest,
    semver_key,
)
from fuchsia.components.package import ComponentFiles, digest_of, read_component, unpack
from fuchsia.errors import (
    ComponentLoadError,
    ComponentNotFound,
    DefinitionError,
    RegistryError,
)

DEFAULT_HOME = ".fuchsia"
COMPONENTS_DIR = "components"

Verify = Callable[[Manifest, bytes], None]


def default_root(home: str | Path | None = None) -> Path:
    """`$FUCHSIA_HOME/components` (FUCHSIA_HOME defaults to `.fuchsia`)."""
    base = home if home is not None else os.environ.get("FUCHSIA_HOME", DEFAULT_HOME)
    return Path(base) / COMPONENTS_DIR


def parse_ref(ref: str) -> tuple[str, str | None]:
    """`acme/shop@1.2.0` -> (`acme/shop`, `1.2.0`); `acme/shop` -> (`acme/shop`, None)."""
    name, at, version = ref.partition("@")
    if not is_valid_name(name) or (at and not is_valid_version(version)):
        raise RegistryError(
            f"invalid component reference {ref!r}: expected NAME or NAME@VERSION, "
            "e.g. greeter or acme/shop@1.2.0"
        )
    return name, (version if at else None)


@dataclass(frozen=True)
class InstalledComponent:
    """One installed version; `digest` is the manifest's, which the wasm must match on load."""

    manifest: Manifest
    directory: Path
    wasm_path: Path
    digest: str

    @property
    def ref(self) -> str:
        return self.manifest.ref


class Registry:
    """The components installed under `root`.

    `verify`, when given, is called with the manifest and wasm of every component before it is
    installed, for checks deeper than the preamble (e.g. the host comparing the declared tasks
    with the component's exports); it raises a FuchsiaError to refuse the install.
    """

    def __init__(self, root: Path, *, verify: Verify | None = None) -> None:
        self.root = Path(root)
        self.verify = verify

    # --- install --------------------------------------------------------------------------

    def install(self, source: Path, *, force: bool = False) -> InstalledComponent:
        """Install a component directory (or its component.yaml) or a `.fcpkg` file."""
        with self._scratch("install") as scratch:
            component = self._read_source(Path(source), scratch)
            if self.verify is not None:
                self.verify(component.manifest, component.wasm)
            staged = scratch / "component"
            _write_tree(staged, component.files)
            return self._place(component, staged, scratch, force=force)

    def _read_source(self, source: Path, scratch: Path) -> ComponentFiles:
        if source.is_dir():
            return read_component(source)
        if source.is_file() and source.name == MANIFEST_FILE:
            return read_component(source.parent)
        if source.is_file():
            unpacked = unpack(source, scratch / "unpacked")
            return read_component(unpacked, shown_as=str(source))
        raise RegistryError(
            f"{source}: no such component directory or .fcpkg package"
            if not source.exists()
            else f"{source} is neither a component directory nor a .fcpkg package"
        )

    def _place(
        self, component: ComponentFiles, staged: Path, scratch: Path, *, force: bool
    ) -> InstalledComponent:
        manifest = component.manifest
        target = self._directory(manifest.name, manifest.version)
        if target.exists():
            if _read_tree(target) == component.files:
                return self._load(target, manifest.name, manifest.version)
            if not force:
                raise RegistryError(self._conflict(target, component))
            target.rename(scratch / "replaced")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            staged.rename(target)
        except OSError:
            # Another process installed the same version between our check and the rename.
            if not target.exists():
                raise
            if _read_tree(target) != component.files:
                raise RegistryError(self._conflict(target, component)) from None
        _sync_directory(target.parent)
        return self._load(target, manifest.name, manifest.version)

    def _conflict(self, target: Path, component: ComponentFiles) -> str:
        try:
            installed = load_manifest(target / MANIFEST_FILE).digest
        except DefinitionError:
            installed = "an unreadable manifest"
        detail = (
            f"installed {installed}, new {component.digest}"
            if installed != component.digest
            else "same wasm, other manifest, README or assets"
        )
        return (
            f"{component.manifest.ref} is already installed with different content ({detail}); "
            "publish a new version, or pass --force to replace it"
        )

    # --- look up --------------------------------------------------------------------------

    def list(self) -> builtins.list[InstalledComponent]:
        """Every installed version, sorted by name, then by semver (oldest first)."""
        found = [
            self._load(self._directory(name, version), name, version)
            for name, versions in self._index().items()
            for version in versions
        ]
        return sorted(found, key=lambda c: (c.manifest.name, semver_key(c.manifest.version)))

    def versions(self, name: str) -> builtins.list[str]:
        """The installed versions of `name`, oldest first (empty when none)."""
        return sorted(self._index().get(name, []), key=semver_key)

    def get(self, name: str, version: str | None = None) -> InstalledComponent:
        """`name@version`, or the newest installed version of `name` when version is None."""
        version = self._pick(name, version)
        return self._load(self._directory(name, version), name, version)

    def resolve(self, ref: str) -> InstalledComponent:
        """`name@version` or `name` (the newest version)."""
        return self.get(*parse_ref(ref))

    def python_runtime(self, on_build: Callable[[str], None] | None = None) -> InstalledComponent:
        """The Python runtime `python` nodes run in, built and installed on first need."""
        from fuchsia.components.python import installed_runtime

        return installed_runtime(self, on_build=on_build)

    def read_wasm(self, installed: InstalledComponent) -> bytes:
        """The component's bytes, verified against its digest on every load."""
        try:
            data = installed.wasm_path.read_bytes()
        except OSError as exc:
            raise ComponentLoadError(
                f"{installed.ref}: cannot read {installed.wasm_path}: {exc.strerror}; "
                "reinstall the component"
            ) from None
        digest = digest_of(data)
        if digest != installed.digest:
            raise ComponentLoadError(
                f"{installed.ref}: digest mismatch: expected {installed.digest} (manifest), "
                f"got {digest} ({installed.wasm_path.name}); the installed wasm was changed "
                "after it was installed; reinstall the component"
            )
        return data

    # --- remove ---------------------------------------------------------------------------

    def remove(self, name: str, version: str | None = None) -> str:
        """Remove one installed version; without `version`, the only one. Returns its ref.
        Works on a version whose files are damaged, since it never reads them."""
        if version is None:
            versions = self.versions(name)
            if len(versions) > 1:
                raise RegistryError(
                    f"{name} has {len(versions)} versions installed ({', '.join(versions)}); "
                    f"name one, e.g. `fuchsia component remove {name}@{versions[-1]}`"
                )
        version = self._pick(name, version)
        directory = self._directory(name, version)
        with self._scratch("remove") as scratch:
            directory.rename(scratch / "removed")
        for parent in (directory.parent, directory.parent.parent):
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()  # only when empty: other versions and names stay
            except OSError:
                break
        return f"{name}@{version}"

    # --- internals ------------------------------------------------------------------------

    def _pick(self, name: str, version: str | None) -> str:
        """The installed version meant by (name, version), or a RegistryError that says what
        is installed instead."""
        parse_ref(name if version is None else f"{name}@{version}")  # refuses bad names
        index = self._index()
        versions = sorted(index.get(name, []), key=semver_key)
        if not versions:
            message = f"component {name!r} is not installed"
            close = difflib.get_close_matches(name, sorted(index), n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            raise ComponentNotFound(
                f"{message}; install it with `fuchsia component install PATH`", ref=name
            )
        if version is None:
            return versions[-1]
        if version not in versions:
            raise ComponentNotFound(
                f"{name}@{version} is not installed; installed versions: {', '.join(versions)}",
                ref=f"{name}@{version}",
            )
        return version

    def _directory(self, name: str, version: str) -> Path:
        return self.root.joinpath(*name.split("/"), version)

    def _index(self) -> dict[str, builtins.list[str]]:
        """Installed names and their versions, read from the layout alone (no manifests):
        `<name>/<version>/component.yaml` or `<ns>/<name>/<version>/component.yaml`."""
        index: dict[str, builtins.list[str]] = {}
        if not self.root.is_dir():
            return index
        for pattern in ("*/*/" + MANIFEST_FILE, "*/*/*/" + MANIFEST_FILE):
            for manifest in self.root.glob(pattern):
                *parts, version = manifest.parent.relative_to(self.root).parts
                name = "/".join(parts)
                if is_valid_name(name) and is_valid_version(version):
                    index.setdefault(name, []).append(version)
        return index

    def _load(self, directory: Path, name: str, version: str) -> InstalledComponent:
        try:
            manifest = load_manifest(directory / MANIFEST_FILE)
        except DefinitionError as exc:
            raise RegistryError(
                f"{name}@{version}: the installed manifest is broken ({exc}); "
                f"remove it with `fuchsia component remove {name}@{version}`"
            ) from None
        if manifest.ref != f"{name}@{version}" or manifest.digest is None:
            raise RegistryError(
                f"{directory}: the installed manifest says {manifest.ref}"
                f"{'' if manifest.digest else ' without a digest'}; "
                f"reinstall it with `fuchsia component install PATH --force`"
            )
        return InstalledComponent(
            manifest=manifest,
            directory=directory,
            wasm_path=directory / manifest.wasm,
            digest=manifest.digest,
        )

    @contextmanager
    def _scratch(self, purpose: str) -> Iterator[Path]:
        """A private directory on the registry's file system (so renames are atomic), removed
        afterwards whatever happens. Dot-names keep it out of listings."""
        self.root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{purpose}-"))
        try:
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _write_tree(directory: Path, files: dict[str, bytes]) -> None:
    """Write and flush every file, so the rename that publishes them publishes whole files."""
    for name, data in files.items():
        path = directory.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())


def _read_tree(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def summary(installed: InstalledComponent) -> dict[str, Any]:
    """What lists of components show of one (CLI `list --json`, the HTTP API)."""
    manifest = installed.manifest
    return {
        "ref": installed.ref,
        "name": manifest.name,
        "version": manifest.version,
        "description": manifest.description,
        "world": manifest.world,
        "digest": installed.digest,
        "tasks": list(manifest.tasks),
        "triggers": list(manifest.triggers),
    }
