"""A test component whose tasks each exercise one host behaviour (tests/integration)."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import artifacts, config, http, kv, log
from wit_world.imports.types import (
    HttpRequest,
    Output,
    TaskError_Permanent,
    TaskError_Retryable,
)


def _ok(value: object) -> Output:
    return Output(data=json.dumps(value), artifacts=[])


def counter(data: dict, ctx) -> Output:
    count = int(kv.get("count") or "0") + 1
    kv.set("count", str(count))
    if data.get("forget"):
        kv.delete("count")
    return _ok({"count": count, "execution": ctx.execution_id})


def settings(data: dict, ctx) -> Output:
    return _ok(
        {
            "all": json.loads(config.all()),
            "greeting": config.get("greeting"),
            "missing": config.get("missing"),
        }
    )


def chatty(data: dict, ctx) -> Output:
    log.log(log.Level.INFO, "hello from the component", json.dumps({"n": 1}))
    log.log(log.Level.WARN, "careful", "")
    return _ok({"logged": 2})


def report(data: dict, ctx) -> Output:
    ref = artifacts.put("report.csv", "text/csv", data.get("text", "a,b\n1,2\n").encode())
    again = artifacts.get(ref.id)
    return Output(data=json.dumps({"read_back": again.decode()}), artifacts=[ref])


def fetch(data: dict, ctx) -> Output:
    request = HttpRequest(
        method="GET", url=data["url"], headers=[], body=None, timeout_ms=data.get("timeout_ms")
    )
    try:
        response = http.fetch(request)
    except Err as err:
        return _ok({"error": type(err.value).__name__, "message": err.value.value})
    return _ok({"status": response.status, "body": response.body.decode()})


def spin(data: dict, ctx) -> Output:
    while True:
        pass


def hog(data: dict, ctx) -> Output:
    chunks = []
    try:
        while True:
            chunks.append(bytearray(8 * 1024 * 1024))
    except MemoryError:
        chunks.clear()
        raise Err(TaskError_Permanent("memory limit exceeded: MemoryError")) from None


def trap(data: dict, ctx) -> Output:
    print("stdout is not granted: this traps")  # WASI is stubbed: the write traps
    return _ok({})


def not_json(data: dict, ctx) -> Output:
    return Output(data="this is { not json", artifacts=[])


def huge(data: dict, ctx) -> Output:
    return _ok({"blob": "x" * (5 * 1024 * 1024)})


def flaky(data: dict, ctx) -> Output:
    if ctx.attempt < data.get("succeed_on", 2):
        raise Err(TaskError_Retryable(f"attempt {ctx.attempt} failed"))
    return _ok({"attempt": ctx.attempt})


def refuse(data: dict, ctx) -> Output:
    raise Err(TaskError_Permanent("this input can never work"))


def scribble(data: dict, ctx) -> Output:
    """Write kv and an artifact, read both back, then fail (retryably) until `succeed_on`;
    on attempt `spin_on`, loop until stopped instead."""
    seen = kv.get("attempts")
    kv.set("attempts", f"{seen},{ctx.attempt}" if seen else str(ctx.attempt))
    kv.set(f"attempt-{ctx.attempt}", "written")
    kv.set("scratch", "gone soon")
    kv.delete("scratch")
    ref = artifacts.put(f"attempt-{ctx.attempt}.txt", "text/plain", f"{ctx.attempt}".encode())
    read = {
        "kv": kv.get("attempts"),
        "scratch": kv.get("scratch"),
        "artifact": artifacts.get(ref.id).decode(),
    }
    while data.get("spin_on") == ctx.attempt:  # until the node's timeout stops it
        pass
    if ctx.attempt < data.get("succeed_on", 2):
        raise Err(TaskError_Retryable(f"attempt {ctx.attempt} failed after writing"))
    return Output(data=json.dumps({"seen": seen, "read": read}), artifacts=[ref])


def bulky(data: dict, ctx) -> Output:
    """Write `kv` bytes of kv values in 1 KiB keys and an artifact of `artifact` bytes."""
    for i in range(data.get("kv", 0) // 1024):
        kv.set(f"k{i}", "v" * 1024)
    if data.get("artifact"):
        try:
            artifacts.put("bulk.bin", "application/octet-stream", b"x" * data["artifact"])
        except Err as err:
            return _ok({"refused": str(err.value)})
    return _ok({"wrote": True})


def echo(data: dict, ctx) -> Output:
    return _ok({"input": data, "task": ctx.task, "node": ctx.node_id, "attempt": ctx.attempt})


TASKS = {
    f.__name__.replace("_", "-"): f
    for f in (
        counter,
        settings,
        chatty,
        report,
        fetch,
        spin,
        hog,
        trap,
        not_json,
        huge,
        flaky,
        refuse,
        scribble,
        bulky,
        echo,
    )
}


class Task(exports.Task):
    def execute(self, ctx, input: str) -> Output:
        return TASKS[ctx.task](json.loads(input), ctx)
