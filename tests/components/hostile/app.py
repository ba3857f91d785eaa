"""A test component whose tasks each send the host a value as large as the input asks
(tests/integration/test_component_limits.py), written against the raw bindings so nothing
in the SDK trims them first."""

import json
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import artifacts, http, kv, log
from wit_world.imports.types import HttpRequest, Output


def _ok(value: object) -> Output:
    return Output(data=json.dumps(value), artifacts=[])


def log_lines(data: dict, ctx) -> Output:
    line = "y" * data.get("size", 10)
    for _ in range(data["n"]):
        log.log(log.Level.INFO, line, "")
    return _ok({"logged": data["n"]})


def log_huge(data: dict, ctx) -> Output:
    log.log(log.Level.WARN, "z" * data["size"], "")
    return _ok({"logged": 1})


def kv_value(data: dict, ctx) -> Output:
    kv.set("big", "v" * data["size"])
    return _ok({"stored": True})


def kv_key(data: dict, ctx) -> Output:
    kv.set("k" * data["size"], "small")
    return _ok({"stored": True})


def artifact_data(data: dict, ctx) -> Output:
    ref = artifacts.put("big.bin", "application/octet-stream", b"a" * data["size"])
    return Output(data=json.dumps({"size": ref.size}), artifacts=[ref])


def artifact_name(data: dict, ctx) -> Output:
    ref = artifacts.put("n" * data["size"], "text/plain", b"small")
    return Output(data=json.dumps({"size": ref.size}), artifacts=[ref])


def _send(url: str, headers: list, body) -> Output:
    request = HttpRequest(method="POST", url=url, headers=headers, body=body, timeout_ms=5000)
    try:
        response = http.fetch(request)
    except Err as err:
        return _ok({"error": type(err.value).__name__, "message": err.value.value})
    return _ok({"status": response.status})


def http_body(data: dict, ctx) -> Output:
    return _send(data["url"], [], b"b" * data["size"])


def http_headers(data: dict, ctx) -> Output:
    headers = [(f"x-h{i}", "h" * data["size"]) for i in range(data["n"])]
    return _send(data["url"], headers, None)


def output(data: dict, ctx) -> Output:
    return Output(data=json.dumps("o" * data["size"]), artifacts=[])


def _deeper(n: int) -> int:
    return _deeper(n + 1) + 1


def overflow(data: dict, ctx) -> Output:
    sys.setrecursionlimit(10**8)
    return _ok({"depth": _deeper(0)})


def spin(data: dict, ctx) -> Output:
    while True:
        pass


TASKS = {
    f.__name__.replace("_", "-"): f
    for f in (
        log_lines,
        log_huge,
        kv_value,
        kv_key,
        artifact_data,
        artifact_name,
        http_body,
        http_headers,
        output,
        overflow,
        spin,
    )
}


class Task(exports.Task):
    def execute(self, ctx, input: str) -> Output:
        return TASKS[ctx.task](json.loads(input), ctx)
