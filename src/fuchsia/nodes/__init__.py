"""One module per node kind. Each takes the node's rendered spec and returns its output data."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class NodeContext:
    """What a node kind may use while it runs one attempt."""

    execution_id: str
    node_id: str
    attempt: int
    timeout: float | None
    http: httpx.AsyncClient
