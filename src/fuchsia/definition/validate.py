"""Validation: every problem in a workflow file, each placed at its line and column.

Two passes that never stop at the first mistake: the models check shapes and types (unknown
keys get a did-you-mean), and the graph pass checks what the models cannot see (dangling
`after`, cycles, joins, branch targets, template syntax). The graph pass reads the raw data, so
a type error in one node does not hide a cycle elsewhere.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any

import jsonschema
from pydantic import BaseModel, ValidationError

from fuchsia import expressions
from fuchsia.definition.models import NODE_ID, RESERVED_IDS, WorkflowDef
from fuchsia.definition.source import Loc, Source
from fuchsia.errors import DefinitionError, Problem
from fuchsia.templates import check_syntax


def validate(source: Source) -> WorkflowDef:
    """Return the typed definition, or raise DefinitionError with every problem found."""
    problems: list[Problem] = list(source.problems)
    model: WorkflowDef | None = None
    try:
        model = WorkflowDef.model_validate(source.data)
    except ValidationError as exc:
        problems.extend(_model_problems(source, exc))
    problems.extend(_graph_problems(source))
    if problems:
        raise DefinitionError(sorted(set(problems)))
    assert model is not None
    return model


def where(loc: Loc) -> str:
    """Name a location for a message: `node 'price': http.url`."""
    if len(loc) >= 2 and loc[0] == "nodes":
        rest = _dotted(loc[2:])
        return f"node {loc[1]!r}" + (f": {rest}" if rest else "")
    return _dotted(loc) or "workflow"


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_problems(source: Source, exc: ValidationError) -> Iterator[Problem]:
    for error in exc.errors():
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"{where(loc[:-1])}: unknown key {key!r}"
            suggestion = difflib.get_close_matches(key, fields_at(loc[:-1]), n=1, cutoff=0.6)
            if suggestion:
                message += f" (did you mean {suggestion[0]!r}?)"
            yield source.problem(loc, message, key=True)
        elif kind == "missing":
            yield source.problem(loc[:-1], f"{where(loc[:-1])}: missing required key {loc[-1]!r}")
        else:
            text = error["msg"].removeprefix("Value error, ")
            yield source.problem(loc, f"{where(loc)}: {text}")


def fields_at(loc: Loc, root: type[BaseModel] = WorkflowDef) -> list[str]:
    """The keys `root` accepts at `loc`, for did-you-mean suggestions."""
    current: Any = root
    for part in loc:
        current = _model_of(current)
        if current is None:
            return []
        if isinstance(part, str) and _is_model(current):
            fields = current.model_fields
            field = next((f for n, f in fields.items() if part in (n, f.alias)), None)
            if field is None:
                return []
            current = field.annotation
        else:
            args = typing.get_args(current)
            current = args[-1] if args else None
    current = _model_of(current)
    if not _is_model(current):
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _model_of(annotation: Any) -> Any:
    """Unwrap Optional/Annotated to the model (or container) they hold."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in members if _is_model(a) or typing.get_origin(a) in (dict, list)]
            annotation = models[0] if models else members[0]
        else:
            return annotation


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []


def _graph_problems(source: Source) -> list[Problem]:
    nodes = source.data.get("nodes")
    if not isinstance(nodes, dict):
        return []
    problems: list[Problem] = []
    ids = set(nodes)
    upstreams: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        loc: Loc = ("nodes", node_id)
        if not NODE_ID.match(node_id):
            problems.append(
                source.problem(
                    loc,
                    f"node id {node_id!r} must be a letter or _ followed by letters, digits or _",
                    key=True,
                )
            )
        elif node_id in RESERVED_IDS:
            problems.append(
                source.problem(
                    loc,
                    f"node id {node_id!r} is reserved (templates use it); choose another name",
                    key=True,
                )
            )
        if not isinstance(node, dict):
            continue
        upstreams[node_id] = [a for a in _as_list(node.get("after")) if isinstance(a, str)]
        problems.extend(_edge_problems(source, node_id, node, ids))
        problems.extend(_template_problems(source, loc, node))
    problems.extend(_branch_problems(source, nodes, upstreams))
    problems.extend(_hook_problems(source, nodes, upstreams))
    problems.extend(_cycle_problems(source, upstreams))
    trigger = source.data.get("trigger")
    if isinstance(trigger, dict) and "context" in trigger:
        problems.extend(_template_problems(source, ("trigger", "context"), trigger["context"]))
    if isinstance(trigger, dict) and isinstance(trigger.get("schema"), dict):
        try:
            jsonschema.Draft202012Validator.check_schema(trigger["schema"])
        except jsonschema.SchemaError as exc:
            at: Loc = ("trigger", "schema", *exc.absolute_path)
            problems.append(
                source.problem(at, f"trigger.schema is not a valid JSON Schema: {exc.message}")
            )
    return problems


