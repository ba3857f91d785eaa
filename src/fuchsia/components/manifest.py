"""`component.yaml`: what a component declares about itself (DESIGN.md §5).

The manifest is the contract the rest of the engine trusts before it touches the wasm: locking
copies a task's input schema from it, the host grants exactly its capabilities, and the
registry pins its `digest`. So every model forbids unknown keys and is frozen, every JSON
Schema is checked when the manifest is read (not when the first input arrives), and the world
must be able to carry what is declared: a task world declares tasks, a trigger world triggers.

`load_manifest` reports every problem at once, each as `FILE:LINE:COL: message`, the same way
workflow files are reported (it reuses their positioned YAML reader).
"""

from __future__ import annotations

import difflib
import math
import re
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import jsonschema
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from fuchsia import schemas
from fuchsia.components.hosts import parse_host_pattern
from fuchsia.definition.source import Loc, Source, read_file
from fuchsia.definition.validate import fields_at, mapping_expected
from fuchsia.errors import DefinitionError, Problem

MANIFEST_FILE = "component.yaml"
WASM_FILE = "component.wasm"

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)?$"
TASK_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
# Semantic Versioning 2.0 without build metadata: `1.2.0+a` and `1.2.0+b` would be two
# directories in the registry that semver itself calls the same version.
VERSION_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$"
)
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"

