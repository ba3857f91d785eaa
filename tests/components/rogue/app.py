"""A test component that hands the host whatever its input describes
(tests/integration/test_rogue_guest.py), through the raw bindings so no SDK check stands
between the guest and the host.

A text argument is a string, or `{"head": ..., "middle": ..., "n": N, "tail": ...}` for
head + middle * N + tail, so a small input describes a huge or deeply nested value.
"""

import json
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import artifacts, http, kv, log
from wit_world.imports.types import (
    ArtifactRef,
    HttpRequest,
    Output,
    TaskError_Permanent,
    TaskError_Retryable,
)


def _text(spec) -> str:
    if isinstance(spec, str):
        return spec
    return spec.get("head", "") + spec.get("middle", "") * spec.get("n", 0) + spec.get("tail", "")


def _ok(value: object) -> Output:
    return Output(data=json.dumps(value), artifacts=[])


def emit(data: dict, ctx) -> Output:
    """Return `data` as the output's text verbatim, with `refs` made-up artifact refs."""
    ref = ArtifactRef(id="", name="", content_type="", size=0, hash="")
    return Output(data=_text(data["data"]), artifacts=[ref] * data.get("refs", 0))


def fail(data: dict, ctx) -> Output:
    error = TaskError_Permanent if data.get("permanent") else TaskError_Retryable
    raise Err(error(_text(data["message"])))


def throw(data: dict, ctx) -> Output:
    """Let an exception escape the export (componentize-py traps)."""
    if data.get("exit"):
        sys.exit(_text(data["message"]))
    raise RuntimeError(_text(data["message"]))


def logs(data: dict, ctx) -> Output:
    level = getattr(log.Level, data.get("level", "INFO"))
    message, fields = _text(data.get("message", "m")), _text(data.get("fields", ""))
    for _ in range(data.get("n", 1)):
        log.log(level, message, fields)
    return _ok({"logged": data.get("n", 1)})


def fetch(data: dict, ctx) -> Output:
    request = HttpRequest(
        method=_text(data.get("method", "GET")),
        url=_text(data["url"]),
        headers=[(_text(k), _text(v)) for k, v in data.get("headers", [])],
        body=_text(data["body"]).encode() if "body" in data else None,
        timeout_ms=data.get("timeout_ms"),
    )
    answers = []
    for _ in range(data.get("n", 1)):
        try:
            response = http.fetch(request)
        except Err as err:
            answers.append({"error": type(err.value).__name__, "message": err.value.value})
        else:
            answers.append({"status": response.status, "bytes": len(response.body)})
    return _ok(answers)


def store(data: dict, ctx) -> Output:
    """Run `ops` (["set", key, value], ["get", key], ["delete", key], ["put", name, type,
    data], ["read", id]) `n` times over."""
    seen = []
    for _ in range(data.get("n", 1)):
        for op, *args in data["ops"]:
            texts = [_text(a) for a in args]
            if op == "set":
                kv.set(texts[0], texts[1])
            elif op == "get":
                seen.append(kv.get(texts[0]))
            elif op == "delete":
                kv.delete(texts[0])
            elif op == "put":
                try:
                    seen.append(artifacts.put(texts[0], texts[1], texts[2].encode()).id)
                except Err as err:
                    seen.append({"error": err.value})
            elif op == "read":
                try:
                    seen.append(len(artifacts.get(texts[0])))
                except Err as err:
                    seen.append({"error": err.value})
    return _ok(seen[-20:])


TASKS = {f.__name__: f for f in (emit, fail, throw, logs, fetch, store)}


class Task(exports.Task):
    def execute(self, ctx, input: str) -> Output:
        return TASKS[ctx.task](json.loads(input), ctx)
