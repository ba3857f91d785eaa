"""`transform`: the node's rendered value is its output. Pure data shaping, no I/O."""

from __future__ import annotations

from typing import Any

from fuchsia.nodes import NodeContext
from fuchsia.nodes.kind import TransformSpec


async def run(spec: TransformSpec, rendered: Any, ctx: NodeContext) -> Any:
    return rendered
