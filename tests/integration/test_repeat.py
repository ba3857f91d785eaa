"""`repeat`: run a node again until a CEL condition holds over its output."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fuchsia import Execution
from support.flows import run_text
from support.httpserver import LoopbackServer


def run(tmp_path: Path, text: str, payload: Any = None) -> Execution:
    return run_text(tmp_path, text, payload, "loop.yaml")


def test_repeat_runs_until_the_condition_holds_and_records_each_iteration(tmp_path: Path) -> None:
    execution = run(
        tmp_path,
        """
name: count
nodes:
  count:
    repeat: {until: "data.n >= 4", max_iterations: 10}
    transform:
      n: "{{ (loop.previous.n if loop.previous else 0) + 1 }}"
      iteration: "{{ loop.iteration }}"
  after_count: {after: count, transform: {final: "{{ n }}"}}
""",
    )
    assert execution.status == "completed", execution.error
    assert execution.node("count").output == {"n": 4, "iteration": 4}
    assert [a.status for a in execution.node("count").attempts] == ["succeeded"] * 4
    assert [a.output["n"] for a in execution.node("count").attempts] == [1, 2, 3, 4]
    assert execution.result == {"final": 4}


def test_an_exhausted_repeat_fails_with_loop_exhausted(tmp_path: Path) -> None:
    text = """
name: never
nodes:
  spin:
    repeat: {{until: "data.done", max_iterations: 3, delay: 10ms}}
    transform: {{done: false}}
    {on_error}
  next: {{after: spin, transform: {{x: 1}}}}
"""
    failed = run(tmp_path, text.format(on_error=""))
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error["type"] == "loop_exhausted"
    assert len(failed.node("spin").attempts) == 3

    tolerant = run(tmp_path / "b", text.format(on_error="on_error: continue"))
    assert tolerant.status == "completed_with_errors"
    assert tolerant.node("next").status == "skipped"


def test_repeat_polls_an_http_endpoint_until_it_is_ready(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    key = f"poll-{uuid.uuid4().hex[:8]}"
    execution = run(
        tmp_path,
        f"""
name: poll
nodes:
  poll:
    repeat: {{until: "data.status == 200", max_iterations: 5, delay: 10ms}}
    http: {{url: "{loopback.url(f"/flaky/{key}")}?fail=2", expect: [200, 503]}}
""",
    )
    assert execution.status == "completed", execution.error
    assert [a.output["status"] for a in execution.node("poll").attempts] == [503, 503, 200]


def test_a_condition_that_cannot_be_evaluated_fails_the_node(tmp_path: Path) -> None:
    execution = run(
        tmp_path,
        """
name: badcond
nodes:
  a: {repeat: {until: "data.missing == 1"}, transform: {x: 1}}
""",
    )
    assert execution.status == "failed"
    assert execution.error is not None
    assert "repeat.until" in execution.error["message"]
