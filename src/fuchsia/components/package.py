"""A component on disk: a source directory checked into exactly the files that get installed,
and the `.fcpkg` zip that carries those files from one machine to another.

Both the registry and `pack` go through `read_component`, so a package holds precisely what an
install from the directory would: `component.yaml` with the digest filled in and `wasm` pointing
at `component.wasm`, the wasm itself, `README.md` if present, and every file under `assets/`.

Packages are deterministic (entries sorted, fixed timestamps and modes), so the same directory
packs to the same bytes on any machine. Unpacking trusts nothing: absolute paths, `..`,
links, encrypted entries, duplicates and oversized contents are refused before a byte is written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from fuchsia.components.manifest import (
    MANIFEST_FILE,
    WASM_FILE,
    Manifest,
    dump_manifest,
    load_manifest,
)
from fuchsia.errors import DefinitionError, RegistryError
from fuchsia.reading import os_reason, read_at_most

PACKAGE_SUFFIX = ".fcpkg"
README_FILE = "README.md"
ASSETS_DIR = "assets"
MAX_UNPACKED_BYTES = 1024**3  # a zip bomb guard: no sensible component unpacks larger

WASM_MAGIC = b"\x00asm"
COMPONENT_PREAMBLE = b"\x0d\x00\x01\x00"  # component-model binary version 0x0d, layer 1
CORE_PREAMBLE = b"\x01\x00\x00\x00"  # core module version 1, layer 0

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: no build time leaks in
_FILE_MODE = 0o100644


def digest_of(data: bytes) -> str:
    """`sha256:<hex>` of the bytes: how manifests, the registry and locks name a wasm."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def component_problem(data: bytes, name: str) -> str | None:
    """Why these bytes are not a WebAssembly component, or None if they look like one.

    A cheap check of the 8-byte preamble only; the host's compile is the full check. It exists
    so that the common mistakes (a core module, a text file) are refused at install with a
    message that says what to do, instead of failing at the first run."""
    if len(data) < 8 or data[:4] != WASM_MAGIC:
        start = data[:8].hex(" ") if data else "nothing (the file is empty)"
        return f"{name} is not WebAssembly: it does not start with \\0asm but with {start}"
    preamble = data[4:8]
    if preamble == COMPONENT_PREAMBLE:
        return None
    if preamble == CORE_PREAMBLE:
        return (
            f"{name} is a core WebAssembly module, not a component; build it with "
            "componentize-py / wasm-tools component new"
        )
    if preamble[2:] == COMPONENT_PREAMBLE[2:]:
        return (
            f"{name} is a WebAssembly component of unsupported binary version "
            f"0x{preamble[0]:02x} (expected 0x0d); rebuild it with a current toolchain"
        )
    return f"{name} has an unknown WebAssembly version/layer {preamble.hex(' ')}"


@dataclass(frozen=True)
class ComponentFiles:
    """A verified component: its manifest as it will be installed (digest filled in, wasm at
    `component.wasm`) and every file that goes with it, by its path in the component."""

    manifest: Manifest
    digest: str
    files: dict[str, bytes]

    @property
    def wasm(self) -> bytes:
        return self.files[WASM_FILE]


def read_component(directory: Path, *, shown_as: str | None = None) -> ComponentFiles:
    """Read and check a component directory: the manifest (positioned problems), the wasm it
    names (present, a component, and matching the manifest's digest if one is declared), the
    README and the assets. Raises DefinitionError or RegistryError.

    `shown_as` names the directory in messages instead of its path (for a package unpacked
    into a scratch directory: the package's name)."""
    where = shown_as or str(directory)
    if not directory.is_dir():
        raise RegistryError(f"{where} is not a component directory")
    if not (directory / MANIFEST_FILE).is_file():
        raise RegistryError(f"{where} is not a component directory: no {MANIFEST_FILE}")
    try:
        manifest = load_manifest(directory / MANIFEST_FILE)
    except DefinitionError as exc:
        if shown_as is None:
            raise
        file = f"{shown_as}/{MANIFEST_FILE}"
        raise DefinitionError([replace(p, file=file) for p in exc.problems]) from None
    try:
        wasm = _read_wasm(directory / manifest.wasm, f"{manifest.wasm} in {where}")
    except FileNotFoundError:
        raise RegistryError(
            f"{manifest.ref}: {manifest.wasm} does not exist in {where} (named by `wasm` in "
            f"{MANIFEST_FILE}); build the component first"
        ) from None
    except OSError as exc:
        raise RegistryError(
            f"{manifest.ref}: cannot read {manifest.wasm} in {where}: {exc.strerror}"
        ) from None
    except ValueError as exc:
        raise RegistryError(f"{manifest.ref}: {exc}") from None
    if problem := component_problem(wasm, manifest.wasm):
        raise RegistryError(f"{manifest.ref}: {problem}")
    digest = digest_of(wasm)
    if manifest.digest is not None and manifest.digest != digest:
        raise RegistryError(
            f"{manifest.ref}: digest mismatch: expected {manifest.digest} (manifest), "
            f"got {digest} ({manifest.wasm})"
        )
    installed = manifest.model_copy(update={"digest": digest, "wasm": WASM_FILE})
    files = {MANIFEST_FILE: dump_manifest(installed).encode(), WASM_FILE: wasm}
    files.update(_extras(directory))
    return ComponentFiles(manifest=installed, digest=digest, files=files)


