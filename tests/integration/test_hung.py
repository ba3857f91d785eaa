"""The hung-run detector: a running execution that commits nothing for too long fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fuchsia import Engine, Execution
from support.httpserver import LoopbackServer


def test_an_execution_without_progress_is_failed_as_hung(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    flow = tmp_path / "stuck.yaml"
    flow.write_text(f"""
name: stuck
nodes:
  stuck: {{http: {{url: "{loopback.url("/slow?seconds=30")}", timeout: 60s}}}}
""")

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db"), hung_after=0.3) as engine:
            return await engine.run(str(flow))

    execution = asyncio.run(main())
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["type"] == "hung"
    assert execution.node("stuck").status == "cancelled"


def test_a_waiting_execution_is_not_hung(tmp_path: Path) -> None:
    flow = tmp_path / "wait.yaml"
    flow.write_text("name: patient\nnodes:\n  w: {wait: {for: 800ms}}\n")

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db"), hung_after=0.2) as engine:
            return await engine.run(str(flow))

    assert asyncio.run(main()).status == "completed"
