"""on_success / on_failure: nodes that run after the execution settles, seeing its outcome."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fuchsia import DefinitionError, Engine, Execution
from fuchsia.definition import parse_text, validate
from support.flows import run_text

FLOW = """
name: hooked
{timeout}
on_success: celebrate
on_failure: [alert]
nodes:
  work: {{transform: {{x: "{{{{ x }}}}"}}}}
  check: {{after: work, transform: {{ratio: "{{{{ 10 / x }}}}"}}}}
  celebrate: {{transform: {{said: "done with {{{{ status }}}}", ratio: "{{{{ result.ratio }}}}"}}}}
  alert:
    transform:
      status: "{{{{ status }}}}"
      node: "{{{{ error.node }}}}"
      why: "{{{{ error.message }}}}"
"""


def run(tmp_path: Path, text: str, payload: Any) -> Execution:
    return run_text(tmp_path, text, payload, "hooks.yaml")


def test_on_success_runs_after_completion_and_sees_the_result(tmp_path: Path) -> None:
    execution = run(tmp_path, FLOW.format(timeout=""), {"x": 5})
    assert execution.status == "completed"
    assert execution.result == {"ratio": 2.0}  # hooks are not part of the result
    assert execution.node("celebrate").output == {"said": "done with completed", "ratio": 2.0}
    assert execution.node("alert").status == "skipped"


def test_on_failure_runs_after_a_failure_and_sees_the_error(tmp_path: Path) -> None:
    execution = run(tmp_path, FLOW.format(timeout=""), {"x": 0})
    assert execution.status == "failed"
    assert execution.error is not None and execution.error["node"] == "check"
    alert = execution.node("alert").output
    assert alert["status"] == "failed" and alert["node"] == "check"
    assert "division by zero" in alert["why"]
    assert execution.node("celebrate").status == "skipped"


def test_a_hook_cannot_take_after_or_be_depended_on() -> None:
    text = """name: bad
on_success: [tail, ghost]
on_failure: head
nodes:
  head: {transform: {}}
  tail: {after: head, transform: {}}
"""
    with pytest.raises(DefinitionError) as caught:
        validate(parse_text(text, "bad.yaml"))
    messages = [p.message for p in caught.value.problems]
    assert (
        "node 'tail' runs on_success, after the execution settles: it takes no `after`" in messages
    )
    assert "on_success names unknown node 'ghost'" in messages
    assert "node 'head' runs on_failure, so no node can run `after` it" in messages


def test_a_hook_may_be_a_sub_workflow(tmp_path: Path) -> None:
    (tmp_path / "report.yaml").write_text(
        "name: report\nnodes:\n  write: {transform: {line: '{{ outcome }}: {{ reason }}'}}\n"
    )
    parent = tmp_path / "guarded.yaml"
    parent.write_text("""
name: guarded
on_failure: report
nodes:
  risky: {transform: {ratio: "{{ 1 / x }}"}}
  report:
    workflow:
      path: report.yaml
      inputs: {outcome: "{{ status }}", reason: "{{ error.message }}"}
""")

    async def main() -> tuple[Execution, list[Execution]]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            execution = await engine.run(parent, {"x": 0})
            children = [r for r in await engine.list() if r.parent_id == execution.id]
            return execution, [await engine.get(c.id) for c in children]

    execution, children = asyncio.run(main())
    assert execution.status == "failed"  # the hook does not change the outcome
    [child] = children
    assert child.workflow == "report" and child.status == "completed"
    assert execution.node("report").output == child.result
    assert str(child.result["line"]).startswith("failed: ")
    assert "division by zero" in child.result["line"]


SETTLED = """
name: settled
{timeout}
on_failure: [gate, report]
nodes:
  work: {{transform: {{x: "{{{{ x }}}}"}}}}
  check: {{after: work, transform: {{ratio: "{{{{ 10 / x }}}}"}}}}
  slow: {{wait: {{signal: never}}}}
  gate: {{wait: {{signal: go}}}}
  report: {{transform: {{status: "{{{{ status }}}}", why: "{{{{ error.message }}}}"}}}}
"""


@pytest.mark.parametrize(
    ("timeout", "payload", "status", "why"),
    [
        ("timeout: 1s", {"x": 1}, "timed_out", "exceeded its timeout of 1.0s"),
        ("", {"x": 0}, "failed", "division by zero"),
    ],
)
def test_a_restart_while_hooks_run_keeps_the_verdict_they_run_for(
    tmp_path: Path, store_url: str, timeout: str, payload: Any, status: str, why: str
) -> None:
    """The engine stops while a hook waits; the one that resumes finishes with the verdict
    the hooks started for. Before, it was worked out again from node states the settling
    had changed: a timed-out execution ended `failed` with no error."""
    flow = tmp_path / "settled.yaml"
    flow.write_text(SETTLED.format(timeout=timeout))

    async def until_hooks_run() -> str:
        async with await Engine.open(store_url) as engine:
            execution_id = await engine.start(str(flow), payload)
            while (await engine.get(execution_id)).node("gate").status != "running":
                await asyncio.sleep(0.02)
            return execution_id

    async def resume(execution_id: str) -> Execution:
        async with await Engine.open(store_url) as engine:
            await engine.resume([execution_id], wait=False)
            while (await engine.get(execution_id)).node("gate").status != "running":
                await asyncio.sleep(0.02)
            await engine.signal(execution_id, "go")
            return await engine.wait(execution_id)

    execution_id = asyncio.run(until_hooks_run())
    done = asyncio.run(resume(execution_id))
    assert done.status == status
    assert done.error is not None and why in done.error["message"]
    report = done.node("report").output
    assert report["status"] == status and why in report["why"]
    assert [a.status for a in done.node("gate").attempts] == ["interrupted", "succeeded"]
