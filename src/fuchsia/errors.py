"""One exception tree for everything Fuchsia raises on purpose.

```
FuchsiaError                 code
├── DefinitionError          definition_error      a workflow file is unusable (`problems`)
├── PayloadError             payload_error         a payload or body is not acceptable JSON
│   └── PayloadTooLarge      payload_too_large     ... because it is over a size limit (`limit`)
├── ExecutionNotFound        execution_not_found   no execution has that id (`execution_id`)
├── ArtifactNotFound         artifact_not_found    no artifact has that id (`artifact_id`)
├── WorkflowNotFound         workflow_not_found    no deployed workflow has that name (`ref`)
├── WorkflowDisabled         workflow_disabled     the deployed version is disabled (`ref`)
├── InvalidState             invalid_state         the execution's state refuses the request
├── IdempotencyConflict      idempotency_conflict  a key reused for a different request
├── RequestError             invalid_request       a request or call argument is malformed (`param`)
│   ├── InvalidParameters    invalid_parameters    fields of the wrong shape (`errors`)
│   ├── UnsupportedMediaType unsupported_media_type  a body that is not JSON (`content_type`)
│   ├── RouteNotFound        route_not_found       no such route (`path`)
│   └── MethodNotAllowed     method_not_allowed    the route does not take that method
├── Unauthenticated          unauthenticated       no valid bearer token, or a bad signature
├── Forbidden                forbidden             the token lacks the scope (`scope`)
├── ServerError              server_error          the server failed, or answered unusably
├── NodeError                node_error            a node attempt failed (execution_id, node_id)
│   ├── InputError           input_error           a template did not render or is unusable
│   ├── HttpError            http_error            an http node's request failed (`status`)
│   ├── NodeTimeout          timeout               a node exceeded its timeout
│   ├── Cancelled            cancelled             stopped: its execution was cancelled
│   ├── Interrupted          interrupted           the process running the attempt died
│   ├── LoopExhausted        loop_exhausted        a `repeat` ran max_iterations times
│   └── ComponentError       component_error       a WebAssembly component could not run
│       ├── ComponentLoadError   component_load_error  bad bytes, world, digest or export
│       ├── CapabilityError      capability_denied     imports something not granted
│       ├── ComponentTrap        trap                  the wasm trapped (the trap message)
│       ├── MemoryLimitExceeded  memory_limit          hit its memory limit
│       ├── OutputError          output_error          output not JSON, or over the cap
│       └── TaskFailed           task_error            the task returned an error
├── RegistryError            registry_error        a component cannot be installed or found
│   └── ComponentNotFound    component_not_found   no installed component matches (`ref`)
└── StoreError               store_error           the store could not be opened or written
    └── DeploymentConflict   deployment_conflict   that name and version hold another workflow
```

Every class has a stable `code` (snake_case): the HTTP API answers every refusal with
`{"error": {"code": ..., "message": ..., **fields}}` where the fields are the class's typed
attributes listed in `fields`, and `fuchsia.Client` turns that back into the same class
(`restore`), so callers branch on classes or codes, never on message text. A subclass defined
elsewhere that names no `code` gets its class name in snake_case.

Every `NodeError` says whether it is worth retrying: template and input errors never are,
because running them again renders the same thing; transport failures and 5xx/429 are.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, TypeVar

E = TypeVar("E", bound="FuchsiaError")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class FuchsiaError(Exception):
    """Root of every error Fuchsia raises on purpose.

    `code` names the class on the wire; `fields` are the attributes sent with it."""

    code: ClassVar[str] = "fuchsia_error"
    fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = _snake(cls.__name__)

    def details(self) -> dict[str, Any]:
        """The JSON form the API sends: code, message and the typed fields."""
        found = {name: _jsonable(getattr(self, name, None)) for name in self.fields}
        return {"code": self.code, "message": str(self), **found}

    @classmethod
    def restore(cls: type[E], message: str, fields: dict[str, Any]) -> E:
        """The error an API answer describes (the inverse of `details`), built without
        calling `__init__`, whose arguments differ from class to class."""
        error = cls.__new__(cls)
        Exception.__init__(error, message)
        for name in cls.fields:
            error.__dict__[name] = fields.get(name)
        return error


def _jsonable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Problem):
        return asdict(value)
    return value


def error_classes() -> dict[str, type[FuchsiaError]]:
    """Every FuchsiaError class imported so far, by code."""
    found: dict[str, type[FuchsiaError]] = {}
    pending: list[type[FuchsiaError]] = [FuchsiaError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


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

    code = "definition_error"
    fields: ClassVar[tuple[str, ...]] = ("problems",)

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def restore(cls: type[E], message: str, fields: dict[str, Any]) -> E:
        error = super().restore(message, fields)
        problems = fields.get("problems") or []
        error.__dict__["problems"] = [
            Problem(**p) if isinstance(p, dict) else Problem("<server>", 1, 1, str(p))
            for p in problems
        ]
        return error


class PayloadError(FuchsiaError):
    """A trigger payload or request body is not valid JSON, or is nested too deeply."""

    code = "payload_error"


class PayloadTooLarge(PayloadError):
    """A payload, body or workflow source is larger than its limit (`limit`, in bytes)."""

    code = "payload_too_large"
    fields: ClassVar[tuple[str, ...]] = ("limit",)

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class ExecutionNotFound(FuchsiaError):
    """No execution with the given id exists in the store."""

    code = "execution_not_found"
    fields: ClassVar[tuple[str, ...]] = ("execution_id",)

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(f"no execution with id {execution_id!r}")


class ArtifactNotFound(FuchsiaError):
    """No artifact with the given id exists (in the given execution)."""

    code = "artifact_not_found"
    fields: ClassVar[tuple[str, ...]] = ("artifact_id",)

    def __init__(self, artifact_id: str) -> None:
        self.artifact_id = artifact_id
        super().__init__(f"no artifact with id {artifact_id!r}")


class WorkflowNotFound(FuchsiaError):
    """No deployed workflow matches the given `name` or `name@version` (`ref`)."""

    code = "workflow_not_found"
    fields: ClassVar[tuple[str, ...]] = ("ref",)

    def __init__(self, message: str, *, ref: str = "") -> None:
        super().__init__(message)
        self.ref = ref


class WorkflowDisabled(FuchsiaError):
    """The deployed version `ref` is disabled: it starts nothing until enabled."""

    code = "workflow_disabled"
    fields: ClassVar[tuple[str, ...]] = ("ref",)

    def __init__(self, ref: str) -> None:
        super().__init__(f"{ref} is disabled")
        self.ref = ref


class NodeNotFound(FuchsiaError):
    """The workflow has no node with the given id (`retry --from`, `node run`)."""

    code = "node_not_found"
    fields: ClassVar[tuple[str, ...]] = ("workflow", "node_id")

    def __init__(self, workflow: str, node_id: str, hint: str = "") -> None:
        super().__init__(f"{workflow} has no node {node_id!r}{hint}")
        self.workflow = workflow
        self.node_id = node_id


class InvalidState(FuchsiaError):
    """The execution's state refuses the request (pausing a finished one, say)."""

    code = "invalid_state"
    fields: ClassVar[tuple[str, ...]] = ("execution_id",)

    def __init__(self, message: str, *, execution_id: str = "") -> None:
        super().__init__(message)
        self.execution_id = execution_id


