"""The timeline: one row per node that ran, a bar per attempt on one axis from the first
start to the last end (or now), never thinner than MIN_BAR."""

from __future__ import annotations

from fuchsia.ui.timeline import CHART_WIDTH, LABEL_WIDTH, MIN_BAR, Span, timeline


def test_bars_sit_on_one_axis_in_node_order() -> None:
    spans = [
        Span("b", 1, "failed", 110.0, 120.0),
        Span("a", 1, "succeeded", 100.0, 110.0),
        Span("b", 2, "succeeded", 130.0, 140.0),
    ]
    drawn = timeline(spans, ["a", "b", "never"], now=500.0)
    assert drawn.rows == ["a", "b"]
    bars = {(b.span.node, b.span.number): b for b in drawn.bars}
    assert bars[("a", 1)].x == LABEL_WIDTH and bars[("a", 1)].row == 0
    assert bars[("b", 2)].x + bars[("b", 2)].width == LABEL_WIDTH + CHART_WIDTH
    assert bars[("b", 1)].row == bars[("b", 2)].row == 1
    assert bars[("b", 1)].seconds == 10.0
    assert drawn.ticks[0].label == "0 ms" and drawn.ticks[-1].label == "40.0 s"


def test_a_running_attempt_ends_now_and_a_short_one_stays_visible() -> None:
    spans = [Span("long", 1, "running", 0.0, None), Span("blink", 1, "succeeded", 5.0, 5.0001)]
    drawn = timeline(spans, ["long", "blink"], now=100.0)
    long, blink = drawn.bars
    assert long.width == CHART_WIDTH and long.seconds == 100.0
    assert blink.width == MIN_BAR


def test_nothing_ran_yet() -> None:
    drawn = timeline([], ["a"], now=1.0)
    assert drawn.bars == [] and drawn.rows == [] and drawn.width > 0
