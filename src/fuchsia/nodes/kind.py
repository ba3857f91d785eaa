"""Node kinds: what each kind of node is, in one place.

A `NodeKind` says how its locked spec reads (`spec`: a typed, frozen dataclass), which part of
that spec templates render (`templated`), the timeout a node gets when it declares none
(`timeout`), where its attempts run (`placement`), whether the node timeout bounds them
(`timed`), which successors an output skips (`skips`), what successors see of an output
(`data`), and how one attempt runs (`run`). Locking, the driver and the progress display ask
`KINDS[kind]` instead of reading `spec` dicts by key.

The types do not change the locked document: each spec reads its part of the locked JSON
(`from_document`) and writes back exactly that JSON (`to_document`), and a workflow's hash is
always computed from the JSON itself, so executions stored by any version load and run.

This module imports nothing heavy: a kind's `run` imports its module (and httpx, wasmtime or
jsonschema behind it) when a node of that kind first runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    from fuchsia.nodes import NodeContext

DEFAULT_HTTP_TIMEOUT = 30.0
DEFAULT_COMPONENT_TIMEOUT = 60.0

SpecT = TypeVar("SpecT")


class Placement(StrEnum):
    """Where a kind's attempts run."""

    LOOP = "loop"  # a task on the event loop: microseconds of work, or non-blocking I/O
    THREAD = "thread"  # a worker thread: the attempt blocks one (a wasm call)
    PARKED = "parked"  # waiting on a timer or a signal: an execution with only these open waits


# -- typed specs (each the locked JSON of one node kind, read once per locked workflow) ---------


@dataclass(frozen=True, slots=True)
class TransformSpec:
    value: Any  # the whole spec is the template of the output

    @classmethod
    def from_document(cls, locked: Any) -> TransformSpec:
        return cls(locked)

    def to_document(self) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class HttpSpec:
    method: str
    url: str
    headers: dict[str, Any]
    query: dict[str, Any]
    json: Any
    body: str | None
    timeout: float | None  # bounds the request even under a longer node timeout
    expect: tuple[int, ...] | None  # accepted statuses; None: any 2xx
    follow_redirects: bool

    @classmethod
    def from_document(cls, locked: Any) -> HttpSpec:
        expect = locked.get("expect")
        return cls(
            method=locked.get("method", "GET"),
            url=locked["url"],
            headers=locked.get("headers") or {},
            query=locked.get("query") or {},
            json=locked.get("json"),
            body=locked.get("body"),
            timeout=locked.get("timeout"),
            expect=None if expect is None else tuple(expect),
            follow_redirects=bool(locked.get("follow_redirects")),
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "headers": self.headers,
            "query": self.query,
            "json": self.json,
            "body": self.body,
            "timeout": self.timeout,
            "expect": None if self.expect is None else list(self.expect),
            "follow_redirects": self.follow_redirects,
        }


@dataclass(frozen=True, slots=True)
class Grants:
    """What a component's manifest allows, as locked with the node (or trigger) that runs it."""

    allowed_hosts: tuple[str, ...]
    allowed_paths: tuple[tuple[str, bool], ...]  # (directory, writable)
    memory_limit: int | None
    sockets: bool

    @classmethod
    def from_document(cls, locked: Any) -> Grants:
        return cls(
            allowed_hosts=tuple(locked["allowed_hosts"]),
            allowed_paths=tuple(
                (path, bool(writable)) for path, writable in locked["allowed_paths"]
            ),
            memory_limit=locked["memory_limit"],
            sockets=bool(locked.get("sockets")),  # locks before 2026-11-21 have no `sockets`
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "allowed_hosts": list(self.allowed_hosts),
            "allowed_paths": [[path, writable] for path, writable in self.allowed_paths],
            "memory_limit": self.memory_limit,
            "sockets": self.sockets,
        }


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    component: str  # the reference it was locked to, e.g. greeter@1.0.0
    digest: str  # the installed wasm must still have this digest
    world: str
    task: str
    inputs: dict[str, Any]
    config: dict[str, Any]
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    grants: Grants

    @classmethod
    def from_document(cls, locked: Any) -> ComponentSpec:
        return cls(
            component=locked["component"],
            digest=locked["digest"],
            world=locked["world"],
            task=locked["task"],
            inputs=locked["inputs"],
            config=locked["config"],
            input_schema=locked["input_schema"],
            output_schema=locked["output_schema"],
            grants=Grants.from_document(locked["grants"]),
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "digest": self.digest,
            "world": self.world,
            "task": self.task,
            "inputs": self.inputs,
            "config": self.config,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "grants": self.grants.to_document(),
        }


