"""Pausing: running nodes finish, nothing new starts until the execution is resumed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fuchsia import Engine, Execution
from fuchsia.errors import InvalidState
from support.httpserver import LoopbackServer


def test_a_paused_execution_finishes_running_nodes_and_starts_nothing_new(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(f"""
name: pausable
nodes:
  first: {{transform: {{x: 1}}}}
  slow: {{after: first, http: {{url: "{loopback.url("/slow?seconds=0.5")}"}}}}
  last: {{after: slow, transform: {{done: true}}}}
""")

    async def main() -> tuple[Execution, Execution, Execution]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            execution_id = await engine.start(str(flow))
            while (await engine.get(execution_id)).node("slow").status != "running":
                await asyncio.sleep(0.02)
            paused = await engine.pause(execution_id)
            while (await engine.get(execution_id)).node("slow").status != "succeeded":
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # time enough for `last` to start, if it were going to
            held = await engine.get(execution_id)
            await engine.resume([execution_id])
            return paused, held, await engine.wait(execution_id)

    paused, held, done = asyncio.run(main())
    assert paused.status == "paused"
    assert held.status == "paused"
    assert held.node("last").status == "pending"
    assert done.status == "completed"
    assert done.result == {"done": True}


def test_pausing_a_finished_execution_is_an_error(tmp_path: Path) -> None:
    flow = tmp_path / "q.yaml"
    flow.write_text("name: q\nnodes:\n  a: {transform: {x: 1}}\n")

    async def main() -> None:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            done = await engine.run(str(flow))
            with pytest.raises(InvalidState, match="already completed; nothing to pause"):
                await engine.pause(done.id)

    asyncio.run(main())


def test_pausing_an_execution_being_cancelled_is_an_error_and_the_cancel_goes_on(
    tmp_path: Path,
) -> None:
    """A cancel left for the execution's driver (as another process leaves it) is not
    replaced by a pause sent before the driver acts on it: the pause is refused, the
    execution ends cancelled."""
    flow = tmp_path / "gate.yaml"
    flow.write_text("name: gate\nnodes:\n  gate: {wait: {signal: go}}\n")

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            execution_id = await engine.start(str(flow))
            while (await engine.get(execution_id)).node("gate").status != "running":
                await asyncio.sleep(0.02)
            assert await engine.store.request(execution_id, "cancel")
            with pytest.raises(InvalidState, match="cancel"):
                await engine.pause(execution_id)
            return await engine.wait(execution_id)

    assert asyncio.run(main()).status == "cancelled"


def test_a_paused_execution_survives_a_restart_paused(tmp_path: Path) -> None:
    flow = tmp_path / "wait.yaml"
    flow.write_text("""
name: later
nodes:
  a: {wait: {for: 200ms}}
  b: {after: a, transform: {ok: true}}
""")
    db = str(tmp_path / "f.db")

    async def first() -> str:
        async with await Engine.open(db) as engine:
            execution_id = await engine.start(str(flow))
            await engine.pause(execution_id)
            return execution_id

    async def second(execution_id: str) -> tuple[str, Execution]:
        async with await Engine.open(db) as engine:
            status = (await engine.get(execution_id)).status
            await engine.resume([execution_id])
            return status, await engine.wait(execution_id)

    status, done = asyncio.run(second(asyncio.run(first())))
    assert status == "paused"
    assert done.status == "completed"


def test_closing_with_a_grace_period_lets_running_nodes_finish_and_starts_nothing_new(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(f"""
name: draining
nodes:
  slow: {{http: {{url: "{loopback.url("/slow?seconds=0.3")}"}}}}
  next: {{after: slow, transform: {{x: 1}}}}
""")
    db = str(tmp_path / "f.db")

    async def first() -> str:
        engine = await Engine.open(db)
        execution_id = await engine.start(str(flow))
        while (await engine.get(execution_id)).node("slow").status != "running":
            await asyncio.sleep(0.02)
        await engine.close(grace=10)
        return execution_id

    async def second(execution_id: str) -> tuple[Execution, Execution]:
        async with await Engine.open(db) as engine:
            before = await engine.get(execution_id)
            await engine.resume([execution_id])
            return before, await engine.get(execution_id)

    before, after = asyncio.run(second(asyncio.run(first())))
    assert before.node("slow").status == "succeeded"  # finished during the grace period
    assert before.node("next").status == "pending"  # not started while draining
    assert before.status == "running"  # left resumable
    assert after.status == "completed"
