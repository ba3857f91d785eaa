"""`workflow`: run another workflow as a child execution and output its result.

The child is an execution of its own (visible in `runs list`, linked by `parent_id`), started
with an idempotency key made of the parent, the node and its count of failed attempts: a
parent resumed after a crash re-attaches to the same child instead of starting a second one,
while a retry after a failure starts afresh. Cancelling or failing the parent cancels the
child. In an engine that parks, a parent whose child is still running `ctx.park_after`
seconds on parks: the child's end wakes it, and the same attempt takes the child's result.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from fuchsia.definition.lock import LockedWorkflow, canonical_json
from fuchsia.errors import InputError, NodeError, PayloadError
from fuchsia.nodes import NodeContext, Park, Parked, park_open
from fuchsia.nodes.kind import WorkflowSpec


class Children(Protocol):
    async def start_child(
        self, workflow: LockedWorkflow, payload: Any, parent_id: str, key: str
    ) -> str: ...
    async def wait_child(self, execution_id: str) -> tuple[str, Any, dict[str, Any] | None]: ...
    async def child_ended(self, execution_id: str) -> bool: ...


async def run(spec: WorkflowSpec, rendered: dict[str, Any], ctx: NodeContext) -> Any:
    assert ctx.children is not None and ctx.child_key is not None
    child = LockedWorkflow.from_json(canonical_json(spec.document))
    try:
        child_id = await ctx.children.start_child(
            child, rendered["inputs"], ctx.execution_id, ctx.child_key
        )
    except PayloadError as exc:
        raise InputError(f"workflow.inputs: {exc}") from None
    children = ctx.children
    park_after = ctx.park_after if ctx.timeout is None else None  # a node timeout: in-process
    if park_after is not None and not await children.child_ended(child_id):
        try:
            async with asyncio.timeout(park_open(park_after)):
                status, result, error = await children.wait_child(child_id)
        except TimeoutError:
            raise Parked(Park(None, child=child_id)) from None
    else:
        status, result, error = await children.wait_child(child_id)
    if status in ("completed", "completed_with_errors"):
        return result
    reason = (error or {}).get("message", status)
    raise NodeError(f"sub-workflow {child.name} ({child_id}) {status}: {reason}")
