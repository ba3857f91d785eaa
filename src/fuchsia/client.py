"""`fuchsia.Client` and `fuchsia.AsyncClient`: the HTTP API from Python, for programs that
talk to `fuchsia serve`.

```python
with fuchsia.Client("http://127.0.0.1:8080", token=TOKEN) as client:
    execution = client.start("approval", {"item": "pen", "amount": 1800})
    client.signal(execution["id"], "approval", {"approved": True, "by": "ada"})
    print(client.wait(execution["id"])["status"])

async with fuchsia.AsyncClient("http://127.0.0.1:8080", token=TOKEN) as client:
    execution_id = await client.start_deployed("approval", {"item": "pen"})
    print((await client.wait(execution_id)).status)
```

`AsyncClient` implements `fuchsia.operations.Operations`, the surface the local `Engine`
offers too: the same names and the same typed views (`Execution`, `Deployment`,
`ArtifactRef`, ...), built from the API's JSON. `Client`, the synchronous facade, answers the
API's JSON records. Both send every request through one layer (`_Call`, `_answer`): each
operation is written once, as a generator of the calls it makes, and driven by either.

A refusal raises the `FuchsiaError` class its `code` names (`ExecutionNotFound`,
`WorkflowNotFound`, `IdempotencyConflict`, ...) with the server's message and fields, so
callers handle the same classes as with a local `Engine`. A server that cannot be reached,
fails, or answers with something that is not the API's JSON (a proxy's HTML error page, say)
raises `ServerError` naming the URL and the status.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx

from fuchsia.errors import ArtifactNotFound, FuchsiaError, ServerError, error_classes
from fuchsia.runtime import arguments

if TYPE_CHECKING:
    from fuchsia.runtime.views import DeployedWorkflow, Execution, ExecutionSummary, Worker
    from fuchsia.store.records import ArtifactRef, Deployment, EventRecord

T = TypeVar("T")
PAGE = 1000
FINAL = frozenset({"completed", "completed_with_errors", "failed", "cancelled", "timed_out"})
EXECUTIONS = "/api/v1/executions"
WORKFLOWS = "/api/v1/workflows"
WORKERS = "/api/v1/workers"


def _part(value: str) -> str:
    """`value` (an id, a ref, a name) as one segment of a request's path: refused when it
    is not text or is empty (an empty id would address the list), quoted so that a `?`,
    `#`, `%` or `/` in it stays part of it rather than starting a query or another route."""
    return quote(arguments.execution_id(value, "id"), safe="@:")


@dataclass(frozen=True)
class _Call:
    """One request and the answer it must get: a JSON `dict` or `list`, any JSON (`None`),
    or the raw body (`bytes`)."""

    method: str
    path: str
    shape: type | None = dict
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


# An operation: yields the calls it makes, is sent each answer, returns its value.
Steps = Generator[_Call, Any, T]


def _answer(call: _Call, response: httpx.Response) -> Any:
    """The answer to `call`: a refusal raises its error class; a body not of the wanted
    shape is a `ServerError`."""
    if response.status_code >= 400:
        raise _refusal(response)
    if call.shape is bytes:
        return response.content
    try:
        value = response.json()
    except ValueError:
        raise _unusable(response, "not JSON") from None
    if call.shape is not None and not isinstance(value, call.shape):
        raise _unusable(response, f"JSON that is not a {call.shape.__name__}")
    return value


def _unreachable(base: httpx.URL, call: _Call, exc: httpx.HTTPError) -> ServerError:
    url = f"{base}{call.path}"
    return ServerError(f"cannot reach the Fuchsia server at {url}: {exc}", url=url)


def _typed(decode: Callable[[Any], T], value: Any, what: str) -> T:
    """`decode(value)`; JSON not shaped like `what` ("an execution") is a `ServerError`."""
    try:
        return decode(value)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ServerError(
            f"the server answered JSON that is not {what} this client can read "
            f"({type(exc).__name__}: {exc}); is it a Fuchsia server of this version?"
        ) from None


# -- the operations, each written once -----------------------------------------------------


def _one(call: _Call) -> Steps[Any]:
    return (yield call)


def _executions(status: str | None, limit: int, before: str | None) -> Steps[list[Any]]:
    """Execution summaries, newest first, `PAGE` at a time (the server's bound)."""
    found: list[Any] = []
    while len(found) < limit:
        params: dict[str, Any] = {"limit": min(limit - len(found), PAGE)}
        params.update({k: v for k, v in (("status", status), ("before", before)) if v})
        page = yield _Call("GET", EXECUTIONS, params=params)
        found.extend(page.get("executions") or [])
        before = page.get("next")
        if not before:
            break
    return found


def _act(execution_id: str, action: str, body: Any = None) -> _Call:
    return _Call("POST", f"{EXECUTIONS}/{_part(execution_id)}/{action}", json=body)


def _start(ref: str, payload: Any, idempotency_key: str | None) -> _Call:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    body = {"workflow": ref, "payload": payload}
    return _Call("POST", EXECUTIONS, json=body, headers=headers)


def _artifact(execution_id: str, artifact_id: str) -> Steps[tuple[dict[str, Any], bytes]]:
    """The artifact's record (from the execution's list) and its content."""
    listed = yield _Call("GET", f"{EXECUTIONS}/{_part(execution_id)}/artifacts", shape=list)
    found = [a for a in listed if isinstance(a, dict) and a.get("id") == artifact_id]
    if not found:
        raise ArtifactNotFound(artifact_id)
    path = f"{EXECUTIONS}/{_part(execution_id)}/artifacts/{_part(artifact_id)}"
    return found[0], (yield _Call("GET", path, shape=bytes))


def _resume(ids: list[str] | None) -> Steps[list[Any]]:
    """`Engine.resume` on the server: the executions it took over."""
    body = None if ids is None else {"ids": ids}
    taken: list[Any] = yield _Call("POST", f"{EXECUTIONS}/resume", shape=list, json=body)
    return taken


def _read_source(workflow: Path) -> str:
    """The workflow file's text, refused here as `fuchsia validate` refuses it (huge,
    binary, not UTF-8, unreadable) rather than sent."""
    from fuchsia.definition.source import read_text

    return read_text(workflow)


class _Base:
    def __init__(self, url: str, token: str | None) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}


