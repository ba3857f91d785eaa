"""A run's timeline (Gantt): one row per node, one bar per attempt, on one time axis from
the run's start to its end (or now). Pure: attempts in, bars and ticks in pixels out.

A bar is never thinner than MIN_BAR pixels, so an attempt of a millisecond stays visible
and clickable next to one of an hour; a running attempt ends at `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LABEL_WIDTH = 140
CHART_WIDTH = 560
ROW_HEIGHT = 22
BAR_HEIGHT = 14
AXIS_HEIGHT = 20
MIN_BAR = 3
TICKS = 4


@dataclass(frozen=True)
class Span:
    """One attempt: its node, number, status and when it ran (`end` None: running)."""

    node: str
    number: int
    status: str
    start: float
    end: float | None


@dataclass(frozen=True)
class Bar:
    span: Span
    row: int
    x: float
    y: float
    width: float
    seconds: float


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    rows: list[str]  # node ids, top to bottom
    bars: list[Bar]
    ticks: list[Tick]
    width: int
    height: int
    label_width: int = LABEL_WIDTH
    row_height: int = ROW_HEIGHT
    axis_height: int = AXIS_HEIGHT


def seconds_label(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def timeline(spans: Sequence[Span], order: Sequence[str], now: float) -> Timeline:
    """Bars for `spans`, one row per node of `order` that has one (in that order)."""
    rows = [n for n in order if any(s.node == n for s in spans)]
    height = AXIS_HEIGHT + len(rows) * ROW_HEIGHT + 4
    width = LABEL_WIDTH + CHART_WIDTH + 8
    if not spans:
        return Timeline([], [], [], width, height)
    start = min(s.start for s in spans)
    end = max(max((s.end if s.end is not None else now) for s in spans), start)
    total = max(end - start, 1e-3)
    scale = CHART_WIDTH / total
    bars = []
    index = {n: i for i, n in enumerate(rows)}
    for span in spans:
        if span.node not in index:
            continue
        finish = span.end if span.end is not None else now
        seconds = max(finish - span.start, 0.0)
        x = LABEL_WIDTH + (span.start - start) * scale
        bar_width = min(max(seconds * scale, MIN_BAR), LABEL_WIDTH + CHART_WIDTH - x + MIN_BAR)
        y = AXIS_HEIGHT + index[span.node] * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
        bars.append(Bar(span, index[span.node], round(x, 1), y, round(bar_width, 1), seconds))
    ticks = [
        Tick(round(LABEL_WIDTH + CHART_WIDTH * i / TICKS, 1), seconds_label(total * i / TICKS))
        for i in range(TICKS + 1)
    ]
    return Timeline(rows, bars, ticks, width, height)
