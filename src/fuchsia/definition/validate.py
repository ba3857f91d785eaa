"""Validation: every problem in a workflow file, each placed at its line and column.

Two passes that never stop at the first mistake: the models check shapes and types (unknown
keys get a did-you-mean), and the graph pass checks what the models cannot see (dangling
`after`, cycles, joins, branch targets, template syntax). The graph pass reads the raw data, so
a type error in one node does not hide a cycle elsewhere.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Collection, Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from fuchsia import expressions
from fuchsia.definition.models import NODE_ID, RESERVED_IDS, WorkflowDef
from fuchsia.definition.scope import Reading, is_template, read
from fuchsia.definition.source import Loc, Source, paused_gc
from fuchsia.definition.visibility import Visibility
from fuchsia.errors import DefinitionError, Problem

# Did-you-mean suggestions cost a scan of every name each; after this many a file has bigger
# problems than spelling, and the rest of its problems are reported without one.
MAX_SUGGESTIONS = 100
MAX_CANDIDATES = 200
MAX_CYCLES = 100  # cycles reported per file; each costs a pass over what is left


class _Suggest:
    """`difflib` suggestions, bounded: at most `MAX_SUGGESTIONS` per validation, each against
    at most `MAX_CANDIDATES` names of the closest lengths (a name several letters longer or
    shorter is no likely typo). One unbounded scan per problem made 4,000 dangling names in a
    4,000-node file quadratic."""

    def __init__(self) -> None:
        self.left = MAX_SUGGESTIONS
        self.by_length: dict[int, tuple[object, dict[int, list[str]]]] = {}

    def __call__(self, word: str, names: list[str] | set[str]) -> str:
        if self.left <= 0 or not names:
            return ""
        self.left -= 1
        close = difflib.get_close_matches(word, self._candidates(word, names), n=1, cutoff=0.6)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def _candidates(self, word: str, names: list[str] | set[str]) -> list[str]:
        cached = self.by_length.get(id(names))
        if cached is None or cached[0] is not names:
            index: dict[int, list[str]] = {}
            for name in sorted(names):
                index.setdefault(len(name), []).append(name)
            cached = (names, index)
            self.by_length[id(names)] = cached
        index = cached[1]
        picked: list[str] = []
        for distance in range(max(index) + len(word) + 1):
            for length in {len(word) - distance, len(word) + distance}:
                picked += index.get(length, [])
            if len(picked) >= MAX_CANDIDATES:
                break
        return picked[:MAX_CANDIDATES]


def validate(source: Source) -> WorkflowDef:
    """Return the typed definition, or raise DefinitionError with every problem found."""
    problems = [*source.problems]
    if not source.json_safe:  # the reader found no such value, or this Source was built by hand
        problems.extend(json_problems(source, source.data, ()))
    model: WorkflowDef | None = None
    with paused_gc():
        try:
            model = WorkflowDef.model_validate(source.data)
        except ValidationError as exc:
            problems.extend(_model_problems(source, exc))
        problems.extend(_graph_problems(source))
    if problems:
        raise DefinitionError(sorted(set(problems)))
    assert model is not None
    return model


def json_problems(source: Source, value: Any, loc: Loc) -> Iterator[Problem]:
    """Values JSON cannot carry, where they stand: a locked workflow is JSON, and a YAML date,
    `.inf`, `.nan` or `!!binary` would otherwise fail (or change) when it is written."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_problems(source, item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from json_problems(source, item, (*loc, i))
    elif isinstance(value, float) and not math.isfinite(value):
        yield source.problem(loc, f"{where(loc)}: {value!r} is not a JSON number")
    elif not isinstance(value, str | int | float | bool) and value is not None:
        kind = type(value).__name__
        yield source.problem(
            loc, f"{where(loc)}: a {kind} is not a JSON value; quote it to make it a string"
        )


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
    suggest = _Suggest()
    for error in exc.errors():
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"{where(loc[:-1])}: unknown key {key!r}"
            yield source.problem(loc, message + suggest(key, fields_at(loc[:-1])), key=True)
        elif kind == "missing":
            yield source.problem(loc[:-1], f"{where(loc[:-1])}: missing required key {loc[-1]!r}")
        elif kind == "model_type":
            yield source.problem(loc, f"{where(loc)}: {mapping_expected(loc, error['input'])}")
        else:
            text = error["msg"].removeprefix("Value error, ")
            yield source.problem(loc, f"{where(loc)}: {text}")


def mapping_expected(loc: Loc, value: object, root: type[BaseModel] = WorkflowDef) -> str:
    """What to say of `value` standing where `root` takes a mapping at `loc`: the keys it
    takes, and what was there instead (pydantic's own words name a Python class)."""
    keys = fields_at(loc, root)
    taking = f" with the keys {', '.join(keys)}" if keys else ""
    return f"expected a mapping{taking}, not {_described(value)}"


