"""fuchsia_sdk: write Fuchsia components as plain Python functions.

`fuchsia component build` puts this module on the component's Python path, so `app.py` can
say::

    from fuchsia_sdk import Permanent, log, task

    @task("greet")
    def greet(input: dict, ctx) -> dict:
        if not input.get("name"):
            raise Permanent("`name` is required")
        log("info", "greeting", who=input["name"])
        return {"greeting": f"Hello, {input['name']}!"}

A task function takes the node's input (the parsed JSON document) and, optionally, the context
(`ctx.execution_id`, `ctx.workflow`, `ctx.node_id`, `ctx.task`, `ctx.attempt`), and returns
anything `json.dumps` accepts. How a call ends:

- a return value becomes the node's output; artifacts stored during the call are attached;
- `raise Permanent("why")` fails the node for good (never retried);
- `raise Retryable("why")` fails the attempt; the node's retry policy decides what follows;
- running out of memory fails the node permanently ("memory limit exceeded: MemoryError");
- any other exception is retryable, reported as "<Type>: <message>" plus a traceback.

A trigger function (`@trigger("name")`, trigger world) takes the event (`event.kind` is
"poll" or "webhook"; a webhook carries `event.request`) and returns a JSON payload to start an
execution, or None for "nothing yet".

The sandbox grants nothing beyond the `fuchsia:platform` imports wrapped here: no files, no
sockets, no environment, no clock and no entropy (the random seed is fixed when the component
is built). `print()` and warnings are routed to the node's log instead of a terminal.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config as _config
from wit_world.imports import http as _http
from wit_world.imports import kv as _kv
from wit_world.imports import log as _log
from wit_world.imports import types as _types

try:  # only the task world imports `artifacts`
    from wit_world.imports import artifacts as _artifacts
except ImportError:  # pragma: no cover - depends on the world the component is built for
    _artifacts = None

__all__ = [
    "ArtifactError",
    "Event",
    "HttpDenied",
    "HttpError",
    "HttpFailed",
    "Permanent",
    "Response",
    "Retryable",
    "WebhookRequest",
    "config_all",
    "config_get",
    "get_artifact",
    "http_fetch",
    "kv_delete",
    "kv_get",
    "kv_set",
    "log",
    "put_artifact",
    "task",
    "trigger",
]


# --- errors a task raises on purpose -------------------------------------------------------


class Permanent(Exception):
    """Fail the node for good: running it again cannot help (bad input, missing data)."""


class Retryable(Exception):
    """Fail this attempt; the node's retry policy may run it again (a flaky service)."""


class HttpError(Exception):
    """An outbound request did not produce a response. `kind` says why."""

    kind = "failed"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind


class HttpDenied(HttpError, Permanent):
    """The URL is not in the manifest's `capabilities.allowed_hosts`; the message names the
    pattern to add. Left uncaught it fails the node permanently."""

    kind = "denied"


class HttpFailed(HttpError, Retryable):
    """The request timed out (`kind == "timeout"`), its response was too large
    (`"too-large"`) or it failed in transport (`"failed"`). Left uncaught it is retryable."""


class ArtifactError(Exception):
    """The host could not store or find an artifact."""


class ManifestMismatch(Exception):
    """Raised at build time when component.yaml and the registered functions disagree."""


# Preallocated so that reporting an out-of-memory condition needs no memory.
_MEMORY_MESSAGE = "memory limit exceeded: MemoryError"
_MEMORY_ERROR = Err(_types.TaskError_Permanent(_MEMORY_MESSAGE))
_TRIGGER_MEMORY_ERROR = Err(_MEMORY_MESSAGE)


# --- registration ---------------------------------------------------------------------------

TaskFunction = Callable[..., Any]
_tasks: dict[str, TaskFunction] = {}
_triggers: dict[str, TaskFunction] = {}


def _register(table: dict[str, TaskFunction], what: str, name: str) -> Callable[[Any], Any]:
    if not isinstance(name, str) or not name:
        raise TypeError(f"@{what}() needs the {what}'s name, e.g. @{what}('greet')")

    def decorate(function: TaskFunction) -> TaskFunction:
        if name in table:
            raise ValueError(f"{what} {name!r} is defined twice")
        code = getattr(function, "__code__", None)
        count = code.co_argcount if code is not None else 2
        if count not in (1, 2):
            raise TypeError(
                f"{what} {name!r}: {function.__name__}() must take (input) or (input, ctx), "
                f"not {count} positional parameters"
            )
        table[name] = function if count == 2 else (lambda value, _ctx: function(value))
        return function

    return decorate