_NAME = re.compile(NAME_PATTERN)
_TASK_NAME = re.compile(TASK_NAME_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_DIGEST = re.compile(DIGEST_PATTERN)

World = Literal["task-component", "trigger-component", "fuschia-task"]
TASK_WORLDS: frozenset[str] = frozenset({"task-component", "fuschia-task"})


def _error(message: str, *at: str | int) -> PydanticCustomError:
    """A validation error placed `at` a path below the field it was raised for, so the problem
    lands on the exact line and column (e.g. inside a JSON Schema)."""
    return PydanticCustomError("manifest", message, {"_at": list(at)})


# --- sizes -----------------------------------------------------------------------------------

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_SIZE_HINT = "expected bytes or a size such as 512KiB, 64MiB, 1GiB or 10MB"


def parse_size(value: object) -> int:
    """A size in bytes from an integer or a string such as `64MiB`, `512KiB`, `1GiB`, `10MB`
    (KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000); raise ValueError with a user's message."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid size {value!r}: {_SIZE_HINT}")
    if isinstance(value, str):
        match = _SIZE.match(value)
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _SIZE_UNITS:
            raise ValueError(f"invalid size {value!r}: {_SIZE_HINT}")
        number = Decimal(match.group(1)) * _SIZE_UNITS[unit]  # exact: 10.1KB is 10100
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"invalid size {value!r}: must be a whole number of bytes")
    else:
        number = Decimal(value)
    if number != int(number):
        raise ValueError(f"invalid size {value!r}: must be a whole number of bytes")
    if number <= 0:
        raise ValueError(f"invalid size {value!r}: must be more than 0 bytes")
    return int(number)


def format_size(size: int) -> str | int:
    """`67108864` as `64MiB`; sizes that are not whole KiB/MiB/GiB stay a number of bytes."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return size


# --- capabilities ----------------------------------------------------------------------------


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathGrant(Model):
    """A directory the component may open (read only unless `writable`)."""

    path: str
    writable: bool = False

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise ValueError("a granted path must be a non-empty path")
        return value


def _path_grant(value: object) -> object:
    if isinstance(value, str):
        return {"path": value}
    if isinstance(value, dict | PathGrant):
        return value
    raise ValueError("a path grant is a path, or a mapping {path: ..., writable: true}")


def _host(value: str) -> str:
    parse_host_pattern(value)
    return value


def _optional_size(value: object) -> object:
    return None if value is None else parse_size(value)


class Capabilities(Model):
    """What the host grants beyond the platform imports; nothing else is reachable."""

    allowed_hosts: list[Annotated[str, AfterValidator(_host)]] = Field(default_factory=list)
    allowed_paths: list[Annotated[PathGrant, BeforeValidator(_path_grant)]] = Field(
        default_factory=list
    )
    memory_limit: Annotated[int | None, BeforeValidator(_optional_size)] = None
    # Link wasi:sockets (a language runtime built with full WASI, such as CPython for a
    # component granted allowed_paths, imports it). No address is reachable through it:
    # requests go through the platform's http import and allowed_hosts.
    sockets: bool = False


# --- tasks and triggers ----------------------------------------------------------------------


def _check_json(value: Any, at: tuple[str | int, ...] = ()) -> None:
    """Refuse what JSON cannot carry (YAML dates, non-string keys, NaN) where it stands."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _error(f"keys must be strings, not {key!r}", *at)
            _check_json(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, (*at, i))
    elif isinstance(value, float) and not math.isfinite(value):
        raise _error(f"{value!r} is not a JSON number", *at)
    elif not isinstance(value, str | int | float | bool) and value is not None:
        raise _error(
            f"a {type(value).__name__} is not a JSON value; quote it to make it a string", *at
        )


def _check_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    _check_json(schema)
    try:
        schemas.check(schema)
    except jsonschema.SchemaError as exc:
        raise _error(f"not a valid JSON Schema: {exc.message}", *exc.absolute_path) from None
    return schema


class TaskSpec(Model):
    """A task the component exports; inputs are validated against `input_schema` before the
    component is called, outputs against `output_schema` when one is declared."""

    description: str = ""
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _schemas(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_schema(value)


class TriggerSpec(Model):
    """A trigger the component exports: polled on a schedule, or handed webhook requests."""

    description: str = ""
    kind: Literal["poll", "webhook"] = "poll"


def _export_name(value: str) -> str:
    if not _TASK_NAME.match(value):
        raise ValueError(
            f"invalid name {value!r}: lowercase letters, digits, - and _ (e.g. validate-order)"
        )
    return value


ExportName = Annotated[str, AfterValidator(_export_name)]


# --- the manifest ----------------------------------------------------------------------------


class Manifest(Model):
    """A component's `component.yaml`."""

    name: str
    version: str
    description: str = ""
    world: World = "task-component"
    wasm: str = WASM_FILE
    digest: str | None = None
    tasks: dict[ExportName, TaskSpec] = Field(default_factory=dict, validate_default=True)
    triggers: dict[ExportName, TriggerSpec] = Field(default_factory=dict, validate_default=True)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    config: dict[str, Any] = Field(default_factory=dict)

    @property
    def ref(self) -> str:
        """`name@version`, as workflows reference the component."""
        return f"{self.name}@{self.version}"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"invalid component name {value!r}: lowercase letters, digits, - and _, "
                "optionally under one namespace (e.g. greeter or acme/shop)"
            )
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                f"expected a string MAJOR.MINOR.PATCH such as '1.0.0' (quote it), not the "
                f"number {value!r}"
            )
        if isinstance(value, str) and not _VERSION.match(value):
            raise ValueError(
                f"invalid version {value!r}: expected MAJOR.MINOR.PATCH (semver), e.g. 1.2.0 "
                "or 1.2.0-rc.1"
            )
        return value

    @field_validator("wasm")
    @classmethod
    def _wasm(cls, value: str) -> str:
        path = PurePosixPath(value.replace("\\", "/"))
        if not value.strip() or path.is_absolute() or ".." in path.parts or ":" in value:
            raise ValueError(
                f"expected a path inside the component's directory, relative to "
                f"{MANIFEST_FILE}, not {value!r}"
            )
        return value

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST.match(value):
            raise ValueError(f"invalid digest {value!r}: expected sha256: and 64 lowercase hex")
        return value

    @field_validator("tasks", "triggers")
    @classmethod
    def _exports(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = "task" if info.field_name == "tasks" else "trigger"
        world = info.data.get("world")
        if world is None:
            return value
        carries = (world in TASK_WORLDS) == (kind == "task")
        if carries and not value:
            raise ValueError(f"a {world} must declare at least one {kind} under `{kind}s:`")
        if not carries and value:
            raise ValueError(
                f"a {world} cannot export {kind}s; remove `{kind}s:` or change `world`"
            )
        return value

    @field_validator("config")
    @classmethod
    def _config(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_json(value)
        return value


# --- reading and writing ---------------------------------------------------------------------


def load_manifest(path: Path) -> Manifest:
    """Read `component.yaml` (or the one in a component directory); raise DefinitionError with
    every problem found, each placed at its line and column."""
    if path.is_dir():
        path = path / MANIFEST_FILE
    try:
        source = read_file(path)
    except DefinitionError as exc:
        raise DefinitionError([_reworded(p) for p in exc.problems]) from None
    problems = list(source.problems)
    manifest: Manifest | None = None
    try:
        manifest = Manifest.model_validate(source.data)
    except ValidationError as exc:
        problems.extend(_problems(source, exc))
    if problems:
        raise DefinitionError(sorted(set(problems)))
    assert manifest is not None
    return manifest


def _reworded(problem: Problem) -> Problem:
    """The shared file reader speaks of workflows; here the file is a component manifest."""
    message = problem.message.replace("workflow file", "component manifest")
    message = message.replace("workflow", "component manifest")
    return Problem(problem.file, problem.line, problem.column, message)


def manifest_document(manifest: Manifest) -> dict[str, Any]:
    """The manifest as plain data for YAML, defaults left out; `Manifest.model_validate` of it
    gives back an equal manifest."""
    document: dict[str, Any] = {"name": manifest.name, "version": manifest.version}
    if manifest.description:
        document["description"] = manifest.description
    document["world"] = manifest.world
    document["wasm"] = manifest.wasm
    if manifest.digest is not None:
        document["digest"] = manifest.digest
    for key, specs in (("tasks", manifest.tasks), ("triggers", manifest.triggers)):
        if specs:
            document[key] = {
                name: spec.model_dump(mode="json", exclude_defaults=True)
                for name, spec in specs.items()
            }
    capabilities = _capabilities_document(manifest.capabilities)
    if capabilities:
        document["capabilities"] = capabilities
    if manifest.config:
        document["config"] = manifest.config
    return document


def _capabilities_document(capabilities: Capabilities) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if capabilities.allowed_hosts:
        document["allowed_hosts"] = list(capabilities.allowed_hosts)
    if capabilities.allowed_paths:
        document["allowed_paths"] = [
            {"path": grant.path, "writable": True} if grant.writable else grant.path
            for grant in capabilities.allowed_paths
        ]
    if capabilities.memory_limit is not None:
        document["memory_limit"] = format_size(capabilities.memory_limit)
    if capabilities.sockets:
        document["sockets"] = True
    return document


def dump_manifest(manifest: Manifest) -> str:
    """The manifest as YAML text, keys in the documented order (deterministic)."""
    return yaml.safe_dump(
        manifest_document(manifest), sort_keys=False, allow_unicode=True, width=100
    )


def semver_key(version: str) -> tuple[Any, ...]:
    """A sort key in semver precedence: 1.10.0 after 1.9.0, 1.0.0-rc.1 before 1.0.0."""
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"invalid version {version!r}")
    release = tuple(int(part) for part in match.group(1, 2, 3))
    pre = match.group(4)
    if pre is None:
        return (*release, 1, ())
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split(".")
    )
    return (*release, 0, identifiers)


def is_valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def is_valid_version(version: str) -> bool:
    return bool(_VERSION.match(version))


# --- positioned problems ---------------------------------------------------------------------


def _problems(source: Source, exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"{_where(loc[:-1])}: unknown key {key!r}"
            close = difflib.get_close_matches(key, fields_at(loc[:-1], Manifest), n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            problems.append(source.problem(loc, message, key=True))
        elif kind == "missing":
            problems.append(
                source.problem(loc[:-1], f"{_where(loc[:-1])}: missing required key {loc[-1]!r}")
            )
        elif kind == "model_type":
            expected = mapping_expected(loc, error["input"], Manifest)
            problems.append(source.problem(loc, f"{_where(loc)}: {expected}"))
        else:
            ctx = error.get("ctx") or {}
            at: Loc = (*loc, *ctx.get("_at", ()))
            on_key = bool(at) and at[-1] == "[key]"  # a mapping key itself is invalid
            at = at[:-1] if on_key else at
            text = error["msg"].removeprefix("Value error, ")
            problems.append(source.problem(at, f"{_where(at)}: {text}", key=on_key))
    return problems


def _where(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "component"