def _described(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}"
    return f"a {'list' if isinstance(value, list) else type(value).__name__}"


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
    suggest = _Suggest()
    visibility = Visibility(source.data)
    for node_id, node in nodes.items():
        if not NODE_ID.match(node_id) or node_id in RESERVED_IDS:
            problems.append(_id_problem(source, node_id))
        if not isinstance(node, dict):
            continue
        after = node.get("after")
        upstreams[node_id] = (
            [after]
            if after.__class__ is str
            else [a for a in _as_list(after) if a.__class__ is str]
        )
        problems.extend(_edge_problems(source, node_id, node, ids, suggest))
        reads: list[tuple[Loc, Reading]] = []
        if "python" in node:  # a step's code is Python, never a template (locking compiles it)
            node = {key: value for key, value in node.items() if key != "python"}
        _template_problems(source, ("nodes", node_id), node, problems, reads, ids)
        if reads:  # templates that read a name equal to a node id: is that node visible?
            problems.extend(_visibility_problems(source, visibility.problems(node_id, reads)))
    problems.extend(_branch_problems(source, nodes, upstreams))
    problems.extend(_hook_problems(source, nodes, upstreams, suggest))
    problems.extend(_cycle_problems(source, upstreams))
    problems.extend(_trigger_problems(source, visibility))
    return problems


def _id_problem(source: Source, node_id: str) -> Problem:
    if not NODE_ID.match(node_id):
        message = f"node id {node_id!r} must be a letter or _ followed by letters, digits or _"
    else:
        message = f"node id {node_id!r} is reserved (templates use it); choose another name"
    return source.problem(("nodes", node_id), message, key=True)


def _trigger_problems(source: Source, visibility: Visibility) -> list[Problem]:
    problems: list[Problem] = []
    trigger = source.data.get("trigger")
    if isinstance(trigger, dict) and "context" in trigger:
        context = trigger["context"]
        _template_problems(source, ("trigger", "context"), context, problems, [], frozenset())
        problems.extend(_visibility_problems(source, visibility.trigger_problems()))
    if isinstance(trigger, dict) and isinstance(trigger.get("schema"), dict):
        import jsonschema  # only a file with a schema pays for importing the validator

        from fuchsia import schemas

        try:
            schemas.check(trigger["schema"])
        except jsonschema.SchemaError as exc:
            at: Loc = ("trigger", "schema", *exc.absolute_path)
            problems.append(
                source.problem(at, f"trigger.schema is not a valid JSON Schema: {exc.message}")
            )
    return problems


def _visibility_problems(
    source: Source, found: Iterator[tuple[Loc, int, str]]
) -> Iterator[Problem]:
    for loc, line_in_template, message in found:
        line, column = source.position(loc)
        yield Problem(source.file, line + line_in_template - 1, column, f"{where(loc)}: {message}")


def _edge_problems(
    source: Source, node_id: str, node: dict[str, Any], ids: set[str], suggest: _Suggest
) -> list[Problem]:
    raw, join = node.get("after"), node.get("join")
    if join is None and (raw is None or (raw.__class__ is str and raw in ids and raw != node_id)):
        return []  # no `after`, or one that names another node: most nodes
    problems = []
    after = _as_list(raw)
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
            problems.append(source.problem(loc, message + suggest(target, ids)))
    # items that are not names still count (the models report them), unhashable ones too
    count = len({t if isinstance(t, str) else repr(t) for t in after})
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
    source: Source, nodes: dict[str, Any], upstreams: dict[str, list[str]], suggest: _Suggest
) -> list[Problem]:
    """`on_success` / `on_failure` name nodes that run outside the graph, after it settles:
    they exist, have no `after`, and nothing runs after them."""
    problems: list[Problem] = []
    if source.data.get("on_success") is None and source.data.get("on_failure") is None:
        return problems
    downstream_of = {up for ups in upstreams.values() for up in ups}
    for key in ("on_success", "on_failure"):
        raw = source.data.get(key)
        for i, hook in enumerate(_as_list(raw)):
            loc: Loc = (key, i) if isinstance(raw, list) else (key,)
            if not isinstance(hook, str):
                continue
            if hook not in nodes:
                message = f"{key} names unknown node {hook!r}"
                problems.append(source.problem(loc, message + suggest(hook, set(nodes))))
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
    upstream_sets: dict[str, set[str]] = {}  # built for the branch targets only
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
            if not isinstance(target, str):
                continue
            if target not in upstream_sets:
                upstream_sets[target] = set(upstreams.get(target, ()))
            if node_id not in upstream_sets[target]:
                problems.append(
                    source.problem(
                        loc,
                        f"node {node_id!r}: branch target {target!r} must be a direct successor "
                        f"(a node with `after: {node_id}`)",
                    )
                )
    return problems


