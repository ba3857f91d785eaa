"""Locking: a validated definition becomes an immutable `LockedWorkflow` with a sha256.

The locked form is canonical JSON (sorted keys, defaults merged into every node, durations in
seconds, the graph's downstream edges spelled out), so two files that mean the same thing lock
to the same hash. Executions store this JSON and run from it, never from the file: editing
the file cannot change a run in flight. Templates are compiled when a node first renders them
and reused by every execution of the locked workflow in the process.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from fuchsia.definition.files import beside
from fuchsia.definition.models import AtLeast, Node, RetrySpec, WorkflowDef
from fuchsia.definition.python import pin_runtime, step_spec
from fuchsia.definition.resolve import Resolver, component_spec, trigger_spec
from fuchsia.definition.source import Loc, Source, read_file
from fuchsia.definition.validate import validate
from fuchsia.errors import DefinitionError, Problem, StoreError
from fuchsia.nodes.kind import KINDS, NodeKind, Spec
from fuchsia.templates import Renderer, RenderError, Scope, compile_value

FORMAT = 1
# A sub-workflow is embedded whole, as often as it is named: its depth and its copies are
# bounded, or a chain of files overflows the stack and a file naming the next twice, forty
# deep, makes 2**40 copies (a YAML bomb made of files).
MAX_NESTING = 16  # levels of sub-workflows below a workflow
MAX_LOCKED_BYTES = 10 * 1024 * 1024  # of the locked JSON a workflow's sub-workflows embed


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 1
    backoff: str = "exponential"
    initial_delay: float = 1.0
    max_delay: float = 60.0
    jitter: bool = False

    def delay(self, failed_attempt: int, draw: float | None = None) -> float:
        """Seconds to wait after attempt number `failed_attempt` (1-based) failed. `draw`
        (0.5-1.0) is the jitter's random factor, drawn here when not given."""
        base = self.initial_delay
        if self.backoff == "exponential":  # capped exponent: 2**1024 would not fit a float
            base = self.initial_delay * (2.0 ** min(failed_attempt - 1, 1000))
        base = min(base, self.max_delay)
        if not self.jitter:
            return base
        return base * (random.uniform(0.5, 1.0) if draw is None else draw)


@dataclass(frozen=True)
class LockedNode:
    id: str
    kind: str
    spec: Spec  # typed from the locked document's `spec` by `KINDS[kind]`
    after: tuple[str, ...]
    downstream: tuple[str, ...]
    join: str | int | None
    timeout: float | None
    retry: RetryPolicy
    on_error: str
    context: dict[str, Any] | None
    render: Renderer = field(compare=False, repr=False)
    render_context: Renderer | None = field(compare=False, repr=False)
    foreach: dict[str, Any] | None = None  # {"items": template, "concurrency": n}
    repeat: dict[str, Any] | None = None  # {"until": CEL, "max_iterations": n, "delay": s}
    hook: str | None = None  # "success", "failure" or "always": runs after the graph settles
    render_items: Renderer | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class LockedWorkflow:
    name: str
    version: int
    hash: str
    document: dict[str, Any] = field(compare=False, repr=False)
    nodes: dict[str, LockedNode] = field(compare=False, repr=False)
    order: tuple[str, ...] = field(compare=False, repr=False)
    terminals: tuple[str, ...] = field(compare=False, repr=False)
    roots: tuple[str, ...] = field(compare=False, repr=False)
    timeout: float | None = None
    trigger_schema: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    render_trigger_context: Renderer = field(default=lambda scope: {}, compare=False, repr=False)

    def to_json(self) -> str:
        """The locked document as stored (canonical JSON), made once: every start of an
        execution passes it to the store."""
        return self._json

    @cached_property
    def _json(self) -> str:
        return canonical_json(self.document)

    @classmethod
    def from_json(cls, text: str) -> LockedWorkflow:
        """Rebuild a locked workflow from its stored JSON (compiled once per hash per process)."""
        return _from_json(text)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Deployed workflows a sub-workflow may name: (name, version or None for the current one).
Deployed = Mapping[tuple[str, int | None], LockedWorkflow]
# The workflow files one locking has read, each locked (or refused) once however often named.
Locked = dict[Path, "LockedWorkflow | DefinitionError"]


def load(
    path: str | Path,
    registry: Resolver | None = None,
    _within: tuple[Path, ...] = (),
    deployed: Deployed | None = None,
    _locked: Locked | None = None,
) -> LockedWorkflow:
    """Read, validate and lock a workflow file (component nodes resolve in `registry`,
    sub-workflows next to the file, else among `deployed`)."""
    source = read_file(path)
    return lock(validate(source), source, registry, _within, deployed, _locked)


