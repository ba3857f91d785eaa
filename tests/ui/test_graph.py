"""The graph layout: layers by longest path, parents above children, rows untangled, hooks
last, boxes that never overlap; pure, so tested without a server or a browser."""

from __future__ import annotations

from fuchsia.ui import graph
from support.waiting import locked


def test_a_node_sits_one_layer_below_its_deepest_parent() -> None:
    rows = graph.layers({"a": [], "b": ["a"], "c": ["b"], "d": ["a", "c"]})
    assert rows == [["a"], ["b"], ["c"], ["d"]]


def test_a_fan_out_and_join_share_layers() -> None:
    rows = graph.layers(
        {"src": [], "x": ["src"], "y": ["src"], "z": ["src"], "join": ["x", "y", "z"]}
    )
    assert rows == [["src"], ["x", "y", "z"], ["join"]]


def test_rows_are_ordered_by_their_parents_positions() -> None:
    # c's parent is left of d's: c comes first though d is listed first
    rows = graph.layers({"left": [], "right": [], "d": ["right"], "c": ["left"]})
    assert rows == [["left", "right"], ["c", "d"]]


def test_hooks_go_in_a_last_layer_of_their_own() -> None:
    rows = graph.layers({"a": [], "b": ["a"], "notify": []}, hooks=["notify"])
    assert rows == [["a"], ["b"], ["notify"]]


def test_a_cycle_or_an_unknown_parent_cannot_hang_or_break_it() -> None:
    rows = graph.layers({"a": [], "b": ["a", "c"], "c": ["b"], "d": ["ghost"]})
    assert sorted(n for row in rows for n in row) == ["a", "b", "c", "d"]
    assert rows[0] == ["a", "d"]


def test_a_long_chain_needs_no_recursion() -> None:
    after = {f"n{i}": [f"n{i - 1}"] if i else [] for i in range(5000)}
    rows = graph.layers(after)
    assert len(rows) == 5000 and rows[-1] == ["n4999"]


def test_boxes_never_overlap_and_edges_point_down() -> None:
    after = {"a": [], "b": ["a"], "c": ["a"], "d": ["a"], "e": ["b", "c", "d"], "f": []}
    drawn = graph.layout(after)
    boxes = list(drawn.boxes.values())
    for i, one in enumerate(boxes):
        assert one.x >= 0 and one.x + one.width <= drawn.width
        assert one.y >= 0 and one.y + one.height <= drawn.height
        for other in boxes[i + 1 :]:
            apart_x = one.x + one.width <= other.x or other.x + other.width <= one.x
            apart_y = one.y + one.height <= other.y or other.y + other.height <= one.y
            assert apart_x or apart_y, (one, other)
    assert {(e.source, e.target) for e in drawn.edges} == {
        ("a", "b"), ("a", "c"), ("a", "d"), ("b", "e"), ("c", "e"), ("d", "e"),
    }  # fmt: skip
    for edge in drawn.edges:
        assert drawn.boxes[edge.source].y < drawn.boxes[edge.target].y
        assert edge.path.startswith("M") and " C" in edge.path


def test_a_foreach_is_one_box_and_a_workflow_lays_out_in_its_order() -> None:
    workflow = locked(
        """
name: fan
nodes:
  numbers: {transform: {values: [1, 2, 3]}}
  square: {after: numbers, foreach: {items: "{{ values }}"}, transform: {v: "{{ item }}"}}
  total: {after: square, transform: {n: "{{ data | length }}"}}
"""
    )
    drawn = graph.of_workflow(workflow)
    assert list(drawn.boxes) == ["numbers", "square", "total"]
    assert [b.layer for b in drawn.boxes.values()] == [0, 1, 2]
    assert drawn.width == 2 * graph.MARGIN + graph.BOX_WIDTH  # one column fits a phone


def test_an_empty_graph_has_a_size() -> None:
    drawn = graph.layout({})
    assert drawn.boxes == {} and drawn.width > 0 and drawn.height > 0
