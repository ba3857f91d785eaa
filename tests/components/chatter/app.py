"""A test component that leaves things for the runtime to store (tests/integration)."""

import json

from wit_world import exports
from wit_world.imports import artifacts, kv, log
from wit_world.imports.types import Output


def talk(data: dict) -> Output:
    line = data.get("text", "") + "x" * data.get("size", 0)
    for index in range(data.get("lines", 1)):
        log.log(log.Level.INFO, line, json.dumps({"index": index, "text": data.get("text", "")}))
    return Output(data=json.dumps({"logged": data.get("lines", 1)}), artifacts=[])


def keep(data: dict) -> Output:
    ref = artifacts.put(data["name"], data["content_type"], data.get("text", "").encode())
    return Output(data=json.dumps({"kept": data["name"]}), artifacts=[ref])


def remember(data: dict) -> Output:
    kv.set(data["key"], data["value"])
    return Output(data=json.dumps({"read_back": kv.get(data["key"])}), artifacts=[])


TASKS = {"talk": talk, "keep": keep, "remember": remember}


class Task(exports.Task):
    def execute(self, ctx, input: str) -> Output:
        return TASKS[ctx.task](json.loads(input))