def child_names(definition: WorkflowDef) -> list[tuple[str, int | None]]:
    """The sub-workflows a definition names by name (and version), to look up if deployed."""
    return [
        (node.workflow.name, node.workflow.version)
        for node in definition.nodes.values()
        if node.workflow is not None and node.workflow.name is not None
    ]


def lock(
    definition: WorkflowDef,
    source: Source,
    registry: Resolver | None = None,
    _within: tuple[Path, ...] = (),
    deployed: Deployed | None = None,
    _locked: Locked | None = None,
) -> LockedWorkflow:
    """Lock a validated definition: resolve its components and sub-workflows.

    A sub-workflow is locked too and embedded whole, so the parent's hash pins it."""
    locked: Locked = {} if _locked is None else _locked
    embedded = 0  # bytes of locked JSON the sub-workflows bring
    problems = []
    resolved: dict[str, dict[str, Any]] = {}
    steps: dict[str, dict[str, Any]] = {}
    for node_id, node in definition.nodes.items():
        if node.kind == "python":
            spec, found = step_spec(node_id, node, source)
            problems.extend(found)
            if spec is not None:
                steps[node_id] = resolved[node_id] = spec
        elif node.kind == "component":
            spec, found = component_spec(node_id, node, definition, source, registry)
            problems.extend(found)
            if spec is not None:
                resolved[node_id] = spec
        elif node.kind == "workflow":
            child, found = _child(node_id, node, source, registry, _within, deployed, locked)
            problems.extend(found)
            if child is not None:
                embedded += len(child.to_json())
                resolved[node_id] = _embedded(
                    child, node.workflow.inputs if node.workflow else None
                )
            if embedded > MAX_LOCKED_BYTES:
                message = (
                    f"node {node_id!r}: the sub-workflows come to more than "
                    f"{MAX_LOCKED_BYTES:,} bytes of locked JSON (each is embedded whole, "
                    "as often as it is named)"
                )
                problems.append(source.problem(("nodes", node_id, "workflow"), message))
                break
    poll_component, found = trigger_spec(definition, source, registry)
    problems.extend(found)
    if not problems:  # the runtime's first build takes seconds: not for a file with mistakes
        problems.extend(pin_runtime(steps, source, registry))
    if problems:
        raise DefinitionError(problems)
    document = _document(definition, resolved)
    if poll_component is not None:
        document["trigger"][definition.trigger.type]["component"] = poll_component
    return _from_document(document)


def _document(definition: WorkflowDef, resolved: dict[str, dict[str, Any]]) -> dict[str, Any]:
    downstream: dict[str, list[str]] = {node_id: [] for node_id in definition.nodes}
    for node_id, node in definition.nodes.items():
        for up in dict.fromkeys(node.after):
            downstream[up].append(node_id)
    for targets in downstream.values():
        targets.sort()  # derived from the order nodes are written in, which means nothing
    defaults = definition.defaults
    hooks = {n: "success" for n in definition.on_success}
    for n in definition.on_failure:
        hooks[n] = "always" if n in hooks else "failure"
    nodes = {
        node_id: _node_document(
            node,
            downstream[node_id],
            defaults.retry,
            defaults.timeout,
            defaults.on_error,
            resolved.get(node_id),
        )
        | {"hook": hooks.get(node_id)}
        for node_id, node in definition.nodes.items()
    }
    trigger = definition.trigger
    return {
        "format": FORMAT,
        "name": definition.name,
        "version": definition.version,
        "description": definition.description,
        "timeout": definition.timeout,
        "trigger": {
            "type": trigger.type,
            "schema": trigger.schema_,
            "context": trigger.context,
            "webhook": trigger.webhook.model_dump() if trigger.webhook else None,
            "poll": trigger.poll.model_dump() if trigger.poll else None,
            "cron": trigger.cron.model_dump() if trigger.cron else None,
        },
        "nodes": nodes,
    }


