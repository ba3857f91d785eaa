"""A component written for the original Fuschia task interface."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.task import Output


class Task(exports.Task):
    def execute(self, ctx, data: str) -> Output:
        value = json.loads(data)
        if value.get("fail"):
            raise Err("legacy failure")
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
