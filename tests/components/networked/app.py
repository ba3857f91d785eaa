"""Granted a directory, so it is built with full WASI: CPython then imports wasi:sockets too,
which the host links only for components that set capabilities.sockets (reaching nothing)."""

import json
import os
import socket

from wit_world import exports
from wit_world.imports.types import Output


def _ok(value: object) -> Output:
    return Output(data=json.dumps(value), artifacts=[])


def _attempt(action) -> str:
    try:
        action()
    except Exception as exc:  # what the sandbox answers is the point of these tasks
        return f"{type(exc).__name__}: {exc}"
    return "allowed"


class Task(exports.Task):
    def execute(self, ctx, input: str) -> Output:
        data = json.loads(input)
        if ctx.task == "ping":
            return _ok({"pong": True})
        if ctx.task == "read":
            with open(data["path"]) as handle:
                return _ok({"text": handle.read()})
        if ctx.task == "write":
            return _ok({"write": _attempt(lambda: open(data["path"], "w").write("x"))})
        if ctx.task == "outside":
            return _ok({"read": _attempt(lambda: open(data["path"]).read())})
        if ctx.task == "connect":
            address = ("127.0.0.1", data["port"])
            return _ok({"connect": _attempt(lambda: socket.create_connection(address, 2))})
        if ctx.task == "environment":
            return _ok({"variables": sorted(os.environ)})
        return _ok({"unknown": ctx.task})
