"""Granted a directory, so it is built with full WASI: CPython then imports wasi:sockets too,
which the host refuses before the component runs."""

import json

from wit_world import exports
from wit_world.imports.types import Output


class Task(exports.Task):
    def execute(self, ctx, input: str) -> Output:
        return Output(data=json.dumps({"pong": True}), artifacts=[])
