"""The `fuchsia:platform` imports the host grants a component, and the services behind them.

The linker is built once per host; its functions find the attempt they serve through a
thread-local, because a component call runs start to finish on one worker thread. Each
attempt brings its own `Services` (its kv scope, config, log sink, artifact store, allowed
hosts), so nothing leaks from one attempt or execution to another.

An import that waits (a store call, an outbound request, both run on the engine's event loop)
waits only while its attempt may run (`wait`): the attempt's timeout or cancellation stops
the wait within one tick, cancels what it waited for, and ends the attempt as timed out or
cancelled, as the epoch check does while wasm runs.

Every argument a guest passes is lifted under its cap (`limits`): a log line is cut, any
other value over its cap fails the attempt with an `OutputError` naming it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from wasmtime.component import Linker, Record, Variant

from fuchsia.components import abi, limits, outbound
from fuchsia.definition.models import HOLDS_NUL, NUL
from fuchsia.errors import Cancelled, NodeError, NodeTimeout, OutputError
from fuchsia.observe.telemetry import OFF, Telemetry

PLATFORM = "fuchsia:platform"
VERSION = "0.1.0"
INTERFACES = ("types", "kv", "config", "log", "http", "artifacts")
TICK = 0.01  # seconds between two looks at whether a waiting import's attempt was stopped
T = TypeVar("T")
Stop = Callable[[], str | None]  # why the attempt must stop ("timeout", "cancelled"), or None


@dataclass(frozen=True)
class ArtifactInfo:
    id: str
    name: str
    content_type: str
    size: int
    hash: str


@dataclass
class Services:
    """What one attempt's imports act on. Callables run on the worker thread."""

    kv_get: Callable[[str], str | None]
    kv_set: Callable[[str, str], None]
    kv_delete: Callable[[str], None]
    put_artifact: Callable[[str, str, bytes], ArtifactInfo]
    get_artifact: Callable[[str], bytes]
    config: Mapping[str, Any] = field(default_factory=dict)
    allowed_hosts: Sequence[str] = ()
    http: httpx.AsyncClient | None = None  # used on `loop`
    loop: asyncio.AbstractEventLoop | None = None  # where outbound requests run
    log_sink: limits.LogSink = field(default_factory=limits.LogSink)
    artifacts: list[ArtifactInfo] = field(default_factory=list)
    telemetry: Telemetry = OFF  # spans of the imports that take time (http, artifacts)

    @property
    def logs(self) -> list[dict[str, Any]]:
        """The attempt's log lines (bounded, see `limits.LogSink`)."""
        return self.log_sink.lines


_current = threading.local()


def bind(services: Services | None, stop: Stop | None = None) -> None:
    """Make `services` the target of this thread's import calls (None to unbind), for an
    attempt that `stop` says when to stop."""
    _current.services = services
    _current.stop = stop


def stopped(reason: str | None) -> NodeError | None:
    """The error that ends an attempt stopped for `reason` (None: not stopped)."""
    if reason == "timeout":
        return NodeTimeout("the component ran past the node's timeout and was stopped")
    if reason == "cancelled":
        return Cancelled("the component was stopped: its execution was cancelled")
    return None