def task(name: str) -> Callable[[TaskFunction], TaskFunction]:
    """Register `function(input, ctx) -> JSON value` as the task `name`."""
    return _register(_tasks, "task", name)


def trigger(name: str) -> Callable[[TaskFunction], TaskFunction]:
    """Register `function(event, ctx) -> JSON value | None` as the trigger `name`."""
    return _register(_triggers, "trigger", name)


def _check_declared(tasks: Iterable[str], triggers: Iterable[str]) -> None:
    """Called at build time: the manifest and the code must name the same tasks and triggers."""
    problems = []
    for what, table, declared in (
        ("task", _tasks, set(tasks)),
        ("trigger", _triggers, set(triggers)),
    ):
        missing = sorted(declared - table.keys())
        extra = sorted(table.keys() - declared)
        if missing:
            names = ", ".join(missing)
            problems.append(
                f"component.yaml declares {what} {names} but app.py has no @{what}() for it"
            )
        if extra:
            names = ", ".join(extra)
            problems.append(
                f"app.py defines {what} {names} that component.yaml does not declare under "
                f"`{what}s:`"
            )
    if problems:
        raise ManifestMismatch("; ".join(problems))


# --- host imports ---------------------------------------------------------------------------
#
# What a host import cannot take (a number for a string, text with a lone surrogate, which
# UTF-8 cannot encode, a negative timeout) is refused here with a TypeError or a ValueError
# naming the argument: handed to the bindings, it would trap the whole instance, and the node
# would fail with nothing but "wasm `unreachable` instruction executed".


def _text(value: Any, what: str) -> str:
    """`value`, checked to be a string the host can take (`what` names it in the error)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} holds a lone surrogate {value[exc.start]!r} (at index {exc.start}), "
            "which is not Unicode text"
        ) from None
    return value


def _shown(text: str) -> str:
    """`text` for a log line or an error message: a lone surrogate shown as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def kv_get(key: str, default: str | None = None) -> str | None:
    """The value stored under `key` (this execution's for tasks, this trigger's for triggers)."""
    value: str | None = _kv.get(_text(key, "a kv key"))
    return default if value is None else value


def kv_set(key: str, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"kv values are strings, not {type(value).__name__} (use json.dumps)")
    _kv.set(_text(key, "a kv key"), _text(value, "a kv value"))


def kv_delete(key: str) -> None:
    _kv.delete(_text(key, "a kv key"))


def config_get(key: str, default: str | None = None) -> str | None:
    """One configuration value (non-string values arrive as JSON text)."""
    value: str | None = _config.get(_text(key, "a config key"))
    return default if value is None else value


def config_all() -> dict[str, Any]:
    """Every configuration value, as a dict."""
    text: str = _config.all()
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


_LEVELS = {
    "trace": "TRACE",
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARN",
    "warning": "WARN",
    "error": "ERROR",
}


def log(level: str, message: str, **fields: Any) -> None:
    """A structured line in the node's log: `log("info", "fetched", url=url, status=200)`."""
    name = _LEVELS.get(str(level).lower())
    if name is None:
        raise ValueError(f"log level must be one of trace, debug, info, warn, error: {level!r}")
    text = json.dumps(fields, default=str) if fields else ""  # ASCII: surrogates escaped
    _log.log(getattr(_log.Level, name), _shown(str(message)), text)


class _Message:
    """Headers (a list of pairs) and a body (bytes), with helpers to read them."""

    __slots__ = ("body", "headers")

    def __init__(self, headers: list[tuple[str, str]], body: bytes) -> None:
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called `name` (case-insensitive)."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), default)


class Response(_Message):
    """An HTTP response: `status`, `headers`, `body`, `ok`, `text` and `json()`."""

    __slots__ = ("status",)

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__(headers, body)
        self.status = status

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"<Response {self.status}, {len(self.body)} bytes>"


class WebhookRequest(_Message):
    """The request a webhook trigger received: `method`, `url`, `headers`, `body`, `text`
    and `json()`."""

    __slots__ = ("method", "url")

    def __init__(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes):
        super().__init__(headers, body)
        self.method = method
        self.url = url

    def __repr__(self) -> str:
        return f"<WebhookRequest {self.method} {self.url}, {len(self.body)} bytes>"