@dataclass(frozen=True, slots=True)
class PythonSpec:
    """A `python` node: its code embedded (a step file's content too, so the workflow's hash
    pins it) and the Python runtime component it runs in, pinned to its digest."""

    component: str  # the runtime's reference, e.g. fuchsia/python-runtime@1.0.0-fp...
    digest: str
    code: str
    function: str
    file: str  # what the traceback names: the workflow file's name, or the step file's path
    line: int  # where `code` starts in `file`
    inputs: dict[str, Any]
    config: dict[str, Any]
    grants: Grants

    @classmethod
    def from_document(cls, locked: Any) -> PythonSpec:
        return cls(
            component=locked["component"],
            digest=locked["digest"],
            code=locked["code"],
            function=locked["function"],
            file=locked["file"],
            line=locked["line"],
            inputs=locked["inputs"],
            config=locked["config"],
            grants=Grants.from_document(locked["grants"]),
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "digest": self.digest,
            "code": self.code,
            "function": self.function,
            "file": self.file,
            "line": self.line,
            "inputs": self.inputs,
            "config": self.config,
            "grants": self.grants.to_document(),
        }


@dataclass(frozen=True, slots=True)
class TriggerComponentSpec:
    """A poll or webhook trigger's component, as locked under the trigger (not a node kind:
    it shares the component's pinned digest and grants)."""

    component: str
    digest: str
    trigger: str
    config: dict[str, Any]
    grants: Grants

    @classmethod
    def from_document(cls, locked: Any) -> TriggerComponentSpec:
        return cls(
            component=locked["component"],
            digest=locked["digest"],
            trigger=locked["trigger"],
            config=locked["config"],
            grants=Grants.from_document(locked["grants"]),
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "digest": self.digest,
            "trigger": self.trigger,
            "config": self.config,
            "grants": self.grants.to_document(),
        }


@dataclass(frozen=True, slots=True)
class Rule:
    when: str  # CEL, compiled at validation
    then: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BranchSpec:
    rules: tuple[Rule, ...]
    default: tuple[str, ...]

    @classmethod
    def from_document(cls, locked: Any) -> BranchSpec:
        return cls(
            rules=tuple(Rule(rule["when"], tuple(rule["then"])) for rule in locked["rules"]),
            default=tuple(locked["default"]),
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "rules": [{"when": rule.when, "then": list(rule.then)} for rule in self.rules],
            "default": list(self.default),
        }

    def targets(self) -> frozenset[str]:
        """Every successor some rule or the default names: the ones a branch may skip."""
        return frozenset({t for rule in self.rules for t in rule.then} | set(self.default))


@dataclass(frozen=True, slots=True)
class WaitSpec:
    """Exactly one of `signal`, `for_` (seconds) and `until` (a template of a timestamp)."""

    signal: str | None
    for_: float | None
    until: str | None
    timeout: float | None  # the wait's own durable timeout (a signal wait's)

    @classmethod
    def from_document(cls, locked: Any) -> WaitSpec:
        return cls(
            signal=locked.get("signal"),
            for_=locked.get("for"),
            until=locked.get("until"),
            timeout=locked.get("timeout"),
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "for": self.for_,
            "until": self.until,
            "timeout": self.timeout,
        }


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """A sub-workflow, embedded whole: the parent's hash pins the child's document."""

    name: str
    version: int
    hash: str
    document: dict[str, Any]  # the child's locked document
    inputs: dict[str, Any]

    @classmethod
    def from_document(cls, locked: Any) -> WorkflowSpec:
        return cls(
            name=locked["name"],
            version=locked["version"],
            hash=locked["hash"],
            document=locked["document"],
            inputs=locked["inputs"],
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "hash": self.hash,
            "document": self.document,
            "inputs": self.inputs,
        }


