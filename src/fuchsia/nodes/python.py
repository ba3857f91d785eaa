"""`python`: run a step's Python code in the Python runtime component, on a worker thread.

The step is one call of the runtime's `run` task (and of its `compile` task the second time
this process runs that code: see `fuchsia.components.python`), under the same host as any
component: a fresh instance per attempt, the node's `capabilities` as its grants (nothing by
default), its timeout and cancellation by epoch, its memory limit per store. The runtime
execs the code, calls the function with the rendered `inputs` as keyword arguments and
returns its result; an exception the code raises comes back as its type, message and
traceback, with line numbers in the workflow file (or the step file), and fails the attempt
(retried per the node's policy). A syntax error, a missing function or a result that is not
JSON fails it for good.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from typing import TYPE_CHECKING, Any

from fuchsia.components.python import COMPILE_TASK, CompiledSteps
from fuchsia.errors import ComponentLoadError, ComponentNotFound, TaskFailed
from fuchsia.nodes import NodeContext
from fuchsia.nodes.component import ComponentRuntime, call_on_thread, with_artifacts
from fuchsia.nodes.kind import PythonSpec

if TYPE_CHECKING:
    from fuchsia.components.host import Call, TaskOutput

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
    try:
        result = await call_on_thread(
            ctx,
            runtime,
            functools.partial(execute, runtime, spec),
            component=(spec.component, spec.digest),
            task=TASK,
            input=json.dumps(step),
            config=rendered["config"],
            allowed_hosts=list(spec.grants.allowed_hosts),
        )
    except TaskFailed as exc:
        raise TaskFailed(step_message(exc.message), retryable=exc.retryable) from None
    return with_artifacts(result)


def execute(runtime: ComponentRuntime, spec: PythonSpec, call: Call, services: Any) -> TaskOutput:
    """One attempt of the step on the calling (worker) thread: `call.input` is the step's
    JSON document, sent with the code compiled when the runtime has compiled it."""
    try:
        started = time.monotonic()
        compiled = _compiled(runtime, spec, call, services)
        if compiled is not None:  # the document is a JSON object: add one member
            text = f'{call.input[:-1]}, "compiled": {json.dumps(compiled)}}}'
            left = call.timeout
            if left is not None:  # compiling took part of the attempt's timeout
                left = max(left - (time.monotonic() - started), 0.001)
            call = dataclasses.replace(call, input=text, timeout=left)
        return runtime.execute(spec, call, services)  # type: ignore[no-any-return]
    except ComponentNotFound:
        raise ComponentLoadError(
            f"the Python runtime {spec.component} this workflow was locked to is not "
            "installed: install it with `fuchsia component install --python-runtime` "
            "and lock the workflow again"
        ) from None


def _compiled(runtime: ComponentRuntime, spec: PythonSpec, call: Call, services: Any) -> str | None:
    """The step's code compiled by the runtime: remembered per process, else compiled now by
    the runtime's `compile` task in an instance of its own (under the attempt's grants, timeout
    and cancellation; a syntax error fails the attempt as it would in `run`). None the first
    time this process runs the code, and for a runtime built before that task: `run` then
    compiles the code itself."""
    steps = runtime.compiled_steps
    key = CompiledSteps.key(spec.digest, spec.code, spec.file, spec.line)
    compiled = steps.get(key)
    if (
        compiled is None
        and COMPILE_TASK in runtime.installed(spec.component).manifest.tasks
        and steps.should_compile(key)
    ):
        source = json.dumps({"code": spec.code, "file": spec.file, "line": spec.line})
        compile_call = dataclasses.replace(call, task=COMPILE_TASK, input=source)
        try:
            compiled = runtime.execute(spec, compile_call, services).data["compiled"]
        except BaseException:
            steps.abandon(key)
            raise
        steps.put(key, compiled)
    return compiled


def step_message(message: str) -> str:
    """The runtime's report as the step's failure: `the step raised Type: message` and the
    traceback, or what was wrong with the step (syntax, function, result). A refused request
    names the grant to add where a python node has it: its own `capabilities`."""
    text = message.removeprefix(_FAILED)
    text = text.replace(_DENIED[0], "the node's allowed_hosts").replace(_DENIED[1], _DENIED[2])
    if "\nTraceback (most recent call last):" in text:
        return f"the step raised {text}"
    return text
