"""A workflow's graph laid out in layers, for the UI to draw as inline SVG. Pure: node
dependencies in, boxes and edge paths out; no I/O, no state, no markup.

Each node sits in the layer one below the deepest node it runs `after` (the longest path from
a root), so every edge points down. Within a layer the nodes keep the workflow's order on the
first layer and are then ordered by the mean position of their parents (one barycentre sweep,
which untangles the common fan-out and join shapes). Outcome hooks, which run once the graph
has settled, go in a last layer of their own. A foreach is one node (its items are counts on
that node, never boxes), so a fan-out of a thousand items lays out like one node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow

BOX_WIDTH = 180
BOX_HEIGHT = 56
GAP_X = 24
GAP_Y = 44
MARGIN = 8


@dataclass(frozen=True)
class Box:
    """One node's place: its layer (row, from 0 at the top), its slot in that row, and the
    pixel rectangle (top-left corner) it is drawn in."""

    id: str
    layer: int
    slot: int
    x: int
    y: int
    width: int = BOX_WIDTH
    height: int = BOX_HEIGHT

    @property
    def center_x(self) -> int:
        return self.x + self.width // 2


@dataclass(frozen=True)
class Edge:
    """A dependency, drawn from the bottom of `source` to the top of `target` (`path`: SVG
    path data, a cubic curve)."""

    source: str
    target: str
    path: str


@dataclass(frozen=True)
class Layout:
    boxes: dict[str, Box]
    edges: list[Edge]
    width: int
    height: int


def layers(after: Mapping[str, Sequence[str]], hooks: Sequence[str] = ()) -> list[list[str]]:
    """The nodes of `after` (node id -> the ids it runs after, in the workflow's order) in
    layers, each layer in drawing order. Dependencies on unknown ids are ignored; a cycle
    (which validation refuses) cannot hang it: a node on one is put below what it reaches."""
    hooked = [h for h in hooks if h in after]
    graph = [n for n in after if n not in hooked]
    depth = _depths(graph, after)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in graph:
        rows[depth[node]].append(node)
    if hooked:
        rows.append(list(hooked))
    return _ordered(rows, after)


def _depths(graph: Sequence[str], after: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Longest-path depth of each node of `graph`, without recursion (Kahn's order); the
    nodes a cycle leaves unplaced go one below the deepest placed node."""
    members = set(graph)
    parents = {n: [p for p in dict.fromkeys(after[n]) if p in members] for n in graph}
    children: dict[str, list[str]] = {n: [] for n in graph}
    for node in graph:
        for parent in parents[node]:
            children[parent].append(node)
    waiting = {n: len(parents[n]) for n in graph}
    depth = {n: 0 for n in graph if not parents[n]}
    queue = [n for n in graph if not parents[n]]
    while queue:
        node = queue.pop()
        for child in children[node]:
            depth[child] = max(depth.get(child, 0), depth[node] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                queue.append(child)
    below = 1 + max(depth.values(), default=-1)
    for node in graph:
        if waiting[node] > 0:
            depth[node] = below
    return depth


def _ordered(rows: list[list[str]], after: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each row below the first sorted by the mean slot of its parents in the rows above
    (stable: a node without parents keeps its place relative to the others)."""
    slot: dict[str, float] = {n: float(i) for i, n in enumerate(rows[0])} if rows else {}
    result = [rows[0]] if rows else []
    for row in rows[1:]:

        def centre(node: str, index: int) -> float:
            placed = [slot[p] for p in after[node] if p in slot]
            return sum(placed) / len(placed) if placed else float(index)

        keyed = sorted(enumerate(row), key=lambda pair: (centre(pair[1], pair[0]), pair[0]))
        ordered = [node for _, node in keyed]
        slot.update({n: float(i) for i, n in enumerate(ordered)})
        result.append(ordered)
    return result


def layout(after: Mapping[str, Sequence[str]], hooks: Sequence[str] = ()) -> Layout:
    """Boxes and edges for the graph `after` describes (see `layers`); each row is centred
    on the widest one."""
    rows = layers(after, hooks)
    widest = max((len(r) for r in rows), default=0)
    width = 2 * MARGIN + max(widest * BOX_WIDTH + (widest - 1) * GAP_X, BOX_WIDTH)
    boxes: dict[str, Box] = {}
    for depth, row in enumerate(rows):
        row_width = len(row) * BOX_WIDTH + (len(row) - 1) * GAP_X
        left = (width - row_width) // 2
        for slot, node in enumerate(row):
            x = left + slot * (BOX_WIDTH + GAP_X)
            boxes[node] = Box(node, depth, slot, x, MARGIN + depth * (BOX_HEIGHT + GAP_Y))
    edges = [
        Edge(parent, node, _curve(boxes[parent], boxes[node]))
        for node in boxes
        for parent in after[node]
        if parent in boxes
    ]
    height = 2 * MARGIN + max(len(rows) * BOX_HEIGHT + (len(rows) - 1) * GAP_Y, BOX_HEIGHT)
    return Layout(boxes, edges, width, height)


def _curve(source: Box, target: Box) -> str:
    x1, y1 = source.center_x, source.y + source.height
    x2, y2 = target.center_x, target.y
    middle = (y1 + y2) // 2
    return f"M{x1},{y1} C{x1},{middle} {x2},{middle} {x2},{y2}"


def of_workflow(workflow: LockedWorkflow) -> Layout:
    """The layout of a locked workflow's nodes."""
    after = {node_id: workflow.nodes[node_id].after for node_id in workflow.order}
    hooks = [n for n in workflow.order if workflow.nodes[n].hook is not None]
    return layout(after, hooks)