class IdempotencyConflict(FuchsiaError):
    """An idempotency key (or webhook delivery id) already names an execution started by a
    different request; the same request again would return that execution."""

    code = "idempotency_conflict"
    fields: ClassVar[tuple[str, ...]] = ("idempotency_key", "execution_id")

    def __init__(self, idempotency_key: str, execution_id: str | None) -> None:
        started = f" (execution {execution_id})" if execution_id else ""
        super().__init__(
            f"idempotency key {idempotency_key!r} was already used{started} for a different "
            "request (another workflow, payload or body); use a new key"
        )
        self.idempotency_key = idempotency_key
        self.execution_id = execution_id


class RequestError(FuchsiaError):
    """An HTTP request, or an argument of an `Engine` call, is malformed; `param` names the
    part at fault (a query parameter, a header, `body`, the argument), when there is one."""

    code = "invalid_request"
    fields: ClassVar[tuple[str, ...]] = ("param",)

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class InvalidParameters(RequestError):
    """Parameters or body fields of the wrong type or out of bounds: `errors` lists each as
    `{"param": "query.after", "message": ...}`."""

    code = "invalid_parameters"
    fields: ClassVar[tuple[str, ...]] = ("param", "errors")

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(
            "; ".join(f"{e['param']}: {e['message']}" for e in errors),
            param=errors[0]["param"] if errors else None,
        )
        self.errors = errors


class UnsupportedMediaType(RequestError):
    """The body is sent as something other than JSON (`content_type`)."""

    code = "unsupported_media_type"
    fields: ClassVar[tuple[str, ...]] = ("param", "content_type")

    def __init__(self, content_type: str) -> None:
        super().__init__(
            f"the body must be JSON (Content-Type: application/json), not {content_type!r}",
            param="Content-Type",
        )
        self.content_type = content_type


class RouteNotFound(RequestError):
    """No route answers at `path`."""

    code = "route_not_found"
    fields: ClassVar[tuple[str, ...]] = ("param", "path")

    def __init__(self, path: str) -> None:
        super().__init__(f"no route {path!r}; the API is under /api/v1 (see /docs)")
        self.path = path


class MethodNotAllowed(RequestError):
    """The route exists but does not take `method`."""

    code = "method_not_allowed"
    fields: ClassVar[tuple[str, ...]] = ("param", "method", "path")

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"{path} does not take {method}")
        self.method = method
        self.path = path


class Unauthenticated(FuchsiaError):
    """The request carries no valid bearer token (or, for a webhook, no valid signature)."""

    code = "unauthenticated"


class Forbidden(FuchsiaError):
    """The bearer token is valid but its scopes do not cover the route (`scope`)."""

    code = "forbidden"
    fields: ClassVar[tuple[str, ...]] = ("scope",)

    def __init__(self, scope: str) -> None:
        super().__init__(f"this token lacks the {scope!r} scope")
        self.scope = scope