def _cycle_problems(source: Source, upstreams: dict[str, list[str]]) -> list[Problem]:
    """Report cycles in the `after` edges as paths: one per strongly connected component, then
    one per component of what remains without it, at most `MAX_CYCLES` in all (linear in the
    graph per cycle reported, iterative: any depth)."""
    problems: list[Problem] = []
    if _in_file_order(upstreams):
        return problems  # every node after its upstreams: no cycle (most files)
    graph = {n: [u for u in ups if u in upstreams] for n, ups in upstreams.items()}
    _peel_acyclic(graph)  # cheap, and what is left is on a cycle or downstream of one
    pending = [graph] if graph else []
    order = {n: i for i, n in enumerate(upstreams)}
    while pending and len(problems) < MAX_CYCLES:
        graph = pending.pop()
        for component in _components(graph):
            if len(problems) >= MAX_CYCLES:
                break
            members = sorted(component, key=order.__getitem__)
            inside = {n: [u for u in graph[n] if u in component] for n in members}
            if len(component) == 1 and not inside[next(iter(component))]:
                continue  # a node on no cycle
            cycle = _walk_to_cycle(inside)
            path = " -> ".join(reversed(cycle))
            problems.append(source.problem(("nodes", cycle[0], "after"), f"cycle: {path}"))
            rest = {n: [u for u in ups if u not in cycle] for n, ups in inside.items()}
            for node in cycle:
                rest.pop(node, None)
            if rest:
                pending.append(rest)
    return problems


def _in_file_order(upstreams: dict[str, list[str]]) -> bool:
    """Whether every node comes after each of its upstream nodes: then no path leads back."""
    before: set[str] = set()
    for node, ups in upstreams.items():
        for up in ups:
            if up not in before and up in upstreams:
                return False
        before.add(node)
    return True


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


def _walk_to_cycle(graph: dict[str, list[str]]) -> list[str]:
    """From the first node (in file order), follow first upstreams until one repeats: in a
    strongly connected component every node has one, so the walk closes a cycle."""
    walk: list[str] = [next(iter(graph))]
    seen: dict[str, int] = {walk[0]: 0}
    while True:
        up = graph[walk[-1]][0]
        if up in seen:
            return [*walk[seen[up] :], up]
        seen[up] = len(walk)
        walk.append(up)


def _components(graph: dict[str, list[str]]) -> list[set[str]]:
    """Strongly connected components (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, ups = work[-1]
            for up in ups:
                if up not in index:
                    index[up] = low[up] = len(index)
                    stack.append(up)
                    on_stack.add(up)
                    work.append((up, iter(graph[up])))
                    break
                if up in on_stack:
                    low[node] = min(low[node], index[up])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    found.append(component)
    return found


_CEL_KEYS = frozenset({"when", "until"})


def _is_cel(loc: Loc) -> bool:
    """CEL conditions (`branch[i].when`, `repeat.until`) are not Jinja templates; a transform
    output or an input that happens to be named `when` or `until` still is one."""
    return (
        4 <= len(loc) <= 5
        and loc[0] == "nodes"
        and (
            (len(loc) == 5 and loc[2] == "branch" and loc[4] == "when")
            or (len(loc) == 4 and loc[2:] == ("repeat", "until"))
        )
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


def _template_problems(
    source: Source,
    loc: Loc,
    value: Any,
    problems: list[Problem],
    reads: list[tuple[Loc, Reading]],
    ids: Collection[str],
) -> None:
    """Append each template's syntax error (and each CEL condition's) to `problems`, and to
    `reads` each template that reads a name in `ids` (for the visibility check)."""
    if isinstance(value, str):
        _one_template(source, loc, value, problems, reads, ids)
    elif isinstance(value, dict):
        for key, item in value.items():
            if item.__class__ is str and key not in _CEL_KEYS:  # most leaves, without a call
                if not is_template(item):
                    continue
                reading = read(item)
                if not reading.error and reading.names.isdisjoint(ids):
                    continue
            _template_problems(source, (*loc, key), item, problems, reads, ids)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _template_problems(source, (*loc, i), item, problems, reads, ids)


def _one_template(
    source: Source,
    loc: Loc,
    value: str,
    problems: list[Problem],
    reads: list[tuple[Loc, Reading]],
    ids: Collection[str],
) -> None:
    if _is_cel(loc):
        problems.extend(_condition_problems(source, loc, value))
        return
    if not is_template(value):
        return
    reading = read(value)
    if reading.error:
        line, column = source.position(loc)
        message = f"{where(loc)}: template error: {reading.error[1]}"
        problems.append(Problem(source.file, line + reading.error[0] - 1, column, message))
    elif not reading.names.isdisjoint(ids):
        reads.append((loc, reading))
