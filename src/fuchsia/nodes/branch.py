"""`branch`: choose successors by CEL rules; the first true rule's `then` runs, else `default`.

The branch passes its input data through: its successors see what it saw. The successors it
did not choose are skipped (DESIGN.md §4); a successor named by no rule always runs.

With `foreach`, each item is routed on its own (rules also see `item` and `index`); a
successor runs if any item chose it, and sees the list of the items' data.
"""

from __future__ import annotations

from typing import Any

from fuchsia.errors import InputError
from fuchsia.expressions import ExpressionError, evaluate
from fuchsia.nodes import NodeContext
from fuchsia.nodes.kind import BranchSpec


async def run(spec: BranchSpec, _rendered: Any, ctx: NodeContext) -> Any:
    scope = ctx.scope or {}
    variables = {key: scope.get(key) for key in ("data", "context", "execution")}
    variables.update({key: scope[key] for key in ("item", "index") if key in scope})
    chosen: list[str] = list(spec.default)
    for index, rule in enumerate(spec.rules):
        try:
            if evaluate(rule.when, variables):
                chosen = list(rule.then)
                break
        except ExpressionError as exc:
            raise InputError(f"branch[{index}].when: {exc}") from None
    return {"taken": chosen, "data": variables["data"]}
