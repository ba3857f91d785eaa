"""Which node ids a node's templates can see (DESIGN.md §4, single-hop visibility).

A node without `after` sees the trigger's payload at top level; a node with one upstream sees
that upstream's output at top level (a branch passes its own input through); a join sees a
map keyed by its upstream ids; an `on_success`/`on_failure` hook sees `status`, `error` and
`result`; a node's `context` is rendered over its own output. A template that reads a name
equal to the id of a node it cannot see is a mistake, unless that name is known to be a field
of what it does see: the trigger schema's properties, a transform's keys, an http response's
fields. Where the fields are not known (a component's output), `data.NAME` still reads one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fuchsia.definition.scope import Reading, is_template, read

Loc = tuple[str | int, ...]
HTTP_FIELDS = frozenset({"status", "headers", "json", "text"})
HOOK_FIELDS = frozenset({"status", "error", "result"})
# The parts of a node its input scope renders (each kind's `templated` in nodes/kind.py, plus
# foreach.items), as the workflow file spells them.
_RENDERED = {
    "component": ("inputs", "config"),
    "python": ("inputs",),
    "http": ("http",),
    "transform": ("transform",),
    "wait": ("wait", "until"),
    "workflow": ("workflow", "inputs"),
}


class Visibility:
    """Answers, per node, what its templates see; built once per workflow."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.nodes: dict[str, Any] = data.get("nodes") or {}
        self.ids = frozenset(self.nodes)
        hooks = [*_as_list(data.get("on_success")), *_as_list(data.get("on_failure"))]
        self.hooks = frozenset(h for h in hooks if isinstance(h, str))

    def problems(
        self, node_id: str, reads: list[tuple[Loc, Reading]]
    ) -> Iterator[tuple[Loc, int, str]]:
        """(location, line within the template, message) for each template of `node_id`
        naming a node it cannot see. `reads` are the node's templates that read some name
        (location, reading), as validation's one walk over the node found them: the scope is
        worked out only for a node that has such a template, and only once."""
        node = self.nodes.get(node_id)
        if not isinstance(node, dict):
            return
        rendered = [path for path, _ in self._rendered((), node)]
        inputs: tuple[str, frozenset[str] | None] | None = None
        own: tuple[str, frozenset[str] | None] | None = None
        for loc, reading in reads:
            rest = loc[2:]
            if rest[:1] == ("context",) and isinstance(node.get("context"), dict):
                own = own or ("its own output", self._fields(node_id, set()))
                scope = own
            elif any(rest[: len(path)] == path for path in rendered):
                inputs = inputs or self._input_scope(node_id, node)
                scope = inputs
            else:
                continue
            yield from self._names(loc, reading, node_id, *scope)

    def trigger_problems(self) -> Iterator[tuple[Loc, int, str]]:
        trigger = self.data.get("trigger")
        if isinstance(trigger, dict) and isinstance(trigger.get("context"), dict):
            yield from self._check(
                ("trigger", "context"), trigger["context"], None, *self._payload()
            )

    def _input_scope(self, node_id: str, node: dict[str, Any]) -> tuple[str, frozenset[str] | None]:
        """What the node's inputs see (in words), and the names known to be in it."""
        after = _upstreams(node)
        if node_id in self.hooks:
            return "the execution's status, error and result", HOOK_FIELDS
        if not after:
            return self._payload()
        if node.get("join") is not None or len(after) > 1:
            return "its upstream nodes " + ", ".join(map(repr, after)), frozenset(after)
        return f"the output of {after[0]!r} at top level", self._fields(after[0], set())

    def _payload(self) -> tuple[str, frozenset[str] | None]:
        trigger = self.data.get("trigger")
        schema = trigger.get("schema") if isinstance(trigger, dict) else None
        properties = schema.get("properties") if isinstance(schema, dict) else None
        known = frozenset(properties) if isinstance(properties, dict) else None
        return "the trigger's payload", known

    def _fields(self, node_id: str, seen: set[str]) -> frozenset[str] | None:
        """The top-level names `node_id`'s output is known to hold; None if not known."""
        node = self.nodes.get(node_id)
        if not isinstance(node, dict) or node_id in seen:
            return None
        seen.add(node_id)
        if node.get("foreach") is not None:
            return frozenset()  # a list of results: nothing at top level
        if "transform" in node:
            transform = node["transform"]
            return frozenset(transform) if isinstance(transform, dict) else frozenset()
        if "http" in node:
            return HTTP_FIELDS
        if "branch" in node:  # passes its input through
            after = _upstreams(node)
            if not after:
                return self._payload()[1]
            if node.get("join") is not None or len(after) > 1:
                return frozenset(after)
            return self._fields(after[0], seen)
        return None

    def _rendered(self, base: Loc, node: dict[str, Any]) -> Iterator[tuple[Loc, Any]]:
        for kind, path in _RENDERED.items():
            if kind in node:
                value: Any = node
                for part in path:
                    value = value.get(part) if isinstance(value, dict) else None
                if value is not None:
                    yield (*base, *path), value
        foreach = node.get("foreach")
        if isinstance(foreach, dict) and "items" in foreach:
            yield (*base, "foreach", "items"), foreach["items"]

    def _check(
        self,
        loc: Loc,
        value: Any,
        node_id: str | None,
        sees: str,
        fields: frozenset[str] | None,
    ) -> Iterator[tuple[Loc, int, str]]:
        for at, text in _strings(loc, value):
            if is_template(text):
                yield from self._names(at, read(text), node_id, sees, fields)

    def _names(
        self,
        loc: Loc,
        reading: Reading,
        node_id: str | None,
        sees: str,
        fields: frozenset[str] | None,
    ) -> Iterator[tuple[Loc, int, str]]:
        for name in sorted(reading.names & self.ids):
            if fields is not None and name in fields:
                continue
            if name == node_id:
                why = "a node cannot read its own id"
            else:
                why = f"it is not visible here: this template sees {sees}"
            message = (
                f"the template reads {name!r}, the id of a node, but {why} "
                f"(single-hop visibility; a field of that name is `data.{name}`)"
            )
            yield loc, reading.line_of(name), message


def _strings(loc: Loc, value: Any) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings((*loc, key), item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings((*loc, i), item)


def _upstreams(node: dict[str, Any]) -> list[str]:
    """The names in `after`, once each, in order (what is not a name the models report)."""
    return list(dict.fromkeys(a for a in _as_list(node.get("after")) if isinstance(a, str)))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