class ServerError(FuchsiaError):
    """The server could not be reached, failed (5xx), or answered with something that is not
    the API's JSON (`url`, `status`: None when nothing was answered)."""

    code = "server_error"
    fields: ClassVar[tuple[str, ...]] = ("url", "status")

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


MAX_NODE_MESSAGE = 64 * 1024  # bytes of UTF-8: a long traceback fits; a guest's 100 MB does not


def clipped(message: str, limit: int = MAX_NODE_MESSAGE) -> str:
    """`message` cut to about `limit` bytes of UTF-8: its start (the error) and its end (the
    last frames of a traceback) are kept, and the cut says how much it left out."""
    encoded = message.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return message
    head, tail = encoded[: limit * 3 // 4], encoded[-(limit // 4) :]
    cut = len(encoded) - len(head) - len(tail)
    return (
        head.decode("utf-8", "ignore")
        + f"\n[... {cut} bytes of the message left out ...]\n"
        + tail.decode("utf-8", "ignore")
    )


class NodeError(FuchsiaError):
    """A node attempt failed. `retryable` tells the runtime whether another attempt may help.
    Its message is `clipped`: whatever produced it (a guest's exception, a server's answer),
    what is stored and shown of it is bounded."""

    code = "node_error"
    fields: ClassVar[tuple[str, ...]] = ("execution_id", "node_id", "retryable")
    kind: ClassVar[str] = "node_error"  # the `type` of the stored record: the code
    retryable = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "kind" in cls.__dict__ and "code" not in cls.__dict__:
            cls.code = cls.kind
        super().__init_subclass__(**kwargs)
        cls.kind = cls.code

    def __init__(
        self,
        message: str,
        *,
        execution_id: str = "",
        node_id: str = "",
        retryable: bool | None = None,
    ) -> None:
        message = clipped(message)
        super().__init__(message)
        self.message = message
        self.execution_id = execution_id
        self.node_id = node_id
        if retryable is not None:
            self.retryable = retryable

    def to_record(self) -> dict[str, object]:
        """The JSON form stored with an attempt and shown to users."""
        return {"type": self.code, "message": self.message, "retryable": self.retryable}

    @classmethod
    def restore(cls: type[E], message: str, fields: dict[str, Any]) -> E:
        error = super().restore(message, fields)
        error.__dict__["message"] = message
        return error


class InputError(NodeError):
    """A template failed to render, or rendered something the node cannot use."""

    code = "input_error"
    retryable = False


class HttpError(NodeError):
    """An http node's request failed in transport or returned an unexpected status."""

    code = "http_error"
    fields: ClassVar[tuple[str, ...]] = ("execution_id", "node_id", "retryable", "status")

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

    code = "timeout"


class Interrupted(NodeError):
    """The process running an attempt died before it committed; the attempt is run again."""

    code = "interrupted"


class LoopExhausted(NodeError):
    """A `repeat` node ran `max_iterations` times and its `until` never held."""

    code = "loop_exhausted"
    retryable = False


class Cancelled(NodeError):
    """The attempt was stopped because its execution was cancelled."""

    code = "cancelled"
    retryable = False


class ComponentError(NodeError):
    """A WebAssembly component could not run the task."""

    code = "component_error"
    retryable = False


class ComponentLoadError(ComponentError):
    """The component cannot be loaded: bad bytes, a core module, a wrong world, a digest
    mismatch or a missing export. Loading again cannot help."""

    code = "component_load_error"


class CapabilityError(ComponentError):
    """The component imports an interface it was not granted; refused before it runs."""

    code = "capability_denied"


class ComponentTrap(ComponentError):
    """The wasm trapped in the middle of the call."""

    code = "trap"


class MemoryLimitExceeded(ComponentError):
    """The component tried to grow its memory past its limit."""

    code = "memory_limit"


class OutputError(ComponentError):
    """The component's output is not a JSON document, or is larger than the cap."""

    code = "output_error"


class TaskFailed(ComponentError):
    """The task returned an error; `retryable` follows the variant the component chose."""

    code = "task_error"


class RegistryError(FuchsiaError):
    """A component cannot be installed, found, verified or removed."""

    code = "registry_error"


class ComponentNotFound(RegistryError):
    """No installed component matches `ref` (a name, or name@version)."""

    code = "component_not_found"
    fields: ClassVar[tuple[str, ...]] = ("ref",)

    def __init__(self, message: str, *, ref: str = "") -> None:
        super().__init__(message)
        self.ref = ref


class StoreError(FuchsiaError):
    """The store could not be opened, migrated or written."""

    code = "store_error"


class DeploymentConflict(StoreError):
    """`name` version `version` is deployed as another workflow; deployed versions never
    change."""

    code = "deployment_conflict"
    fields: ClassVar[tuple[str, ...]] = ("name", "version")

    def __init__(self, message: str, *, name: str = "", version: int = 0) -> None:
        super().__init__(message)
        self.name = name
        self.version = version
