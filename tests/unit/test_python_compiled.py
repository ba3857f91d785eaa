"""A python step's code is compiled once per process by the runtime's `compile` task, and its
attempts load that code object; a runtime built before the task compiles in `run` instead."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from fuchsia.components.host import Call
from fuchsia.components.python import COMPILE_TASK, TASK, CompiledSteps
from fuchsia.nodes.kind import Grants, PythonSpec
from fuchsia.nodes.python import _compiled

SPEC = PythonSpec(
    component="fuchsia/python-runtime@1.0.0-fp0",
    digest="sha256:runtime",
    code="def main():\n    return 1\n",
    function="main",
    file="w.yaml",
    line=4,
    inputs={},
    config={},
    grants=Grants(allowed_hosts=(), allowed_paths=(), memory_limit=None, sockets=True),
)


@dataclass
class FakeRuntime:
    """Stands in for `ComponentRuntime`: its runtime declares `tasks`; calls are recorded."""

    tasks: tuple[str, ...]
    compiled_steps: CompiledSteps = field(default_factory=CompiledSteps)
    calls: list[Call] = field(default_factory=list)

    def installed(self, ref: str) -> Any:
        return SimpleNamespace(manifest=SimpleNamespace(tasks=dict.fromkeys(self.tasks)))

    def execute(self, spec: PythonSpec, call: Call, services: Any) -> Any:
        self.calls.append(call)
        return SimpleNamespace(data={"compiled": f"code of {json.loads(call.input)['code']!r}"})


def attempt() -> Call:
    return Call("e", "w", "step", TASK, 1, "{}", timeout=5.0)


def test_code_run_again_is_compiled_once_by_the_compile_task_seeing_only_the_source() -> None:
    runtime = FakeRuntime(tasks=(TASK, COMPILE_TASK))
    assert _compiled(runtime, SPEC, attempt(), None) is None  # type: ignore[arg-type]
    assert runtime.calls == []  # run once, `run` compiles it
    second = _compiled(runtime, SPEC, attempt(), None)  # type: ignore[arg-type]
    third = _compiled(runtime, SPEC, attempt(), None)  # type: ignore[arg-type]
    assert second == third == f"code of {SPEC.code!r}"
    [compile_call] = runtime.calls
    assert compile_call.task == COMPILE_TASK
    assert compile_call.timeout == 5.0  # under the attempt's timeout and cancellation
    assert json.loads(compile_call.input) == {"code": SPEC.code, "file": "w.yaml", "line": 4}


def test_a_runtime_without_the_compile_task_compiles_in_run() -> None:
    runtime = FakeRuntime(tasks=(TASK,))
    for _ in range(3):
        assert _compiled(runtime, SPEC, attempt(), None) is None  # type: ignore[arg-type]
    assert runtime.calls == []


def test_compiled_code_is_kept_by_runtime_digest_code_file_and_line() -> None:
    steps = CompiledSteps(size=2)
    keys = {
        CompiledSteps.key("sha256:a", "x = 1", "w.yaml", 3),
        CompiledSteps.key("sha256:b", "x = 1", "w.yaml", 3),
        CompiledSteps.key("sha256:a", "x = 2", "w.yaml", 3),
        CompiledSteps.key("sha256:a", "x = 1", "v.yaml", 3),
        CompiledSteps.key("sha256:a", "x = 1", "w.yaml", 4),
    }
    assert len(keys) == 5
    steps.put("a", "A")
    steps.put("b", "B")
    assert steps.get("a") == "A"  # now the most recently used
    steps.put("c", "C")
    assert (steps.get("a"), steps.get("b"), steps.get("c")) == ("A", None, "C")


def test_one_thread_compiles_a_code_the_second_time_it_is_seen_and_again_if_it_failed() -> None:
    steps = CompiledSteps()
    assert [steps.should_compile("k") for _ in range(3)] == [False, True, False]
    steps.abandon("k")  # the task failed: the next attempt asks it again
    assert [steps.should_compile("k") for _ in range(2)] == [True, False]
    steps.put("k", "K")
    assert not steps.should_compile("k") and steps.get("k") == "K"
