"""A component written for the original Fuschia task interface and built as that project
built them: its own WIT in wit/, plain componentize-py with full WASI (so CPython imports
wasi:cli, wasi:filesystem and wasi:sockets). Task `probe` tries what the sandbox denies."""

import json
import os
import socket
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.task import Output


def _attempt(action) -> str:
    try:
        action()
    except Exception as exc:  # what the sandbox answers is the point of this task
        return f"{type(exc).__name__}: {exc}"
    return "allowed"


def _probe(value: dict) -> dict:
    print("hello on stdout")
    print("hello on stderr", file=sys.stderr)
    for i in range(value.get("lines", 0)):
        print(f"line {i}")
    if value.get("long_line"):
        sys.stdout.write("L" * value["long_line"] + "\n")
    sys.stdout.flush()
    address = ("127.0.0.1", value.get("port", 9))
    return {
        "connect": _attempt(lambda: socket.socket().connect(address)),
        "read": _attempt(lambda: open(value.get("path", "/etc/hostname")).read()),
        "environment": sorted(os.environ),
    }


class Task(exports.Task):
    def execute(self, ctx, data: str) -> Output:
        value = json.loads(data)
        if value.get("fail"):
            raise Err("legacy failure")
        if ctx.task_id == "probe":
            return Output(data=json.dumps(_probe(value)))
        return Output(
            data=json.dumps(
                {
                    "legacy": True,
                    "node": ctx.node_id,
                    "task": ctx.task_id,
                    "doubled": value.get("n", 0) * 2,
                }
            )
        )
