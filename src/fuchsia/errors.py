"""One exception tree for everything Fuchsia raises on purpose.

```
FuchsiaError
├── DefinitionError          a workflow file is unusable (carries every Problem found)
├── PayloadError             a trigger payload is not acceptable JSON
├── ExecutionNotFound        no execution has that id
├── WorkflowNotFound         no deployed workflow has that name (and version)
├── NodeError                a node attempt failed (carries execution_id, node_id)
│   ├── InputError           a template did not render or its result is unusable
│   ├── HttpError            an http node's request failed or got an unexpected status
│   ├── NodeTimeout          a node exceeded its timeout
│   ├── Cancelled            the attempt was stopped because its execution was cancelled
│   ├── Interrupted          the process running the attempt died
│   ├── LoopExhausted        a `repeat` ran max_iterations times without its condition
│   └── ComponentError       a WebAssembly component could not run the task
│       ├── ComponentLoadError   not a component, wrong world, digest mismatch, missing export
│       ├── CapabilityError      the component imports something it was not granted
│       ├── ComponentTrap        the wasm trapped (carries the trap message)
│       ├── MemoryLimitExceeded  the component hit its memory limit
│       ├── OutputError          the output is not JSON, or larger than the cap
│       └── TaskFailed           the task returned an error (retryable or permanent)
├── RegistryError            a component cannot be installed, found or removed
└── StoreError               the store could not be opened or written
```

Every `NodeError` says whether it is worth retrying: template and input errors never are,
because running them again renders the same thing; transport failures and 5xx/429 are.
"""

from __future__ import annotations

from dataclasses import dataclass


class FuchsiaError(Exception):
    """Root of every error Fuchsia raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a workflow file, placed at a line and column (1-based)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class DefinitionError(FuchsiaError):
    """A workflow file cannot be used; `problems` lists everything found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PayloadError(FuchsiaError):
    """A trigger payload is not valid JSON, is too large, or is nested too deeply."""


class ExecutionNotFound(FuchsiaError):
    """No execution with the given id exists in the store."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(f"no execution with id {execution_id!r}")


class ArtifactNotFound(FuchsiaError):
    """No artifact with the given id exists (in the given execution)."""

    def __init__(self, artifact_id: str) -> None:
        self.artifact_id = artifact_id
        super().__init__(f"no artifact with id {artifact_id!r}")


class WorkflowNotFound(FuchsiaError):
    """No deployed workflow matches the given `name` or `name@version`."""


class StoreError(FuchsiaError):
    """The store could not be opened, migrated or written."""


class NodeError(FuchsiaError):
    """A node attempt failed. `retryable` tells the runtime whether another attempt may help."""

    kind = "node_error"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        execution_id: str = "",
        node_id: str = "",
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.execution_id = execution_id
        self.node_id = node_id
        if retryable is not None:
            self.retryable = retryable

    def to_record(self) -> dict[str, object]:
        """The JSON form stored with an attempt and shown to users."""
        return {"type": self.kind, "message": self.message, "retryable": self.retryable}


class InputError(NodeError):
    """A template failed to render, or rendered something the node cannot use."""

    kind = "input_error"
    retryable = False


class HttpError(NodeError):
    """An http node's request failed in transport or returned an unexpected status."""

    kind = "http_error"

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status

    def to_record(self) -> dict[str, object]:
        record = super().to_record()
        if self.status is not None:
            record["status"] = self.status
        return record


class NodeTimeout(NodeError):
    """A node attempt ran past its timeout."""

    kind = "timeout"


class Interrupted(NodeError):
    """The process running an attempt died before it committed; the attempt is run again."""

    kind = "interrupted"


class LoopExhausted(NodeError):
    """A `repeat` node ran `max_iterations` times and its `until` never held."""

    kind = "loop_exhausted"
    retryable = False


class Cancelled(NodeError):
    """The attempt was stopped because its execution was cancelled."""

    kind = "cancelled"
    retryable = False


class ComponentError(NodeError):
    """A WebAssembly component could not run the task."""

    kind = "component_error"
    retryable = False


class ComponentLoadError(ComponentError):
    """The component cannot be loaded: bad bytes, a core module, a wrong world, a digest
    mismatch or a missing export. Loading again cannot help."""

    kind = "component_load_error"


class CapabilityError(ComponentError):
    """The component imports an interface it was not granted; refused before it runs."""

    kind = "capability_denied"


class ComponentTrap(ComponentError):
    """The wasm trapped in the middle of the call."""

    kind = "trap"


class MemoryLimitExceeded(ComponentError):
    """The component tried to grow its memory past its limit."""

    kind = "memory_limit"


class OutputError(ComponentError):
    """The component's output is not a JSON document, or is larger than the cap."""

    kind = "output_error"


class TaskFailed(ComponentError):
    """The task returned an error; `retryable` follows the variant the component chose."""

    kind = "task_error"


class RegistryError(FuchsiaError):
    """A component cannot be installed, found, verified or removed."""
