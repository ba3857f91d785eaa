"""A synchronous convenience for scripts; everything else is the async `Engine`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fuchsia.definition.lock import LockedWorkflow
from fuchsia.runtime.engine import Engine
from fuchsia.runtime.views import Execution


def run(
    workflow: str | Path | LockedWorkflow,
    payload: Any = None,
    *,
    db: str | None = None,
    idempotency_key: str | None = None,
    secrets: dict[str, str] | None = None,
) -> Execution:
    """Run one workflow to completion in a fresh event loop and return the execution.

    ```python
    import fuchsia
    execution = fuchsia.run("examples/hello.yaml", {"name": "Ada"})
    ```
    """

    async def main() -> Execution:
        async with await Engine.open(db, secrets=secrets) as engine:
            return await engine.run(workflow, payload, idempotency_key=idempotency_key)

    return asyncio.run(main())
