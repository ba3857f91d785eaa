"""The component registry and `.fcpkg` packages on a real file system, and the
`fuchsia component` commands run as a user runs them.

The wasm bytes are the smallest valid component (the 8-byte preamble of an empty component):
these tests are about files, digests and layout, not about running code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from fuchsia.components.manifest import Manifest, load_manifest
from fuchsia.components.package import digest_of, pack, unpack
from fuchsia.components.registry import Registry, default_root, parse_ref
from fuchsia.errors import ComponentLoadError, DefinitionError, RegistryError
from support.components import CACHE, built_component

REPO = Path(__file__).resolve().parents[2]

EMPTY_COMPONENT = b"\x00asm\x0d\x00\x01\x00"
CORE_MODULE = b"\x00asm\x01\x00\x00\x00"
OTHER_COMPONENT = EMPTY_COMPONENT + b"\x00custom"  # install checks only the preamble
TAMPERED = EMPTY_COMPONENT + b"\x00evil"

MANIFEST = """\
name: {name}
version: {version}
description: Says hello.
wasm: {wasm}
tasks:
  greet:
    input_schema: {{type: object, properties: {{name: {{type: string}}}}}}
capabilities:
  allowed_hosts: [api.example.com]
  memory_limit: 32MiB
config: {{greeting: Hello}}
"""


def make_component(
    root: Path,
    name: str = "greeter",
    version: str = "1.0.0",
    *,
    wasm: bytes = EMPTY_COMPONENT,
    wasm_name: str = "component.wasm",
    digest: str | None = None,
    readme: str | None = "# Greeter\n",
    assets: dict[str, str] | None = None,
) -> Path:
    """A component source directory under `root`; returns the directory."""
    directory = root / f"{name.replace('/', '-')}-{version}-src"
    directory.mkdir(parents=True)
    text = MANIFEST.format(name=name, version=version, wasm=wasm_name)
    if digest is not None:
        text += f"digest: {digest}\n"
    (directory / "component.yaml").write_text(text)
    (directory / wasm_name).parent.mkdir(parents=True, exist_ok=True)
    (directory / wasm_name).write_bytes(wasm)
    if readme is not None:
        (directory / "README.md").write_text(readme)
    for path, content in (assets or {}).items():
        (directory / "assets" / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / "assets" / path).write_text(content)
    return directory


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "home" / "components")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    path.mkdir()
    return path


# --- install ---------------------------------------------------------------------------------


def test_installing_a_directory_lays_out_the_component_with_its_digest(
    registry: Registry, src: Path
) -> None:
    source = make_component(src, wasm_name="build/out.wasm", assets={"data/words.txt": "hi"})
    installed = registry.install(source)
    target = registry.root / "greeter" / "1.0.0"
    assert installed.directory == target
    assert installed.wasm_path == target / "component.wasm"
    assert installed.digest == digest_of(EMPTY_COMPONENT)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "README.md",
        "assets/data/words.txt",
        "component.wasm",
        "component.yaml",
    ]
    written = yaml.safe_load((target / "component.yaml").read_text())
    assert written["digest"] == installed.digest
    assert written["wasm"] == "component.wasm"
    assert load_manifest(target / "component.yaml") == installed.manifest
    assert installed.manifest.capabilities.memory_limit == 32 * 1024 * 1024
    assert registry.read_wasm(installed) == EMPTY_COMPONENT


def test_a_namespaced_component_installs_one_level_deeper(registry: Registry, src: Path) -> None:
    installed = registry.install(make_component(src, "acme/shop", "1.2.0"))
    assert installed.directory == registry.root / "acme" / "shop" / "1.2.0"
    assert registry.resolve("acme/shop@1.2.0") == installed


def test_installing_the_manifest_file_installs_its_directory(registry: Registry, src: Path) -> None:
    installed = registry.install(make_component(src) / "component.yaml")
    assert installed.ref == "greeter@1.0.0"


def test_a_matching_declared_digest_is_accepted(registry: Registry, src: Path) -> None:
    source = make_component(src, digest=digest_of(EMPTY_COMPONENT))
    assert registry.install(source).digest == digest_of(EMPTY_COMPONENT)


def test_a_declared_digest_that_does_not_match_names_both_digests(
    registry: Registry, src: Path
) -> None:
    declared = "sha256:" + "0" * 64
    with pytest.raises(RegistryError) as exc:
        registry.install(make_component(src, digest=declared))
    assert str(exc.value) == (
        f"greeter@1.0.0: digest mismatch: expected {declared} (manifest), "
        f"got {digest_of(EMPTY_COMPONENT)} (component.wasm)"
    )
    assert registry.list() == []


@pytest.mark.parametrize(
    ("wasm", "message"),
    [
        (
            b"hello, world\n",
            "greeter@1.0.0: component.wasm is not WebAssembly: it does not start with \\0asm "
            "but with 68 65 6c 6c 6f 2c 20 77",
        ),
        (
            b"",
            "greeter@1.0.0: component.wasm is not WebAssembly: it does not start with \\0asm "
            "but with nothing (the file is empty)",
        ),
        (
            CORE_MODULE,
            "greeter@1.0.0: component.wasm is a core WebAssembly module, not a component; "
            "build it with componentize-py / wasm-tools component new",
        ),
        (
            b"\x00asm\x0a\x00\x01\x00",
            "greeter@1.0.0: component.wasm is a WebAssembly component of unsupported binary "
            "version 0x0a (expected 0x0d); rebuild it with a current toolchain",
        ),
    ],
)
def test_bytes_that_are_not_a_component_are_refused_with_what_to_do(
    registry: Registry, src: Path, wasm: bytes, message: str
) -> None:
    with pytest.raises(RegistryError) as exc:
        registry.install(make_component(src, wasm=wasm))
    assert str(exc.value) == message
    assert registry.list() == []


def test_a_missing_wasm_says_to_build_first(registry: Registry, src: Path) -> None:
    source = make_component(src)
    (source / "component.wasm").unlink()
    with pytest.raises(RegistryError, match=r"component.wasm does not exist .* build the comp"):
        registry.install(source)


def test_a_broken_manifest_is_reported_with_positions(registry: Registry, src: Path) -> None:
    source = make_component(src)
    (source / "component.yaml").write_text(
        "name: greeter\nversion: 1.0.0\ntasks: {greet: {}}\nx: 1\n"
    )
    with pytest.raises(DefinitionError, match=r"component.yaml:4:1: component: unknown key 'x'"):
        registry.install(source)


def test_installing_nothing_or_a_stray_file_is_a_clear_error(registry: Registry, src: Path) -> None:
    with pytest.raises(RegistryError, match=r"no such component directory or \.fcpkg package"):
        registry.install(src / "missing")
    with pytest.raises(RegistryError, match=r"is not a component directory: no component\.yaml"):
        registry.install(src)
    (src / "notes.txt").write_text("not a zip")
    with pytest.raises(RegistryError, match=r"notes.txt is not a .fcpkg package"):
        registry.install(src / "notes.txt")


def test_reinstalling_the_same_content_changes_nothing(registry: Registry, src: Path) -> None:
    source = make_component(src)
    first = registry.install(source)
    inode = os.stat(first.wasm_path).st_ino
    again = registry.install(source)
    assert again == first
    assert os.stat(again.wasm_path).st_ino == inode
    assert [c.ref for c in registry.list()] == ["greeter@1.0.0"]


def test_other_content_under_an_installed_version_needs_force(
    registry: Registry, src: Path
) -> None:
    first = registry.install(make_component(src / "a"))
    changed = make_component(src / "b", wasm=OTHER_COMPONENT)
    with pytest.raises(RegistryError) as exc:
        registry.install(changed)
    assert str(exc.value) == (
        f"greeter@1.0.0 is already installed with different content (installed "
        f"{first.digest}, new {digest_of(OTHER_COMPONENT)}); publish a new "
        "version, or pass --force to replace it"
    )
    assert registry.read_wasm(registry.get("greeter")) == EMPTY_COMPONENT
    replaced = registry.install(changed, force=True)
    assert registry.read_wasm(replaced) == OTHER_COMPONENT


def test_a_changed_readme_alone_is_other_content(registry: Registry, src: Path) -> None:
    registry.install(make_component(src / "a"))
    with pytest.raises(RegistryError, match="same wasm, other manifest, README or assets"):
        registry.install(make_component(src / "b", readme="# Changed\n"))


def test_verify_hook_can_refuse_an_install(tmp_path: Path, src: Path) -> None:
    seen: list[tuple[str, bytes]] = []

    def verify(manifest: Manifest, wasm: bytes) -> None:
        seen.append((manifest.ref, wasm))
        raise RegistryError("greeter@1.0.0: task 'greet' is not exported")

    registry = Registry(tmp_path / "components", verify=verify)
    with pytest.raises(RegistryError, match="not exported"):
        registry.install(make_component(src))
    assert seen == [("greeter@1.0.0", EMPTY_COMPONENT)]
    assert registry.list() == []


def test_failed_installs_leave_no_scratch_directories(registry: Registry, src: Path) -> None:
    registry.install(make_component(src / "a"))
    with pytest.raises(RegistryError):
        registry.install(make_component(src / "b", wasm=CORE_MODULE, version="2.0.0"))
    assert sorted(p.name for p in registry.root.iterdir()) == ["greeter"]


# --- load -------------------------------------------------------------------------------------


def test_a_wasm_tampered_with_after_install_is_refused_naming_both_digests(
    registry: Registry, src: Path
) -> None:
    installed = registry.install(make_component(src))
    installed.wasm_path.write_bytes(TAMPERED)
    with pytest.raises(ComponentLoadError) as exc:
        registry.read_wasm(registry.get("greeter", "1.0.0"))
    assert exc.value.message == (
        f"greeter@1.0.0: digest mismatch: expected {digest_of(EMPTY_COMPONENT)} (manifest), "
        f"got {digest_of(TAMPERED)} (component.wasm); the installed wasm was changed after it "
        "was installed; reinstall the component"
    )
    assert exc.value.retryable is False


def test_a_deleted_wasm_is_a_load_error(registry: Registry, src: Path) -> None:
    installed = registry.install(make_component(src))
    installed.wasm_path.unlink()
    with pytest.raises(ComponentLoadError, match=r"cannot read .*; reinstall the component"):
        registry.read_wasm(installed)


# --- list, get, resolve, remove ----------------------------------------------------------------


def test_list_sorts_by_name_then_semver(registry: Registry, src: Path) -> None:
    for name, version in [
        ("zeta", "1.0.0"),
        ("greeter", "1.10.0"),
        ("greeter", "1.9.0"),
        ("acme/shop", "2.0.0"),
        ("greeter", "1.10.0-rc.1"),
    ]:
        registry.install(make_component(src, name, version))
    assert [c.ref for c in registry.list()] == [
        "acme/shop@2.0.0",
        "greeter@1.9.0",
        "greeter@1.10.0-rc.1",
        "greeter@1.10.0",
        "zeta@1.0.0",
    ]
    assert registry.versions("greeter") == ["1.9.0", "1.10.0-rc.1", "1.10.0"]


def test_an_empty_or_missing_registry_lists_nothing(tmp_path: Path) -> None:
    assert Registry(tmp_path / "nowhere").list() == []


def test_get_without_a_version_is_the_newest(registry: Registry, src: Path) -> None:
    for version in ("1.2.0", "1.10.0", "1.9.3"):
        registry.install(make_component(src, version=version))
    assert registry.get("greeter").manifest.version == "1.10.0"
    assert registry.resolve("greeter").manifest.version == "1.10.0"
    assert registry.resolve("greeter@1.2.0").manifest.version == "1.2.0"


def test_missing_components_and_versions_say_what_is_installed(
    registry: Registry, src: Path
) -> None:
    registry.install(make_component(src, version="1.0.0"))
    registry.install(make_component(src, version="1.1.0"))
    with pytest.raises(RegistryError) as exc:
        registry.get("greeter", "2.0.0")
    assert str(exc.value) == "greeter@2.0.0 is not installed; installed versions: 1.0.0, 1.1.0"
    with pytest.raises(RegistryError) as exc:
        registry.resolve("greter")
    assert str(exc.value) == (
        "component 'greter' is not installed (did you mean 'greeter'?); install it with "
        "`fuchsia component install PATH`"
    )


@pytest.mark.parametrize("ref", ["", "Greeter", "greeter@", "greeter@1.0", "../etc@1.0.0", "a@b@c"])
def test_malformed_references_are_refused_before_touching_the_disk(
    registry: Registry, ref: str
) -> None:
    with pytest.raises(RegistryError, match="invalid component reference"):
        registry.resolve(ref)


def test_parse_ref_splits_name_and_version() -> None:
    assert parse_ref("acme/shop@1.2.0") == ("acme/shop", "1.2.0")
    assert parse_ref("greeter") == ("greeter", None)


def test_remove_needs_a_version_when_several_are_installed(registry: Registry, src: Path) -> None:
    registry.install(make_component(src, version="1.0.0"))
    registry.install(make_component(src, version="1.1.0"))
    with pytest.raises(RegistryError) as exc:
        registry.remove("greeter")
    assert str(exc.value) == (
        "greeter has 2 versions installed (1.0.0, 1.1.0); name one, e.g. "
        "`fuchsia component remove greeter@1.1.0`"
    )
    assert registry.remove("greeter", "1.0.0") == "greeter@1.0.0"
    assert [c.ref for c in registry.list()] == ["greeter@1.1.0"]
    assert registry.remove("greeter") == "greeter@1.1.0"
    assert registry.list() == []
    assert list(registry.root.iterdir()) == []  # empty name directories go too


def test_removing_one_name_keeps_its_namespace_neighbours(registry: Registry, src: Path) -> None:
    registry.install(make_component(src, "acme/shop"))
    registry.install(make_component(src, "acme/mail"))
    registry.remove("acme/shop")
    assert [c.ref for c in registry.list()] == ["acme/mail@1.0.0"]
    with pytest.raises(RegistryError, match="'acme/shop' is not installed"):
        registry.remove("acme/shop")


def test_a_damaged_install_can_still_be_removed(registry: Registry, src: Path) -> None:
    installed = registry.install(make_component(src))
    (installed.directory / "component.yaml").write_text("name: [\n")
    with pytest.raises(RegistryError, match="the installed manifest is broken"):
        registry.list()
    assert registry.remove("greeter") == "greeter@1.0.0"
    assert registry.list() == []


def test_the_default_root_is_under_fuchsia_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUCHSIA_HOME", "/srv/fuchsia")
    assert default_root() == Path("/srv/fuchsia/components")
    monkeypatch.delenv("FUCHSIA_HOME")
    assert default_root() == Path(".fuchsia/components")


# --- packages ----------------------------------------------------------------------------------


def test_packing_is_deterministic(src: Path, tmp_path: Path) -> None:
    source = make_component(src, assets={"b.txt": "b", "a/c.txt": "c"})
    first = pack(source, tmp_path / "one.fcpkg")
    os.utime(source / "component.wasm", (1_000_000_000, 1_000_000_000))
    os.utime(source / "assets" / "b.txt", (2_000_000_000, 2_000_000_000))
    second = pack(source, tmp_path / "two.fcpkg")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == [
        "README.md",
        "assets/a/c.txt",
        "assets/b.txt",
        "component.wasm",
        "component.yaml",
    ]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_pack_defaults_to_dist_and_fills_in_the_digest(src: Path) -> None:
    source = make_component(src, "acme/shop", "1.2.0", wasm_name="out/shop.wasm", readme=None)
    written = pack(source)
    assert written == source / "dist" / "acme-shop-1.2.0.fcpkg"
    with zipfile.ZipFile(written) as archive:
        assert archive.namelist() == ["component.wasm", "component.yaml"]
        manifest = yaml.safe_load(archive.read("component.yaml"))
        assert archive.read("component.wasm") == EMPTY_COMPONENT
    assert manifest["digest"] == digest_of(EMPTY_COMPONENT)
    assert manifest["wasm"] == "component.wasm"
    assert pack(source) == written  # packing again replaces the package in place


def test_pack_refuses_what_install_would_refuse(src: Path) -> None:
    with pytest.raises(RegistryError, match="core WebAssembly module"):
        pack(make_component(src, wasm=CORE_MODULE))


def test_a_package_installs_like_its_directory(
    registry: Registry, src: Path, tmp_path: Path
) -> None:
    source = make_component(src, assets={"x.txt": "x"})
    package = pack(source, tmp_path / "greeter.fcpkg")
    from_package = registry.install(package)
    other = Registry(tmp_path / "other")
    from_directory = other.install(source)
    assert from_package.manifest == from_directory.manifest
    assert (from_package.directory / "assets" / "x.txt").read_text() == "x"
    assert registry.install(package) == from_package  # same content again: no-op
    assert [p.name for p in registry.root.iterdir()] == ["greeter"]


def test_a_package_whose_wasm_was_swapped_is_refused_naming_both_digests(
    registry: Registry, src: Path, tmp_path: Path
) -> None:
    package = pack(make_component(src), tmp_path / "good.fcpkg")
    swapped = tmp_path / "swapped.fcpkg"
    with zipfile.ZipFile(package) as good, zipfile.ZipFile(swapped, "w") as bad:
        bad.writestr("component.yaml", good.read("component.yaml"))
        bad.writestr("component.wasm", TAMPERED)
    with pytest.raises(RegistryError) as exc:
        registry.install(swapped)
    assert str(exc.value) == (
        f"greeter@1.0.0: digest mismatch: expected {digest_of(EMPTY_COMPONENT)} (manifest), "
        f"got {digest_of(TAMPERED)} (component.wasm)"
    )


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("../evil.txt", "a path with `..`"),
        ("assets/../../evil.txt", "a path with `..`"),
        ("/tmp/evil.txt", "an absolute path"),
        ("C:/evil.txt", "an absolute path"),
        ("assets\\..\\evil.txt", "a backslash in the path"),
    ],
)
def test_unpacking_refuses_entries_that_escape_the_target(
    tmp_path: Path, entry: str, reason: str
) -> None:
    package = _zip(
        tmp_path / "evil.fcpkg",
        {"component.yaml": b"name: x\n", "component.wasm": EMPTY_COMPONENT, entry: b"gotcha"},
    )
    into = tmp_path / "out" / "inner"
    with pytest.raises(RegistryError) as exc:
        unpack(package, into)
    assert str(exc.value) == f"{package}: refusing entry {entry!r}: {reason}"
    assert not (tmp_path / "out").exists()  # nothing was written, not even the safe entries
    assert not (tmp_path / "evil.txt").exists()


def test_unpacking_refuses_symbolic_links(tmp_path: Path) -> None:
    package = tmp_path / "link.fcpkg"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("component.yaml", b"name: x\n")
        link = zipfile.ZipInfo("assets/passwd")
        link.external_attr = (0o120777 << 16) | 0x20
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(RegistryError, match=r"refusing entry 'assets/passwd': a symbolic link"):
        unpack(package, tmp_path / "out")


def test_a_package_without_a_manifest_is_refused(registry: Registry, tmp_path: Path) -> None:
    package = _zip(tmp_path / "bare.fcpkg", {"component.wasm": EMPTY_COMPONENT})
    with pytest.raises(RegistryError) as exc:
        registry.install(package)
    assert str(exc.value) == f"{package} is not a component package: no component.yaml at its top"


def test_problems_in_a_packaged_manifest_name_the_package(
    registry: Registry, tmp_path: Path
) -> None:
    manifest = b"name: x\nversion: 1.0.0\ntasks: {t: {}}\nextra: 1\n"
    package = _zip(tmp_path / "x.fcpkg", {"component.yaml": manifest})
    with pytest.raises(DefinitionError) as exc:
        registry.install(package)
    assert str(exc.value) == f"{package}/component.yaml:4:1: component: unknown key 'extra'"
    without_wasm = _zip(tmp_path / "y.fcpkg", {"component.yaml": manifest[:-9]})
    with pytest.raises(RegistryError) as missing:
        registry.install(without_wasm)
    assert str(missing.value) == (
        f"x@1.0.0: component.wasm does not exist in {without_wasm} (named by `wasm` in "
        "component.yaml); build the component first"
    )


def test_a_package_whose_manifest_names_a_wasm_outside_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    manifest = b"name: x\nversion: 1.0.0\nwasm: ../../escape.wasm\ntasks: {t: {}}\n"
    package = _zip(tmp_path / "escape.fcpkg", {"component.yaml": manifest})
    with pytest.raises(DefinitionError, match="expected a path inside the component's directory"):
        registry.install(package)


# --- the CLI, as a user runs it ----------------------------------------------------------------


def fuchsia(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env["FUCHSIA_HOME"] = str(home)
    env["FUCHSIA_CACHE"] = str(CACHE / "compiled-cache")  # compiled once for all sessions
    return subprocess.run(
        [sys.executable, "-m", "fuchsia", "component", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout


def test_cli_packs_installs_lists_inspects_and_removes(tmp_path: Path, src: Path) -> None:
    home = tmp_path / "home"
    # install compiles the component and checks its exports: it must be a real one
    wasm = built_component(REPO / "examples" / "components" / "greeter").read_bytes()
    source = make_component(src, "acme/shop", "1.2.0", wasm=wasm)
    digest = digest_of(wasm)

    assert ok(fuchsia(home, "pack", str(source), "-o", "shop.fcpkg", cwd=tmp_path)).startswith(
        "packed shop.fcpkg ("
    )
    installed = json.loads(ok(fuchsia(home, "install", "shop.fcpkg", "--json", cwd=tmp_path)))
    assert installed["ref"] == "acme/shop@1.2.0"
    assert installed["digest"] == digest
    assert Path(installed["directory"]) == home / "components" / "acme" / "shop" / "1.2.0"
    assert ok(fuchsia(home, "install", str(source), cwd=tmp_path)) == (
        f"installed acme/shop@1.2.0 {digest}\n"
    )

    listed = json.loads(ok(fuchsia(home, "list", "--json", cwd=tmp_path)))
    assert [(c["ref"], c["tasks"]) for c in listed] == [("acme/shop@1.2.0", ["greet"])]
    assert "acme/shop" in ok(fuchsia(home, "list", cwd=tmp_path))

    shown = json.loads(ok(fuchsia(home, "inspect", "acme/shop", "--json", cwd=tmp_path)))
    assert shown["digest"] == digest
    assert shown["tasks"]["greet"]["input_schema"]["properties"] == {"name": {"type": "string"}}
    assert shown["capabilities"] == {
        "allowed_hosts": ["api.example.com"],
        "allowed_paths": [],
        "memory_limit": 32 * 1024 * 1024,
        "sockets": False,
    }
    assert shown["config"] == {"greeting": "Hello"}
    text = ok(fuchsia(home, "inspect", "acme/shop@1.2.0", cwd=tmp_path))
    assert text.splitlines()[:4] == [
        "acme/shop@1.2.0  (task-component)",
        "  Says hello.",
        f"digest:    {digest}",
        f"directory: {home / 'components' / 'acme' / 'shop' / '1.2.0'}",
    ]
    assert "    input: {" in text
    assert "  memory_limit:  32MiB (33554432 bytes)" in text
    assert "fuchsia:platform/task@0.1.0" in shown["interface"]["exports"]
    assert "fuchsia:platform/kv@0.1.0" in shown["interface"]["imports"]

    assert ok(fuchsia(home, "remove", "acme/shop@1.2.0", cwd=tmp_path)) == (
        "removed acme/shop@1.2.0\n"
    )
    assert json.loads(ok(fuchsia(home, "list", "--json", cwd=tmp_path))) == []


def test_cli_mistakes_are_one_line_and_exit_1(tmp_path: Path, src: Path) -> None:
    home = tmp_path / "home"
    core = make_component(src, wasm=CORE_MODULE)
    refused = fuchsia(home, "install", str(core), cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        "error: greeter@1.0.0: component.wasm is a core WebAssembly module, not a component; "
        "build it with componentize-py / wasm-tools component new\n"
    )
    missing = fuchsia(home, "inspect", "nothing@1.0.0", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (
        1,
        "error: component 'nothing' is not installed; install it with "
        "`fuchsia component install PATH`\n",
    )