_HTTP_KINDS = {
    "HttpError_Denied": "denied",
    "HttpError_Timeout": "timeout",
    "HttpError_TooLarge": "too-large",
    "HttpError_Failed": "failed",
}


def http_fetch(
    method: str,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    timeout_ms: int | None = None,
) -> Response:
    """Make a request through the host. Only URLs allowed by the manifest's
    `capabilities.allowed_hosts` are fetched; otherwise `HttpDenied` is raised. A dict or list
    body is sent as JSON. Raises `HttpFailed` on timeouts, oversize responses and transport
    errors; an HTTP error status is a normal `Response`."""
    pairs = [
        (_text(str(k), "a header name"), _text(str(v), f"header {str(k)!r}"))
        for k, v in (headers.items() if isinstance(headers, Mapping) else headers or [])
    ]
    data: bytes | None
    if isinstance(body, dict | list):
        data = json.dumps(body).encode()
        if not any(k.lower() == "content-type" for k, _ in pairs):
            pairs.append(("content-type", "application/json"))
    elif isinstance(body, str):
        data = _text(body, "the request body").encode()
    elif body is None or isinstance(body, bytes | bytearray | memoryview):
        data = None if body is None else bytes(body)
    else:
        raise TypeError(f"a request body is bytes, str, dict or list, not {type(body).__name__}")
    if timeout_ms is not None and (
        not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or timeout_ms < 0
    ):
        raise ValueError(f"timeout_ms is a number of milliseconds (0 or more), not {timeout_ms!r}")
    request = _types.HttpRequest(
        method=_text(method, "the method").upper(),
        url=_text(url, "the url"),
        headers=pairs,
        body=data,
        timeout_ms=min(timeout_ms, 2**32 - 1) if timeout_ms is not None else None,
    )
    try:
        response = _http.fetch(request)
    except Err as exc:
        kind = _HTTP_KINDS.get(type(exc.value).__name__, "failed")
        message = str(exc.value.value)
        if kind == "denied":
            raise HttpDenied(message) from None
        raise HttpFailed(message, kind=kind) from None
    return Response(response.status, list(response.headers), bytes(response.body))


_call_artifacts: list[Any] = []


def put_artifact(name: str, content_type: str, data: bytes | str) -> dict[str, Any]:
    """Store a blob for this execution; it is attached to the node's output. Returns its
    reference: id, name, content_type, size and hash."""
    if _artifacts is None:
        raise ArtifactError("artifacts are only available to tasks")
    if isinstance(data, str):
        blob = _text(data, "an artifact's text").encode()
    elif isinstance(data, bytes | bytearray | memoryview):
        blob = bytes(data)
    else:  # bytes(5) would be five zero bytes
        raise TypeError(f"an artifact's data is bytes or str, not {type(data).__name__}")
    try:
        ref = _artifacts.put(
            _text(name, "an artifact name"), _text(content_type, "a content type"), blob
        )
    except Err as exc:
        raise ArtifactError(str(exc.value)) from None
    _call_artifacts.append(ref)
    return {
        "id": ref.id,
        "name": ref.name,
        "content_type": ref.content_type,
        "size": ref.size,
        "hash": ref.hash,
    }


def get_artifact(artifact_id: str) -> bytes:
    """The content of an artifact stored in this execution."""
    if _artifacts is None:
        raise ArtifactError("artifacts are only available to tasks")
    try:
        return bytes(_artifacts.get(_text(artifact_id, "an artifact id")))
    except Err as exc:
        raise ArtifactError(str(exc.value)) from None


# --- running a call -------------------------------------------------------------------------


class _LogStream:
    """Stands in for stdout/stderr during a call: each line becomes a log line."""

    def __init__(self, level: str) -> None:
        self.level = level
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            log(self.level, line)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            line, self.pending = self.pending, ""
            log(self.level, line)

    def isatty(self) -> bool:
        return False


def _showwarning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    log("warn", f"{category.__name__}: {message}", file=filename, line=lineno)


def _source_name(filename: str) -> str:
    """`/0/app.py` (where the build mounted the component's directory) as `app.py`."""
    head, _, rest = filename[1:].partition("/")
    return rest if filename.startswith("/") and head.isdigit() and rest else filename


