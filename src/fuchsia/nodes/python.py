"""`python`: run a step's Python code in the Python runtime component, on a worker thread.

The step is one call of the runtime's `run` task, under the same host as any component: a
fresh instance per attempt, the node's `capabilities` as its grants (nothing by default),
its timeout and cancellation by epoch, its memory limit per store. The runtime execs the
code, calls the function with the rendered `inputs` as keyword arguments and returns its
result; an exception the code raises comes back as its type, message and traceback, with
line numbers in the workflow file (or the step file), and fails the attempt (retried per the
node's policy). A syntax error, a missing function or a result that is not JSON fails it for
good.
"""

from __future__ import annotations

import json
from typing import Any

from fuchsia.errors import ComponentLoadError, ComponentNotFound, TaskFailed
from fuchsia.nodes import NodeContext
from fuchsia.nodes.component import call_on_thread, with_artifacts
from fuchsia.nodes.kind import PythonSpec

TASK = "run"  # the runtime component's one task
_FAILED = "the task failed: "
# fuchsia.components.outbound's words for a component, and the node's
_DENIED = (
    "the component's allowed_hosts",
    "to capabilities.allowed_hosts in component.yaml",
    "to the node's capabilities.allowed_hosts",
)


async def run(spec: PythonSpec, rendered: dict[str, Any], ctx: NodeContext) -> Any:
    assert ctx.components is not None
    step = {
        "code": spec.code,
        "function": spec.function,
        "file": spec.file,
        "line": spec.line,
        "inputs": rendered["inputs"],
    }
    runtime = ctx.components()

    def execute(call: Any, services: Any) -> Any:
        try:
            return runtime.execute(spec, call, services)
        except ComponentNotFound:
            raise ComponentLoadError(
                f"the Python runtime {spec.component} this workflow was locked to is not "
                "installed: install it with `fuchsia component install --python-runtime` "
                "and lock the workflow again"
            ) from None

    try:
        result = await call_on_thread(
            ctx,
            runtime,
            execute,
            component=(spec.component, spec.digest),
            task=TASK,
            input=json.dumps(step),
            config=rendered["config"],
            allowed_hosts=list(spec.grants.allowed_hosts),
        )
    except TaskFailed as exc:
        raise TaskFailed(step_message(exc.message), retryable=exc.retryable) from None
    return with_artifacts(result)


def step_message(message: str) -> str:
    """The runtime's report as the step's failure: `the step raised Type: message` and the
    traceback, or what was wrong with the step (syntax, function, result). A refused request
    names the grant to add where a python node has it: its own `capabilities`."""
    text = message.removeprefix(_FAILED)
    text = text.replace(_DENIED[0], "the node's allowed_hosts").replace(_DENIED[1], _DENIED[2])
    if "\nTraceback (most recent call last):" in text:
        return f"the step raised {text}"
    return text
