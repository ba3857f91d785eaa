"""`fuchsia.Client`: the HTTP API from Python, for programs that talk to `fuchsia serve`.

```python
with fuchsia.Client("http://127.0.0.1:8080", token=TOKEN) as client:
    execution = client.start("approval", {"item": "pen", "amount": 1800})
    client.signal(execution["id"], "approval", {"approved": True, "by": "ada"})
    print(client.wait(execution["id"])["status"])
```

Responses are the API's JSON records. A refusal raises the `FuchsiaError` class its `code`
names (`ExecutionNotFound`, `WorkflowNotFound`, `IdempotencyConflict`, ...) with the server's
message and fields, so callers handle the same classes as with a local `Engine`. A server that
cannot be reached, fails, or answers with something that is not the API's JSON (a proxy's HTML
error page, say) raises `ServerError` naming the URL and the status.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, TypeVar

import httpx

from fuchsia.errors import FuchsiaError, ServerError, error_classes

S = TypeVar("S", dict[str, Any], list[dict[str, Any]])
PAGE = 1000
FINAL = frozenset({"completed", "completed_with_errors", "failed", "cancelled", "timed_out"})


class Client:
    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

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

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise _unusable(response, "not JSON") from None

    def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A JSON object answer (a ServerError for anything else)."""
        return self._shaped(dict, method, path, **kwargs)

    def _list(self, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """A JSON list answer (a ServerError for anything else)."""
        return self._shaped(list, method, path, **kwargs)

    def _shaped(self, shape: type[S], method: str, path: str, **kwargs: Any) -> S:
        response = self._request(method, path, **kwargs)
        try:
            value = response.json()
        except ValueError:
            raise _unusable(response, "not JSON") from None
        if not isinstance(value, shape):
            raise _unusable(response, f"JSON that is not a {shape.__name__}")
        return value

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            url = f"{self._http.base_url}{path}"
            raise ServerError(f"cannot reach the Fuchsia server at {url}: {exc}", url=url) from None
        if response.status_code < 400:
            return response
        raise _refusal(response)

    # -- workflows -------------------------------------------------------------------------

    def workflows(self) -> list[dict[str, Any]]:
        return self._list("GET", "/api/v1/workflows")

    def workflow(self, ref: str) -> dict[str, Any]:
        """One deployed version (`name` or `name@version`) with its locked document."""
        return self._object("GET", f"/api/v1/workflows/{ref}")

    def deploy(self, source: str) -> dict[str, Any]:
        """Deploy a workflow from its YAML or JSON text."""
        return self._object("POST", "/api/v1/workflows", json={"source": source})

    def set_active(self, ref: str, active: bool) -> dict[str, Any]:
        action = "enable" if active else "disable"
        return self._object("POST", f"/api/v1/workflows/{ref}/{action}")

    def pin(self, ref: str) -> dict[str, Any]:
        """Make `name@version` the version the workflow's triggers fire."""
        return self._object("POST", f"/api/v1/workflows/{ref}/pin")

    def unpin(self, name: str) -> dict[str, Any]:
        return self._object("POST", f"/api/v1/workflows/{name}/unpin")

    # -- executions ------------------------------------------------------------------------

    def start(
        self, workflow: str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._object(
            "POST",
            "/api/v1/executions",
            json={"workflow": workflow, "payload": payload},
            headers=headers,
        )

    def executions(
        self, *, status: str | None = None, limit: int = 50, before: str | None = None
    ) -> list[dict[str, Any]]:
        """Execution summaries, newest first (`before`: an id, to page on to older ones)."""
        found: list[dict[str, Any]] = []
        while len(found) < limit:  # the server answers at most PAGE at a time
            params: dict[str, Any] = {"limit": min(limit - len(found), PAGE)}
            params.update({k: v for k, v in (("status", status), ("before", before)) if v})
            page = self._object("GET", "/api/v1/executions", params=params)
            found.extend(page.get("executions") or [])
            before = page.get("next")
            if not before:
                break
        return found

    def components(self) -> list[dict[str, Any]]:
        return self._list("GET", "/api/v1/components")

    def component(self, ref: str) -> dict[str, Any]:
        return self._object("GET", f"/api/v1/components/{ref}")

    def get(self, execution_id: str) -> dict[str, Any]:
        return self._object("GET", f"/api/v1/executions/{execution_id}")

    def result(self, execution_id: str) -> Any:
        """The execution's result, also when the server stored it as an artifact."""
        return self._call("GET", f"/api/v1/executions/{execution_id}/result")

    def artifacts(self, execution_id: str) -> list[dict[str, Any]]:
        """The execution's artifacts: id, name, content_type, size, hash."""
        return self._list("GET", f"/api/v1/executions/{execution_id}/artifacts")

    def artifact(self, execution_id: str, artifact_id: str) -> bytes:
        """One artifact's content."""
        path = f"/api/v1/executions/{execution_id}/artifacts/{artifact_id}"
        return self._request("GET", path).content

    def events(self, execution_id: str, after: int = 0) -> list[dict[str, Any]]:
        return self._list(
            "GET", f"/api/v1/executions/{execution_id}/events", params={"after": after}
        )

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

    def _act(self, execution_id: str, action: str, body: Any = None) -> dict[str, Any]:
        return self._object("POST", f"/api/v1/executions/{execution_id}/{action}", json=body)

    def cancel(self, execution_id: str) -> dict[str, Any]:
        return self._act(execution_id, "cancel")

    def pause(self, execution_id: str) -> dict[str, Any]:
        return self._act(execution_id, "pause")

    def resume_interrupted(self) -> list[dict[str, Any]]:
        """Have the server take over every execution whose process died; those executions."""
        return self._list("POST", "/api/v1/executions/resume")

    def resume(self, execution_id: str) -> dict[str, Any]:
        return self._act(execution_id, "resume")

    def signal(self, execution_id: str, name: str, payload: Any = None) -> dict[str, Any]:
        return self._act(execution_id, "signal", {"name": name, "payload": payload})

    def retry(self, execution_id: str, from_node: str | None = None) -> dict[str, Any]:
        return self._act(execution_id, "retry", {"from_node": from_node})


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