Spec = TransformSpec | HttpSpec | ComponentSpec | PythonSpec | BranchSpec | WaitSpec | WorkflowSpec


# -- the kinds --------------------------------------------------------------------------------


class NodeKind(Protocol[SpecT]):
    """One kind of node. `run` returns the attempt's awaitable: calling it imports the kind's
    module at once, before the driver starts the node's timeout (an import is not the node's
    work)."""

    name: ClassVar[str]
    placement: ClassVar[Placement]
    timed: ClassVar[bool]  # the node timeout bounds an attempt
    children: ClassVar[bool]  # attempts start child executions (cancelled with the parent)
    # an attempt may park (`fuchsia.nodes.Parked`): it goes on as the same attempt when its
    # execution is woken, on whichever worker takes it
    parks: ClassVar[bool]
    # an attempt never awaits anything (pure shaping of data): the shell runs it in place,
    # without a task of its own
    inline: ClassVar[bool]

    def spec(self, locked: Any) -> SpecT:
        """The typed spec of a node's locked `spec`."""
        ...

    def templated(self, spec: SpecT) -> Any:
        """The part of the spec that templates render: an attempt's inputs."""
        ...

    def timeout(self, spec: SpecT, declared: float | None) -> float | None:
        """The node timeout locked for a node that declared `declared` (or had a default)."""
        ...

    def skips(self, spec: SpecT, output: Any) -> frozenset[str]:
        """The successors that `output` does not take: they are skipped."""
        ...

    def data(self, spec: SpecT, output: Any) -> Any:
        """What the node's successors see of its output."""
        ...

    def run(self, spec: SpecT, rendered: Any, ctx: NodeContext) -> Awaitable[Any]:
        """One attempt, given the rendered `templated` part; its output."""
        ...


class _Kind:
    """What most kinds share: the declared timeout, every successor taken, the output seen
    as it is, run on the loop under the node timeout."""

    placement: ClassVar[Placement] = Placement.LOOP
    timed: ClassVar[bool] = True
    children: ClassVar[bool] = False
    parks: ClassVar[bool] = False
    inline: ClassVar[bool] = False

    def timeout(self, spec: Any, declared: float | None) -> float | None:
        return declared

    def skips(self, spec: Any, output: Any) -> frozenset[str]:
        return frozenset()

    def data(self, spec: Any, output: Any) -> Any:
        return output


class Transform(_Kind):
    name: ClassVar[str] = "transform"
    timed: ClassVar[bool] = False  # its output is rendered before it runs: nothing to bound
    inline: ClassVar[bool] = True

    def spec(self, locked: Any) -> TransformSpec:
        return TransformSpec.from_document(locked)

    def templated(self, spec: TransformSpec) -> Any:
        return spec.value

    def run(self, spec: TransformSpec, rendered: Any, ctx: NodeContext) -> Awaitable[Any]:
        from fuchsia.nodes import transform

        return transform.run(spec, rendered, ctx)


class Http(_Kind):
    name: ClassVar[str] = "http"

    def spec(self, locked: Any) -> HttpSpec:
        return HttpSpec.from_document(locked)

    def templated(self, spec: HttpSpec) -> Any:
        return spec.to_document()

    def timeout(self, spec: HttpSpec, declared: float | None) -> float | None:
        if declared is not None:
            return declared
        return spec.timeout or DEFAULT_HTTP_TIMEOUT  # an http node always has a timeout

    def run(self, spec: HttpSpec, rendered: Any, ctx: NodeContext) -> Awaitable[Any]:
        from fuchsia.nodes import http

        return http.run(spec, rendered, ctx)


