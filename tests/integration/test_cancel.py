"""Cancelling executions: from this engine, from another process, and idempotently."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuchsia import Engine, Execution
from fuchsia.errors import InvalidState
from support.httpserver import LoopbackServer

SLOW = """
name: slow
nodes:
  first: {{transform: {{x: 1}}}}
  wait_long:
    after: first
    http: {{url: "{url}", timeout: 60s}}
  never: {{after: wait_long, transform: {{y: 2}}}}
"""


def test_cancel_interrupts_running_nodes_and_cancels_the_rest(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    flow = tmp_path / "slow.yaml"
    flow.write_text(SLOW.format(url=loopback.url("/slow?seconds=30")))

    async def main() -> tuple[Execution, Execution]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            execution_id = await engine.start(str(flow))
            while (await engine.get(execution_id)).node("wait_long").status != "running":
                await asyncio.sleep(0.02)
            cancelled = await engine.cancel(execution_id)
            again = await engine.cancel(execution_id)  # idempotent
            return cancelled, again

    cancelled, again = asyncio.run(main())
    assert cancelled.status == again.status == "cancelled"
    assert cancelled.error == {"type": "cancelled", "message": "the execution was cancelled"}
    statuses = {node.id: node.status for node in cancelled.nodes}
    assert statuses == {"first": "succeeded", "wait_long": "cancelled", "never": "cancelled"}
    assert cancelled.node("wait_long").attempts[0].status == "cancelled"


def test_cancelling_a_finished_execution_is_a_clear_error(tmp_path: Path) -> None:
    flow = tmp_path / "quick.yaml"
    flow.write_text("name: quick\nnodes:\n  a: {transform: {x: 1}}\n")

    async def main() -> None:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            done = await engine.run(str(flow))
            with pytest.raises(InvalidState, match="already completed; nothing to cancel"):
                await engine.cancel(done.id)

    asyncio.run(main())


def test_runs_cancel_stops_an_execution_running_in_another_process(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    flow = tmp_path / "slow.yaml"
    flow.write_text(SLOW.format(url=loopback.url("/slow?seconds=30")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env["FUCHSIA_HOME"] = str(tmp_path / "home")
    runner = subprocess.Popen(
        [sys.executable, "-m", "fuchsia", "run", str(flow), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        execution_id = ""
        deadline = time.monotonic() + 60
        while not execution_id and time.monotonic() < deadline:
            listed = subprocess.run(
                [sys.executable, "-m", "fuchsia", "runs", "list", "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            records = json.loads(listed.stdout) if listed.returncode == 0 else []  # no store yet
            running = [r for r in records if r["status"] == "running"]
            execution_id = running[0]["id"] if running else ""
            time.sleep(0.1)
        assert execution_id, "the execution never started"
        cancel = subprocess.run(
            [sys.executable, "-m", "fuchsia", "runs", "cancel", execution_id, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cancel.returncode == 0, cancel.stderr
        assert json.loads(cancel.stdout)["status"] == "cancelled"
        out, err = runner.communicate(timeout=60)
        assert runner.returncode == 1, err  # the running process saw its execution cancelled
        assert json.loads(out)["status"] == "cancelled"
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()


GATE = """
name: gate
nodes:
  first: {transform: {x: 1}}
  gate: {after: first, wait: {signal: go}}
  later: {after: gate, transform: {y: 2}}
"""


def test_closing_an_engine_records_its_running_attempts_interrupted_and_a_resume_reruns_them(
    tmp_path: Path, store_url: str
) -> None:
    """Ctrl-C or a server's shutdown: the store says at once which attempts stopped (before,
    they stayed `running` until someone resumed), committed nodes stay committed."""
    flow = tmp_path / "gate.yaml"
    flow.write_text(GATE)

    async def stop() -> str:
        async with await Engine.open(store_url) as engine:
            execution_id = await engine.start(str(flow))
            while (await engine.get(execution_id)).node("gate").status != "running":
                await asyncio.sleep(0.02)
            return execution_id

    async def look_then_finish(execution_id: str) -> tuple[Execution, list[str], Execution]:
        async with await Engine.open(store_url) as engine:
            stopped = await engine.get(execution_id)
            events = [e.type for e in await engine.events(execution_id)]
            await engine.signal(execution_id, "go")
            await engine.resume([execution_id])
            return stopped, events, await engine.wait(execution_id)

    execution_id = asyncio.run(stop())
    stopped, events, done = asyncio.run(look_then_finish(execution_id))
    assert stopped.node("first").status == "succeeded"
    assert stopped.node("gate").status == "pending"
    [attempt] = stopped.node("gate").attempts
    assert attempt.status == "interrupted"
    assert attempt.error is not None
    assert "the engine was stopped before this attempt finished" in attempt.error["message"]
    assert events[-2:] == ["node_interrupted", "execution_interrupted"]
    assert done.status == "completed", done.error
    assert [a.status for a in done.node("gate").attempts] == ["interrupted", "succeeded"]
    assert [a.status for a in done.node("first").attempts] == ["succeeded"]