def _node_document(
    node: Node,
    downstream: list[str],
    default_retry: RetrySpec | None,
    default_timeout: float | None,
    default_on_error: str | None,
    resolved: dict[str, Any] | None = None,
) -> dict[str, Any]:
    kind = node.kind
    spec: Any = getattr(node, kind)
    if kind == "http":
        spec = node.http.model_dump(by_alias=True) if node.http else None
    elif kind in ("component", "workflow", "python"):
        # pinned when locking: a component's digest, a sub-workflow's document, a python
        # step's code and its runtime's digest
        spec = resolved
    elif kind == "wait":
        spec = node.wait.model_dump(by_alias=True) if node.wait else None
    elif kind == "branch":
        spec = {
            "rules": [{"when": r.when, "then": list(r.then)} for r in node.branch or []],
            "default": list(node.default or []),
        }
    retry = RetryPolicy()
    merged = {
        **{
            k: v
            for k, v in (default_retry.model_dump() if default_retry else {}).items()
            if v is not None
        },
        **{
            k: v
            for k, v in (node.retry.model_dump() if node.retry else {}).items()
            if v is not None
        },
    }
    retry_doc = {**retry.__dict__, **merged}
    declared = node.timeout if node.timeout is not None else default_timeout
    node_kind = KINDS[kind]
    timeout = node_kind.timeout(node_kind.spec(spec), declared)
    join: str | int | None = None
    if isinstance(node.join, AtLeast):
        join = node.join.at_least
    elif node.join is not None:
        join = node.join
    return {
        "kind": kind,
        "spec": spec,
        "after": list(dict.fromkeys(node.after)),
        "downstream": downstream,
        "join": join,
        "timeout": timeout,
        "retry": retry_doc,
        "on_error": node.on_error or default_on_error or "fail",
        "context": node.context,
        "description": node.description,
        "foreach": node.foreach.model_dump() if node.foreach else None,
        "repeat": node.repeat.model_dump() if node.repeat else None,
    }


def _from_document(document: dict[str, Any]) -> LockedWorkflow:
    text = canonical_json(document)
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    nodes = {node_id: _node(node_id, doc) for node_id, doc in document["nodes"].items()}
    trigger = document["trigger"]
    return LockedWorkflow(
        name=document["name"],
        version=document["version"],
        hash=digest,
        document=document,
        nodes=nodes,
        order=_topological(nodes),
        terminals=tuple(n for n, node in nodes.items() if not node.downstream and not node.hook),
        roots=tuple(n for n, node in nodes.items() if not node.after and not node.hook),
        timeout=document["timeout"],
        trigger_schema=trigger["schema"],
        render_trigger_context=_Lazy(trigger["context"]),
    )


def _node(node_id: str, doc: dict[str, Any]) -> LockedNode:
    kind = _kind(doc["kind"])
    spec = kind.spec(doc["spec"])
    return LockedNode(
        id=node_id,
        kind=doc["kind"],
        spec=spec,
        after=tuple(doc["after"]),
        downstream=tuple(doc["downstream"]),
        join=doc["join"],
        timeout=doc["timeout"],
        retry=RetryPolicy(**doc["retry"]),
        on_error=doc["on_error"],
        context=doc["context"],
        render=_Lazy(kind.templated(spec)),
        render_context=_Lazy(doc["context"]) if doc["context"] else None,
        foreach=doc.get("foreach"),
        repeat=doc.get("repeat"),
        hook=doc.get("hook"),
        render_items=_Lazy(doc["foreach"]["items"]) if doc.get("foreach") else None,
    )


def _kind(name: str) -> NodeKind[Any]:
    try:
        return KINDS[name]
    except KeyError:
        raise StoreError(
            f"a stored locked workflow has a node of kind {name!r}, which this version does "
            "not know; upgrade fuchsia"
        ) from None