class Component(_Kind):
    name: ClassVar[str] = "component"
    placement: ClassVar[Placement] = Placement.THREAD

    def spec(self, locked: Any) -> ComponentSpec:
        return ComponentSpec.from_document(locked)

    def templated(self, spec: ComponentSpec) -> Any:
        return {"inputs": spec.inputs, "config": spec.config}  # not its schemas or grants

    def timeout(self, spec: ComponentSpec, declared: float | None) -> float | None:
        return DEFAULT_COMPONENT_TIMEOUT if declared is None else declared

    def run(self, spec: ComponentSpec, rendered: Any, ctx: NodeContext) -> Awaitable[Any]:
        from fuchsia.nodes import component

        return component.run(spec, rendered, ctx)


class Python(_Kind):
    """Runs in the Python runtime component on a worker thread, as a component node does."""

    name: ClassVar[str] = "python"
    placement: ClassVar[Placement] = Placement.THREAD

    def spec(self, locked: Any) -> PythonSpec:
        return PythonSpec.from_document(locked)

    def templated(self, spec: PythonSpec) -> Any:
        return {"inputs": spec.inputs, "config": spec.config}  # never the code itself

    def timeout(self, spec: PythonSpec, declared: float | None) -> float | None:
        return DEFAULT_COMPONENT_TIMEOUT if declared is None else declared

    def run(self, spec: PythonSpec, rendered: Any, ctx: NodeContext) -> Awaitable[Any]:
        from fuchsia.nodes import python

        return python.run(spec, rendered, ctx)


class Branch(_Kind):
    name: ClassVar[str] = "branch"
    inline: ClassVar[bool] = True

    def spec(self, locked: Any) -> BranchSpec:
        return BranchSpec.from_document(locked)

    def templated(self, spec: BranchSpec) -> Any:
        return {}  # conditions are CEL, evaluated by the branch itself

    def skips(self, spec: BranchSpec, output: Any) -> frozenset[str]:
        routes = output if isinstance(output, list) else [output]  # a foreach: one per item
        taken = {t for route in routes if isinstance(route, dict) for t in route.get("taken") or ()}
        return spec.targets() - taken

    def data(self, spec: BranchSpec, output: Any) -> Any:
        """A branch passes its input through (a foreach branch: each item's)."""
        if isinstance(output, list):
            return [route.get("data") if isinstance(route, dict) else route for route in output]
        return output.get("data") if isinstance(output, dict) else output

    def run(self, spec: BranchSpec, rendered: Any, ctx: NodeContext) -> Awaitable[Any]:
        from fuchsia.nodes import branch

        return branch.run(spec, rendered, ctx)


class Wait(_Kind):
    name: ClassVar[str] = "wait"
    placement: ClassVar[Placement] = Placement.PARKED
    parks: ClassVar[bool] = True

    def spec(self, locked: Any) -> WaitSpec:
        return WaitSpec.from_document(locked)

    def templated(self, spec: WaitSpec) -> Any:
        return {"until": spec.until}

    def timeout(self, spec: WaitSpec, declared: float | None) -> float | None:
        return None  # a wait has its own durable `wait.timeout`; node timeouts do not apply

    def run(self, spec: WaitSpec, rendered: Any, ctx: NodeContext) -> Awaitable[Any]:
        from fuchsia.nodes import wait

        return wait.run(spec, rendered, ctx)


class SubWorkflow(_Kind):
    """Awaits its child on the loop: the parent stays `running` meanwhile (or parks, and the
    child's end wakes it)."""

    name: ClassVar[str] = "workflow"
    children: ClassVar[bool] = True
    parks: ClassVar[bool] = True

    def spec(self, locked: Any) -> WorkflowSpec:
        return WorkflowSpec.from_document(locked)

    def templated(self, spec: WorkflowSpec) -> Any:
        return {"inputs": spec.inputs}

    def run(self, spec: WorkflowSpec, rendered: Any, ctx: NodeContext) -> Awaitable[Any]:
        from fuchsia.nodes import workflow

        return workflow.run(spec, rendered, ctx)


# In the order the workflow format lists them (validation's messages name them so).
KINDS: Mapping[str, NodeKind[Any]] = MappingProxyType(
    {
        kind.name: kind
        for kind in (Component(), Python(), Http(), Transform(), Branch(), Wait(), SubWorkflow())
    }
)