def _traceback(tb: TracebackType | None) -> str:
    """The traceback without source lines (reading them would need the file system) and
    without this module's own frames."""
    lines = ["Traceback (most recent call last):"]
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename != __file__:
            where = _source_name(code.co_filename)
            lines.append(f'  File "{where}", line {tb.tb_lineno}, in {code.co_name}')
        tb = tb.tb_next
    return "\n".join(lines)


def _describe(exc: BaseException) -> str:
    return _shown(f"{type(exc).__name__}: {_message(exc)}\n{_traceback(exc.__traceback__)}")


def _message(exc: BaseException) -> str:
    """`str(exc)`, also for an exception whose `__str__` raises or returns no string."""
    try:
        text = str(exc)
    except Exception:
        return f"<the {type(exc).__name__}'s str() failed>"
    return _shown(text)


class _Call:
    """Redirect output to the log and collect artifacts for the length of one call."""

    def __enter__(self) -> None:
        del _call_artifacts[:]
        self.saved = (sys.stdout, sys.stderr, warnings.showwarning)
        sys.stdout, sys.stderr = _LogStream("info"), _LogStream("warn")
        warnings.showwarning = _showwarning

    def __exit__(self, *_exc: object) -> None:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            sys.stdout, sys.stderr, warnings.showwarning = self.saved


def _run(table: dict[str, TaskFunction], what: str, name: str, argument: Any, ctx: Any) -> Any:
    function = table.get(name)
    if function is None:
        known = ", ".join(sorted(table)) or "none"
        raise Permanent(f"this component has no {what} named {name!r} (it has: {known})")
    return function(argument, ctx)


def _execute(ctx: Any, input: str) -> Any:
    out_of_memory = False
    try:
        with _Call():
            try:
                value = json.loads(input)
            except ValueError as exc:
                raise Permanent(f"the input is not JSON: {exc}") from None
            result = _run(_tasks, "task", ctx.task, value, ctx)
            try:
                data = json.dumps(result, allow_nan=False)  # NaN is not JSON
            except (TypeError, ValueError, RecursionError) as exc:
                raise Permanent(
                    f"task {ctx.task!r} returned a value that is not JSON: {exc}"
                ) from None
            return _types.Output(data=data, artifacts=list(_call_artifacts))
    except MemoryError:
        out_of_memory = True  # leave the handler first, so the failed frames are freed
    except Permanent as exc:
        raise Err(_types.TaskError_Permanent(_message(exc))) from None
    except Retryable as exc:
        raise Err(_types.TaskError_Retryable(_message(exc))) from None
    except BaseException as exc:  # even SystemExit: an escaping exception would trap
        raise Err(_types.TaskError_Retryable(_describe(exc))) from None
    finally:
        del _call_artifacts[:]
    if out_of_memory:
        raise _MEMORY_ERROR.with_traceback(None)
    return None  # pragma: no cover - every path above returns or raises


class Event:
    """A trigger event: `kind` is "poll" or "webhook"; a webhook's `request` is a
    `WebhookRequest` (None for a poll)."""

    __slots__ = ("kind", "request")

    def __init__(self, raw: Any) -> None:
        request = getattr(raw, "value", None)
        self.kind = "poll" if request is None else "webhook"
        self.request: WebhookRequest | None = None
        if request is not None:
            headers = list(request.headers)
            body = bytes(request.body or b"")
            self.request = WebhookRequest(request.method, request.url, headers, body)

    def __repr__(self) -> str:
        return f"<Event {self.kind}>"


def _handle(ctx: Any, event: Any) -> Any:
    try:
        with _Call():
            result = _run(_triggers, "trigger", ctx.task, Event(event), ctx)
            if result is None:
                return _types.TriggerResult_Pending()
            return _types.TriggerResult_Ready(json.dumps(result))
    except MemoryError:
        pass  # leave the handler first, so the failed frames are freed
    except (Permanent, Retryable) as exc:
        raise Err(_message(exc)) from None
    except BaseException as exc:
        raise Err(_describe(exc)) from None
    raise _TRIGGER_MEMORY_ERROR.with_traceback(None)


# The exports componentize-py looks for. The build's entry module imports the one its world
# needs; the other stays a plain class.
if hasattr(exports, "Task"):

    class Task(exports.Task):  # type: ignore[misc]
        def execute(self, ctx: Any, input: str) -> Any:
            return _execute(ctx, input)


if hasattr(exports, "Trigger"):

    class Trigger(exports.Trigger):  # type: ignore[misc]
        def handle(self, ctx: Any, event: Any) -> Any:
            return _handle(ctx, event)
