"""The bounded log of one attempt: lines and bytes capped, overlong stdio lines cut."""

from __future__ import annotations

from fuchsia.components import limits


def test_a_sink_keeps_its_budget_and_says_once_how_many_lines_it_dropped() -> None:
    sink = limits.LogSink(lines=3, size=1000)
    for i in range(10):
        sink.add("info", f"line {i}", {})
    lines = sink.lines
    assert [line["message"] for line in lines[:3]] == ["line 0", "line 1", "line 2"]
    assert len(lines) == 4
    assert lines[3]["message"].startswith("7 log lines dropped")
    assert lines[3]["fields"]["dropped"] == 7


def test_a_sink_counts_bytes_too() -> None:
    sink = limits.LogSink(lines=100, size=50)
    sink.add("info", "x" * 40, {}, 40)
    sink.add("info", "y" * 40, {}, 40)
    assert [line["message"] for line in sink.lines[:-1]] == ["x" * 40]
    assert sink.lines[-1]["fields"] == {"dropped": 1, "dropped_bytes": 40}


def test_an_overlong_output_line_is_cut_with_a_marker_and_never_held_whole() -> None:
    sink = limits.LogSink()
    stream = limits.OutputStream(sink, "info", "stdout")
    for _ in range(100):
        stream.write(b"L" * 8192)
        assert len(stream.pending) <= limits.LOG_LINE
    stream.write(b"\nshort\npartial")
    stream.flush()
    long, short, partial = sink.lines
    assert long["message"].startswith("L" * limits.LOG_LINE)
    assert f"[{100 * 8192 - limits.LOG_LINE} more bytes cut" in long["message"]
    assert (short["message"], partial["message"]) == ("short", "partial")
    assert short["fields"] == {"stream": "stdout"}