def _edge_problems(
    source: Source, node_id: str, node: dict[str, Any], ids: set[str]
) -> list[Problem]:
    problems = []
    after = _as_list(node.get("after"))
    for i, target in enumerate(after):
        loc: Loc = (
            ("nodes", node_id, "after", i)
            if isinstance(node.get("after"), list)
            else ("nodes", node_id, "after")
        )
        if target == node_id:
            problems.append(source.problem(loc, f"node {node_id!r}: `after` names the node itself"))
        elif isinstance(target, str) and target not in ids:
            message = f"node {node_id!r}: `after` names unknown node {target!r}"
            close = difflib.get_close_matches(target, sorted(ids), n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            problems.append(source.problem(loc, message))
    count = len(set(after))
    if count > 1 and node.get("join") is None:
        problems.append(
            source.problem(
                ("nodes", node_id, "after"),
                f"node {node_id!r} has {count} upstream nodes and needs `join: all`, `join: any` "
                "or `join: {at_least: N}`",
            )
        )
    if node.get("join") is not None and count < 2:
        problems.append(
            source.problem(
                ("nodes", node_id, "join"),
                f"node {node_id!r}: `join` needs two or more upstream nodes in `after`, "
                f"it has {count}",
            )
        )
    join = node.get("join")
    if (
        isinstance(join, dict)
        and isinstance(join.get("at_least"), int)
        and join["at_least"] > count >= 2
    ):
        problems.append(
            source.problem(
                ("nodes", node_id, "join", "at_least"),
                f"node {node_id!r}: join needs at least {join['at_least']} "
                f"of only {count} upstream nodes",
            )
        )
    return problems


def _hook_problems(
    source: Source, nodes: dict[str, Any], upstreams: dict[str, list[str]]
) -> list[Problem]:
    """`on_success` / `on_failure` name nodes that run outside the graph, after it settles:
    they exist, have no `after`, and nothing runs after them."""
    problems = []
    downstream_of = {up for ups in upstreams.values() for up in ups}
    for key in ("on_success", "on_failure"):
        raw = source.data.get(key)
        for i, hook in enumerate(_as_list(raw)):
            loc: Loc = (key, i) if isinstance(raw, list) else (key,)
            if not isinstance(hook, str):
                continue
            if hook not in nodes:
                message = f"{key} names unknown node {hook!r}"
                close = difflib.get_close_matches(hook, sorted(nodes), n=1, cutoff=0.6)
                problems.append(
                    source.problem(
                        loc, message + (f" (did you mean {close[0]!r}?)" if close else "")
                    )
                )
            elif upstreams.get(hook):
                problems.append(
                    source.problem(
                        ("nodes", hook, "after"),
                        f"node {hook!r} runs {key}, after the execution settles: "
                        "it takes no `after`",
                    )
                )
            elif hook in downstream_of:
                problems.append(
                    source.problem(loc, f"node {hook!r} runs {key}, so no node can run `after` it")
                )
    return problems


def _branch_problems(
    source: Source, nodes: dict[str, Any], upstreams: dict[str, list[str]]
) -> list[Problem]:
    problems = []
    for node_id, node in nodes.items():
        if not isinstance(node, dict) or not isinstance(node.get("branch"), list):
            continue
        targets: list[tuple[Loc, Any]] = []
        for i, rule in enumerate(node["branch"]):
            if isinstance(rule, dict):
                then = rule.get("then")
                base: Loc = ("nodes", node_id, "branch", i, "then")
                targets += (
                    [((*base, j), t) for j, t in enumerate(then)]
                    if isinstance(then, list)
                    else [(base, then)]
                )
        default = node.get("default")
        base = ("nodes", node_id, "default")
        targets += (
            [((*base, j), t) for j, t in enumerate(default)]
            if isinstance(default, list)
            else [(base, default)]
            if default is not None
            else []
        )
        for loc, target in targets:
            if isinstance(target, str) and node_id not in upstreams.get(target, []):
                problems.append(
                    source.problem(
                        loc,
                        f"node {node_id!r}: branch target {target!r} must be a direct successor "
                        f"(a node with `after: {node_id}`)",
                    )
                )
    return problems


def _cycle_problems(source: Source, upstreams: dict[str, list[str]]) -> list[Problem]:
    """Report every cycle in the `after` edges once, as a path (iterative: any depth)."""
    remaining = {n: [u for u in ups if u in upstreams] for n, ups in upstreams.items()}
    problems: list[Problem] = []
    while True:
        _peel_acyclic(remaining)
        if not remaining:
            return problems
        walk: list[str] = [next(iter(remaining))]
        seen: dict[str, int] = {walk[0]: 0}
        while True:
            up = remaining[walk[-1]][0]
            if up in seen:
                cycle = [*walk[seen[up] :], up]
                break
            seen[up] = len(walk)
            walk.append(up)
        path = " -> ".join(reversed(cycle))
        problems.append(source.problem(("nodes", cycle[0], "after"), f"cycle: {path}"))
        for node in cycle:
            remaining.pop(node, None)
        for node, ups in remaining.items():
            remaining[node] = [u for u in ups if u in remaining]


def _peel_acyclic(graph: dict[str, list[str]]) -> None:
    """Remove, in place, every node not on a cycle or downstream of one (Kahn's algorithm)."""
    pending = {node: len(ups) for node, ups in graph.items()}
    downstream: dict[str, list[str]] = {node: [] for node in graph}
    for node, ups in graph.items():
        for up in ups:
            downstream[up].append(node)
    ready = [node for node, count in pending.items() if count == 0]
    while ready:
        node = ready.pop()
        del graph[node]
        for down in downstream[node]:
            pending[down] -= 1
            if pending[down] == 0:
                ready.append(down)
    for node, ups in graph.items():
        graph[node] = [u for u in ups if u in graph]


def _is_cel(loc: Loc) -> bool:
    """CEL conditions (`branch[i].when`, `repeat.until`) are not Jinja templates; a transform
    output or an input that happens to be named `when` or `until` still is one."""
    return loc[:1] == ("nodes",) and (
        (len(loc) == 5 and loc[2] == "branch" and loc[4] == "when")
        or (len(loc) == 4 and loc[2:] == ("repeat", "until"))
    )


def _condition_problems(source: Source, loc: Loc, value: str) -> Iterator[Problem]:
    error = expressions.check_syntax(value)
    if error:
        line, column = source.position(loc)
        yield Problem(
            source.file,
            line + error[0] - 1,
            column,
            f"{where(loc)}: CEL error at column {error[1]} of the condition: {error[2]}",
        )


def _template_problems(source: Source, loc: Loc, value: Any) -> Iterator[Problem]:
    if isinstance(value, str):
        if _is_cel(loc):
            yield from _condition_problems(source, loc, value)
            return
        error = check_syntax(value)
        if error:
            line, column = source.position(loc)
            yield Problem(
                source.file,
                line + error[0] - 1,
                column,
                f"{where(loc)}: template error: {error[1]}",
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _template_problems(source, (*loc, key), item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _template_problems(source, (*loc, i), item)