class Client(_Base):
    """The API, synchronously; answers are the API's JSON records."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        super().__init__(url, token)
        self._http = httpx.Client(base_url=self._url, headers=self._headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, steps: Steps[T]) -> T:
        """Drive an operation: send each call it yields, give it the answer."""
        try:
            call = next(steps)
            while True:
                try:
                    response = self._http.request(
                        call.method,
                        call.path,
                        params=call.params,
                        json=call.json,
                        headers=call.headers,
                    )
                except httpx.HTTPError as exc:
                    raise _unreachable(self._http.base_url, call, exc) from None
                call = steps.send(_answer(call, response))
        except StopIteration as done:
            value: T = done.value
            return value

    def _do(self, call: _Call) -> Any:
        return self._run(_one(call))

    # -- workflows -------------------------------------------------------------------------

    def workflows(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._do(_Call("GET", WORKFLOWS, shape=list))
        return result

    def workflow(self, ref: str) -> dict[str, Any]:
        """One deployed version (`name` or `name@version`) with its locked document."""
        result: dict[str, Any] = self._do(_Call("GET", f"{WORKFLOWS}/{_part(ref)}"))
        return result

    def deploy(self, source: str) -> dict[str, Any]:
        """Deploy a workflow from its YAML or JSON text."""
        result: dict[str, Any] = self._do(_Call("POST", WORKFLOWS, json={"source": source}))
        return result

    def set_active(self, ref: str, active: bool) -> dict[str, Any]:
        action = "enable" if active else "disable"
        result: dict[str, Any] = self._do(_Call("POST", f"{WORKFLOWS}/{_part(ref)}/{action}"))
        return result

    def pin(self, ref: str) -> dict[str, Any]:
        """Make `name@version` the version the workflow's triggers fire."""
        result: dict[str, Any] = self._do(_Call("POST", f"{WORKFLOWS}/{_part(ref)}/pin"))
        return result

    def unpin(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._do(_Call("POST", f"{WORKFLOWS}/{_part(name)}/unpin"))
        return result

    # -- executions ------------------------------------------------------------------------

    def start(
        self, workflow: str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._do(_start(workflow, payload, idempotency_key))
        return result

    def executions(
        self, *, status: str | None = None, limit: int = 50, before: str | None = None
    ) -> list[dict[str, Any]]:
        """Execution summaries, newest first (`before`: an id, to page on to older ones)."""
        return self._run(_executions(status, limit, before))

    def components(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._do(_Call("GET", "/api/v1/components", shape=list))
        return result

    def component(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self._do(_Call("GET", f"/api/v1/components/{_part(ref)}"))
        return result

    def get(self, execution_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._do(_Call("GET", f"{EXECUTIONS}/{_part(execution_id)}"))
        return result

    def result(self, execution_id: str) -> Any:
        """The execution's result, also when the server stored it as an artifact."""
        return self._do(_Call("GET", f"{EXECUTIONS}/{_part(execution_id)}/result", shape=None))

    def artifacts(self, execution_id: str) -> list[dict[str, Any]]:
        """The execution's artifacts: id, name, content_type, size, hash."""
        path = f"{EXECUTIONS}/{_part(execution_id)}/artifacts"
        result: list[dict[str, Any]] = self._do(_Call("GET", path, shape=list))
        return result

    def artifact(self, execution_id: str, artifact_id: str) -> bytes:
        """One artifact's content."""
        path = f"{EXECUTIONS}/{_part(execution_id)}/artifacts/{_part(artifact_id)}"
        data: bytes = self._do(_Call("GET", path, shape=bytes))
        return data

    def events(self, execution_id: str, after: int = 0) -> list[dict[str, Any]]:
        path = f"{EXECUTIONS}/{_part(execution_id)}/events"
        result: list[dict[str, Any]] = self._do(_Call("GET", path, list, {"after": after}))
        return result

    def wait(
        self, execution_id: str, *, poll: float = 0.2, timeout: float | None = None
    ) -> dict[str, Any]:
        """Poll until the execution reaches a final status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            execution = self.get(execution_id)
            if execution["status"] in FINAL:
                return execution
            if deadline is not None and time.monotonic() > deadline:
                raise FuchsiaError(f"execution {execution_id} is still {execution['status']}")
            time.sleep(poll)

    def cancel(self, execution_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._do(_act(execution_id, "cancel"))
        return result

    def pause(self, execution_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._do(_act(execution_id, "pause"))
        return result

    def resume_interrupted(self) -> list[dict[str, Any]]:
        """Have the server take over every execution whose process died; those executions."""
        return self._run(_resume(None))

    def resume(self, execution_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._do(_act(execution_id, "resume"))
        return result

    def signal(self, execution_id: str, name: str, payload: Any = None) -> dict[str, Any]:
        body = {"name": name, "payload": payload}
        result: dict[str, Any] = self._do(_act(execution_id, "signal", body))
        return result

    def retry(self, execution_id: str, from_node: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._do(_act(execution_id, "retry", {"from_node": from_node}))
        return result


class AsyncClient(_Base):
    """The API, asynchronously, as `fuchsia.operations.Operations`: the typed views the
    `Engine` returns, built from the API's JSON."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        super().__init__(url, token)
        self._http = httpx.AsyncClient(base_url=self._url, headers=self._headers, timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _run(self, steps: Steps[T]) -> T:
        """Drive an operation: send each call it yields, give it the answer."""
        try:
            call = next(steps)
            while True:
                try:
                    response = await self._http.request(
                        call.method,
                        call.path,
                        params=call.params,
                        json=call.json,
                        headers=call.headers,
                    )
                except httpx.HTTPError as exc:
                    raise _unreachable(self._http.base_url, call, exc) from None
                call = steps.send(_answer(call, response))
        except StopIteration as done:
            value: T = done.value
            return value

    async def _do(self, call: _Call) -> Any:
        return await self._run(_one(call))

    # -- executions ------------------------------------------------------------------------

    async def executions(
        self, *, status: str | None = None, limit: int = 50, before: str | None = None
    ) -> list[ExecutionSummary]:
        from fuchsia.runtime.views import ExecutionSummary

        found = await self._run(_executions(status, limit, before))
        return [_typed(ExecutionSummary.from_json, s, "an execution summary") for s in found]

    async def get(self, execution_id: str) -> Execution:
        return _execution(await self._do(_Call("GET", f"{EXECUTIONS}/{_part(execution_id)}")))

    async def result(self, execution_id: str) -> Any:
        path = f"{EXECUTIONS}/{_part(execution_id)}/result"
        return await self._do(_Call("GET", path, shape=None))

    async def events(self, execution_id: str, after: int = 0) -> list[EventRecord]:
        from fuchsia.store.records import EventRecord

        path = f"{EXECUTIONS}/{_part(execution_id)}/events"
        listed = await self._do(_Call("GET", path, list, {"after": after}))
        return [_typed(EventRecord.from_json, e, "an event") for e in listed]

    async def artifacts(self, execution_id: str) -> list[ArtifactRef]:
        from fuchsia.store.records import ArtifactRef

        path = f"{EXECUTIONS}/{_part(execution_id)}/artifacts"
        listed = await self._do(_Call("GET", path, shape=list))
        return [_typed(ArtifactRef.from_json, a, "an artifact") for a in listed]

    async def artifact(self, execution_id: str, artifact_id: str) -> tuple[ArtifactRef, bytes]:
        from fuchsia.store.records import ArtifactRef

        ref, data = await self._run(_artifact(execution_id, artifact_id))
        return _typed(ArtifactRef.from_json, ref, "an artifact"), data

    async def wait(self, execution_id: str, *, poll: float = 0.2) -> Execution:
        while (execution := await self.get(execution_id)).status not in FINAL:
            await asyncio.sleep(poll)
        return execution

    async def cancel(self, execution_id: str) -> Execution:
        return _execution(await self._do(_act(execution_id, "cancel")))

    async def pause(self, execution_id: str) -> Execution:
        return _execution(await self._do(_act(execution_id, "pause")))

    async def resume(self, ids: list[str] | None = None, *, wait: bool = True) -> list[str]:
        resumed = [_execution(e).id for e in await self._run(_resume(ids))]
        if wait:
            await asyncio.gather(*(self.wait(i) for i in resumed))
        return resumed

    async def signal(self, execution_id: str, name: str, payload: Any = None) -> int:
        body = {"name": name, "payload": payload}
        answer = await self._do(_act(execution_id, "signal", body))
        return _typed(lambda a: int(a["id"]), answer, "a signal's answer")

    async def retry(self, execution_id: str, from_node: str | None = None) -> str:
        answer = await self._do(_act(execution_id, "retry", {"from_node": from_node}))
        return _execution(answer).id

    async def start_deployed(
        self, ref: str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> str:
        return _execution(await self._do(_start(ref, payload, idempotency_key))).id

    # -- deployed workflows ----------------------------------------------------------------

    async def deploy(self, workflow: Path) -> tuple[Deployment, bool]:
        call = _Call("POST", WORKFLOWS, json={"source": _read_source(workflow)})
        answer = await self._do(call)
        return _deployment(answer), bool(answer.get("created", True))

    async def workers(self) -> list[Worker]:
        from fuchsia.runtime.views import Worker

        listed = await self._do(_Call("GET", WORKERS, shape=list))
        return [_typed(Worker.from_json, w, "a worker") for w in listed]

    async def deployments(self, name: str | None = None) -> list[Deployment]:
        listed = await self._do(_Call("GET", WORKFLOWS, shape=list))
        found = [_deployment(d) for d in listed]
        return [d for d in found if name is None or d.name == name]

    async def deployment(self, ref: str) -> Deployment:
        return _deployment(await self._do(_Call("GET", f"{WORKFLOWS}/{_part(ref)}")))

    async def workflow(self, ref: str) -> DeployedWorkflow:
        from fuchsia.runtime.views import DeployedWorkflow

        answer = await self._do(_Call("GET", f"{WORKFLOWS}/{_part(ref)}"))
        return _typed(DeployedWorkflow.from_json, answer, "a deployed workflow")

    async def set_active(self, ref: str, active: bool) -> Deployment:
        action = "enable" if active else "disable"
        return _deployment(await self._do(_Call("POST", f"{WORKFLOWS}/{_part(ref)}/{action}")))

    async def pin(self, ref: str) -> Deployment:
        return _deployment(await self._do(_Call("POST", f"{WORKFLOWS}/{_part(ref)}/pin")))

    async def unpin(self, name: str) -> Deployment:
        return _deployment(await self._do(_Call("POST", f"{WORKFLOWS}/{_part(name)}/unpin")))


def _execution(value: Any) -> Execution:
    from fuchsia.runtime.views import Execution

    return _typed(Execution.from_json, value, "an execution")


def _deployment(value: Any) -> Deployment:
    from fuchsia.store.records import Deployment

    return _typed(Deployment.from_json, value, "a deployment")


def _refusal(response: httpx.Response) -> FuchsiaError:
    """The error an API refusal describes, as the class its code names."""
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        return _unusable(response, "not an API error")
    cls = error_classes().get(str(code))
    if cls is None:  # a code this client does not know: the root class, with the code
        restored = FuchsiaError(str(message))
        restored.code = str(code)  # type: ignore[misc]
        return restored
    fields = {k: v for k, v in error.items() if k not in ("code", "message")}
    if issubclass(cls, ServerError):
        fields.update(url=str(response.request.url), status=response.status_code)
    return cls.restore(str(message), fields)


def _unusable(response: httpx.Response, what: str) -> ServerError:
    """A ServerError for an answer that is not the API's JSON (`what` says how)."""
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    text = " ".join(response.text[:200].split())
    return ServerError(
        f"{response.request.method} {response.request.url} answered {response.status_code} "
        f"with {kind}, {what}; is this a Fuchsia server? ({text!r})",
        url=str(response.request.url),
        status=response.status_code,
    )