class _Lazy:
    """A renderer that compiles its templates on first use, once: compiling costs about a
    millisecond per template, so a 10,000-node workflow locked (or only validated) eagerly
    would pay seconds for nodes that may never run. Validation has parsed every template
    already; a compile error that still comes up is the render's error, not a crash."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.compiled: Renderer | None = None

    def __call__(self, scope: Scope) -> Any:
        if self.compiled is None:
            try:
                self.compiled = compile_value(self.value)
            except TemplateError as exc:
                raise RenderError("", exc.message or type(exc).__name__) from None
        return self.compiled(scope)


def _child(
    node_id: str,
    node: Node,
    source: Source,
    registry: Resolver | None,
    within: tuple[Path, ...],
    deployed: Deployed | None,
    locked: Locked,
) -> tuple[LockedWorkflow | None, list[Problem]]:
    """Lock the sub-workflow a `workflow` node names: by `path` (relative to this file), or by
    `name` (and `version`) among the workflow files beside it, else among the deployed
    workflows (its current version when no version is given)."""
    sub = node.workflow
    assert sub is not None
    at: Loc = ("nodes", node_id, "workflow")
    here = Path(source.file).resolve()
    if sub.path is not None:
        named = beside(source.file, sub.path, "sub-workflow path")
        if isinstance(named, str):
            return None, [source.problem((*at, "path"), f"node {node_id!r}: {named}")]
        path = named
        if not path.is_file():
            return None, [
                source.problem(
                    (*at, "path"),
                    f"node {node_id!r}: no workflow file {sub.path!r} next to {here.name}",
                )
            ]
    elif sub.name is not None:
        has_folder = Path(source.file).is_file()  # a workflow sent to the server has no folder
        found = _find_workflow(here.parent, sub.name, sub.version) if has_folder else None
        if found is None:
            child = (deployed or {}).get((sub.name, sub.version))
            if child is not None:
                return _nested(child, node_id, source, at)
            wanted = sub.name + (f" version {sub.version}" if sub.version else "")
            where = f"the files in {here.parent} or " if has_folder else ""
            return None, [
                source.problem(
                    at, f"node {node_id!r}: no workflow {wanted} among {where}the deployed ones"
                )
            ]
        path = found
    else:
        return None, [
            source.problem(at, f"node {node_id!r}: a sub-workflow needs `path` or `name`")
        ]
    chain = " -> ".join(p.name for p in (*within, here, path))
    if path in (*within, here):
        return None, [source.problem(at, f"node {node_id!r}: sub-workflows form a cycle: {chain}")]
    if len(within) >= MAX_NESTING:
        message = f"node {node_id!r}: sub-workflows nest more than {MAX_NESTING} deep: {chain}"
        return None, [source.problem(at, message)]
    read = _read_once(path, registry, (*within, here), deployed, locked)
    if isinstance(read, DefinitionError):
        first = read.problems[0] if read.problems else None
        more = f" (and {len(read.problems) - 1} more)" if len(read.problems) > 1 else ""
        return None, [
            source.problem(at, f"node {node_id!r}: sub-workflow {path.name}: {first}{more}")
        ]
    if sub.version is not None and read.version != sub.version:
        return None, [
            source.problem(
                at,
                f"node {node_id!r}: {path.name} is {read.name} version "
                f"{read.version}, not {sub.version}",
            )
        ]
    return _nested(read, node_id, source, at)


def _read_once(
    path: Path,
    registry: Resolver | None,
    within: tuple[Path, ...],
    deployed: Deployed | None,
    locked: Locked,
) -> LockedWorkflow | DefinitionError:
    """The file at `path` locked, or why it cannot be, worked out the first time one locking
    meets it. Either holds wherever else it is named: a file that locks has no cycle below
    it, and one that does not is named in the tree being locked, which fails with it."""
    if path not in locked:
        try:
            locked[path] = load(path, registry, within, deployed, locked)
        except DefinitionError as exc:
            locked[path] = exc
    return locked[path]


def _nested(
    child: LockedWorkflow, node_id: str, source: Source, at: Loc
) -> tuple[LockedWorkflow | None, list[Problem]]:
    """`child`, unless embedding it would nest sub-workflows more than MAX_NESTING deep (a
    deployed one brings its own levels)."""
    if _nesting(child.document) >= MAX_NESTING:
        message = (
            f"node {node_id!r}: sub-workflows nest more than {MAX_NESTING} deep: "
            f"{child.name} has {_nesting(child.document)} levels below it"
        )
        return None, [source.problem(at, message)]
    return child, []


def _nesting(document: dict[str, Any]) -> int:
    """Levels of sub-workflows below a locked document (0: none), counted a level at a time
    (each embedded document once), not by recursion."""
    depth, level = 0, [document]
    while depth <= MAX_NESTING:
        below = {
            id(doc): doc
            for parent in level
            for node in parent["nodes"].values()
            if node["kind"] == "workflow" and isinstance(doc := node["spec"]["document"], dict)
        }
        if not below:
            return depth
        depth, level = depth + 1, list(below.values())
    return depth


def _embedded(child: LockedWorkflow, inputs: Any) -> dict[str, Any]:
    return {
        "name": child.name,
        "version": child.version,
        "hash": child.hash,
        "document": child.document,
        "inputs": inputs,
    }


def _find_workflow(directory: Path, name: str, version: int | None) -> Path | None:
    """The workflow file in `directory` with this name (and version; else the newest)."""
    best: tuple[int, Path] | None = None
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
            continue
        try:
            data = read_file(path).data
        except DefinitionError:
            continue
        found_version = data.get("version", 1)
        if data.get("name") != name or not isinstance(found_version, int):
            continue
        if version is not None and found_version != version:
            continue
        if best is None or found_version > best[0]:
            best = (found_version, path.resolve())
    return None if best is None else best[1]


def _topological(nodes: dict[str, LockedNode]) -> tuple[str, ...]:
    """Nodes upstream before downstream, ties by id: a stable order for display and scans."""
    waiting = {node_id: len(node.after) for node_id, node in nodes.items()}
    ready = sorted(node_id for node_id, count in waiting.items() if count == 0)
    order: list[str] = []
    while ready:  # a heap: a 10,000-node fan-out stays n log n
        node_id = heapq.heappop(ready)
        order.append(node_id)
        for down in nodes[node_id].downstream:
            waiting[down] -= 1
            if waiting[down] == 0:
                heapq.heappush(ready, down)
    return tuple(order)


@lru_cache(maxsize=256)
def _from_json(text: str) -> LockedWorkflow:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"a stored locked workflow is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StoreError("a stored locked workflow has an unknown format; upgrade fuchsia")
    return _from_document(document)