def _read_wasm(path: Path, shown: str) -> bytes:
    """The bytes of a regular file of at most MAX_UNPACKED_BYTES: a device such as /dev/zero
    would be read without end, and a fifo opened to read waits for a writer (ValueError)."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise ValueError(f"{shown} is not a regular file")
    data = read_at_most(path, MAX_UNPACKED_BYTES)
    if len(data) > MAX_UNPACKED_BYTES:
        raise ValueError(f"{shown} is larger than {MAX_UNPACKED_BYTES} bytes")
    return data


def _extras(directory: Path) -> dict[str, bytes]:
    """README.md and assets/**, regular files only: a link could point anywhere on the disk."""
    found: dict[str, bytes] = {}
    readme = directory / README_FILE
    if readme.is_symlink() or (readme.exists() and not readme.is_file()):
        raise RegistryError(f"{readme} must be a regular file")
    if readme.is_file():
        found[README_FILE] = readme.read_bytes()
    assets = directory / ASSETS_DIR
    if assets.is_symlink():
        raise RegistryError(f"{assets} is a symbolic link; assets must be a directory")
    if not assets.is_dir():
        return found
    for path in sorted(assets.rglob("*")):
        if path.is_symlink():
            raise RegistryError(f"{path} is a symbolic link; assets must be regular files")
        if path.is_file():
            found[path.relative_to(directory).as_posix()] = path.read_bytes()
    return found


def package_name(manifest: Manifest) -> str:
    """`acme-shop-1.2.0.fcpkg` for acme/shop@1.2.0."""
    return f"{manifest.name.replace('/', '-')}-{manifest.version}{PACKAGE_SUFFIX}"


def pack(directory: Path, output: Path | None = None) -> Path:
    """Write the component in `directory` as a `.fcpkg` (default `<dir>/dist/<name>-<version>
    .fcpkg`; an existing directory as `output` gets that file name inside it). The same
    directory always packs to the same bytes. Returns the path written."""
    component = read_component(directory)
    if output is None:
        output = directory / "dist" / package_name(component.manifest)
    elif output.is_dir():
        output = output / package_name(component.manifest)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=output.parent, prefix=".pack-", suffix=PACKAGE_SUFFIX)
    except OSError as exc:
        raise RegistryError(f"cannot write {output}: {os_reason(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as stream, zipfile.ZipFile(stream, "w") as archive:
            for name in sorted(component.files):
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.create_system = 3  # unix, so the mode below means the same everywhere
                info.external_attr = _FILE_MODE << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, component.files[name], compresslevel=9)
        os.replace(temp, output)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RegistryError(f"cannot write {output}: {os_reason(exc)}") from None
        raise
    return output


def unpack(path: Path, into: Path) -> Path:
    """Extract a `.fcpkg` into the directory `into` (created if missing) after checking every
    entry; returns `into`. The result is a component directory for `read_component`."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise RegistryError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise RegistryError(f"{path} is not a {PACKAGE_SUFFIX} package: {exc}") from None
    with archive:
        members = _checked_members(path, archive)
        into.mkdir(parents=True, exist_ok=True)
        try:
            for info in members:
                target = into.joinpath(*PurePosixPath(info.filename).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise RegistryError(f"{path}: the package is damaged: {exc}") from None
    return into


def _checked_members(path: Path, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The file entries to extract, or RegistryError for the first unsafe one."""
    members: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    total = 0
    for info in archive.infolist():
        name = info.filename
        if problem := _unsafe(name):
            raise RegistryError(f"{path}: refusing entry {name!r}: {problem}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise RegistryError(f"{path}: refusing entry {name!r}: a symbolic link")
        if info.flag_bits & 0x1:
            raise RegistryError(f"{path}: refusing entry {name!r}: it is encrypted")
        if info.is_dir():
            continue
        normal = PurePosixPath(name).as_posix()
        if normal in seen:
            raise RegistryError(f"{path}: refusing entry {name!r}: it appears twice")
        seen.add(normal)
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise RegistryError(
                f"{path}: the package unpacks to more than {MAX_UNPACKED_BYTES} bytes"
            )
        members.append(info)
    if MANIFEST_FILE not in seen:
        raise RegistryError(f"{path} is not a component package: no {MANIFEST_FILE} at its top")
    return members


def _unsafe(name: str) -> str | None:
    """Why extracting an entry with this name could write outside the target (zip-slip)."""
    if not name or "\x00" in name:
        return "an empty or NUL-containing name"
    if "\\" in name:
        return "a backslash in the path"
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":"):
        return "an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "a path with `..`"
    return None