def on_loop(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on the engine's event loop for an import; see `wait`."""
    return wait(asyncio.run_coroutine_threadsafe(coroutine, loop))


def wait(future: concurrent.futures.Future[T]) -> T:
    """`future`'s result, waited for only while this thread's attempt may run: once it is
    stopped (looked at every `TICK`), the future is cancelled and the attempt's
    `NodeTimeout` or `Cancelled` raised. A store that does not answer or a server that holds
    a request can then keep neither the attempt past its timeout nor the engine's worker
    thread (and its closing) past a cancel."""
    stop: Stop | None = getattr(_current, "stop", None)
    while True:
        done, _ = concurrent.futures.wait([future], timeout=None if stop is None else TICK)
        if done:
            return future.result()
        error = stopped(stop() if stop is not None else None)
        if error is not None:
            future.cancel()
            raise error


def _services() -> Services:
    services: Services | None = getattr(_current, "services", None)
    if services is None:
        raise RuntimeError("a platform import was called outside of an attempt")
    return services


def wit_field(record: Record, name: str) -> Any:
    """A record field by its WIT name (WIT names may contain `-`)."""
    return getattr(record, name)


def record(**fields: Any) -> Record:
    """A record from Python keyword names (`content_type` becomes WIT `content-type`)."""
    value = Record()
    for name, item in fields.items():
        setattr(value, name.replace("_", "-"), item)
    return value


def _artifactrecord(info: ArtifactInfo) -> Record:
    return record(
        id=info.id, name=info.name, content_type=info.content_type, size=info.size, hash=info.hash
    )


def _config_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _log(level: str, message: str, fields: str) -> None:
    _services().log_sink.add(level, message, _fields(fields), len(message.encode()) + len(fields))


def _fields(text: str) -> dict[str, Any]:
    """A log line's fields: the JSON object the guest wrote, else `{"fields": ...}` holding
    its other JSON value, or its text when that is no JSON the store can keep (not JSON, too
    deep, `NaN` or an infinity, a lone surrogate escaped)."""
    if not text.strip():
        return {}
    try:
        parsed = limits.parse_json(text, "a log line's fields")
        json.dumps(parsed, allow_nan=False, ensure_ascii=False).encode()
    except (OutputError, ValueError, RecursionError):
        return {"fields": text}
    return parsed if isinstance(parsed, dict) else {"fields": parsed}


def _check_request(request: Record) -> None:
    """The URL and headers of a guest's request under their own caps (the record as a whole
    was lifted under `limits.HTTP_REQUEST`)."""
    url = len(wit_field(request, "url").encode())
    headers = sum(len(k.encode()) + len(v.encode()) for k, v in wit_field(request, "headers"))
    body = wit_field(request, "body")
    for what, size, cap in (
        ("URL", url, limits.HTTP_URL),
        ("headers", headers, limits.HTTP_HEADERS),
        ("body", 0 if body is None else len(body), limits.HTTP_BODY),
    ):
        if size > cap:
            raise OutputError(
                f"an http request made by the component has {size} bytes of {what}; "
                f"the cap is {limits.size_text(cap)}"
            )


def _fetch(request: Record) -> Record | Variant:
    _check_request(request)
    services = _services()
    method = wit_field(request, "method")
    url = wit_field(request, "url")
    timeout_ms = wit_field(request, "timeout-ms")
    client, loop = services.http, services.loop
    if client is None or loop is None:
        return Variant("failed", "outbound HTTP is not available in this host")
    attributes = {"http.request.method": method.upper(), "url.full": url}
    with services.telemetry.span(method.upper(), attributes, client=True) as span:
        fetching = outbound.fetch(
            client,
            method,
            url,
            [tuple(h) for h in wit_field(request, "headers")],
            wit_field(request, "body"),
            None if timeout_ms is None else timeout_ms / 1000,
            services.allowed_hosts,
        )
        result = on_loop(loop, fetching)
        if isinstance(result, outbound.Failure):
            span.fail(result.kind, result.message)
        else:
            span.set("http.response.status_code", result.status)
    entry: dict[str, Any] = {"method": method.upper(), "url": url}
    if isinstance(result, outbound.Failure):
        services.log_sink.add("warn", f"http {result.kind}", {**entry, "reason": result.message})
        return Variant(result.kind, result.message)
    services.log_sink.add(
        "info", "http request", {**entry, "status": result.status, "bytes": len(result.body)}
    )
    return record(status=result.status, headers=result.headers, body=result.body)


def _put_artifact(name: str, content_type: str, data: bytes) -> Record | str:
    _stored(name, "an artifact name")
    _stored(content_type, "an artifact content type")
    services = _services()
    attributes = {"fuchsia.artifact.name": name, "fuchsia.artifact.size": len(data)}
    try:
        with services.telemetry.span("artifact put", attributes):
            info = services.put_artifact(name, content_type, bytes(data))
    except Exception as exc:  # a store failure is the component's to handle, as a value
        return f"could not store artifact {name!r}: {exc}"
    services.artifacts.append(info)
    return _artifactrecord(info)


def _get_artifact(artifact_id: str) -> bytes | str:
    services = _services()
    try:
        with services.telemetry.span("artifact get", {"fuchsia.artifact.id": artifact_id}):
            return services.get_artifact(artifact_id)
    except Exception as exc:
        return f"no artifact {artifact_id!r}: {exc}"


_KEY = abi.Cap("a kv key", limits.KV_KEY)
_VALUE = abi.Cap("a kv value", limits.KV_VALUE)
_NAME = abi.Cap("an artifact name", limits.NAME)
_TYPE = abi.Cap("an artifact content type", limits.CONTENT_TYPE)
_DATA = abi.Cap("an artifact's content", limits.ARTIFACT_DATA)
_ID = abi.Cap("an artifact id", limits.NAME)
_CONFIG_KEY = abi.Cap("a config key", limits.NAME)
_LINE = abi.Cap("a log line", limits.LOG_LINE, cut=True)
_FIELDS = abi.Cap("a log line's fields", limits.LOG_LINE, cut=True)
_REQUEST = abi.Cap("an http request made by the component", limits.HTTP_REQUEST)


def _stored(text: str, what: str) -> str:
    """`text`, which the store keeps as text (a kv key or value, an artifact's name or
    content type), unless it holds a NUL: PostgreSQL's text cannot, so it is refused on
    either store, when the component hands it over rather than when its attempt commits."""
    if NUL in text:
        raise OutputError(f"{what} {HOLDS_NUL}")
    return text


def _kv_get(key: str) -> str | None:
    return _services().kv_get(_stored(key, "a kv key"))


def _kv_set(key: str, value: str) -> None:
    _services().kv_set(_stored(key, "a kv key"), _stored(value, "a kv value"))


def _kv_delete(key: str) -> None:
    _services().kv_delete(_stored(key, "a kv key"))


def build_linker(linker: Linker) -> None:
    """Define every `fuchsia:platform` import on `linker`, each argument under its cap."""
    with linker.root() as root:
        with root.add_instance(f"{PLATFORM}/kv@{VERSION}") as kv:
            abi.define(kv, "get", _kv_get, _KEY)
            abi.define(kv, "set", _kv_set, _KEY, _VALUE)
            abi.define(kv, "delete", _kv_delete, _KEY)
        with root.add_instance(f"{PLATFORM}/config@{VERSION}") as config:
            abi.define(config, "get", _optional_config, _CONFIG_KEY)
            abi.define(config, "all", lambda: json.dumps(dict(_services().config)))
        with root.add_instance(f"{PLATFORM}/log@{VERSION}") as log:
            abi.define(log, "log", _log, None, _LINE, _FIELDS)
        with root.add_instance(f"{PLATFORM}/http@{VERSION}") as http:
            abi.define(http, "fetch", _fetch, _REQUEST)
        with root.add_instance(f"{PLATFORM}/artifacts@{VERSION}") as artifacts:
            abi.define(artifacts, "put", _put_artifact, _NAME, _TYPE, _DATA)
            abi.define(artifacts, "get", _get_artifact, _ID)


def _optional_config(key: str) -> str | None:
    config = _services().config
    return _config_value(config[key]) if key in config else None
