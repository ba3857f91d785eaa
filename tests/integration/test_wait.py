"""`wait` nodes: signals (kept until consumed) and durable timers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fuchsia import Engine, Execution
from fuchsia.errors import InvalidState
from support.flows import cli_in

APPROVAL = """
name: approval
nodes:
  request: {transform: {amount: "{{ amount }}"}}
  approve:
    after: request
    wait: {signal: approval}
  book:
    after: approve
    transform: {approved_by: "{{ by }}", note: "{{ note }}"}
"""


def flow(tmp_path: Path, text: str) -> str:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return str(path)


async def until_status(engine: Engine, execution_id: str, status: str) -> None:
    while (await engine.get(execution_id)).status != status:
        await asyncio.sleep(0.02)


def test_a_signal_continues_a_waiting_execution_with_its_payload(tmp_path: Path) -> None:
    async def main() -> tuple[str, Execution]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            execution_id = await engine.start(flow(tmp_path, APPROVAL), {"amount": 10})
            await until_status(engine, execution_id, "waiting")
            waiting = (await engine.get(execution_id)).node("approve").status
            await engine.signal(execution_id, "approval", {"by": "ada", "note": "ok"})
            return waiting, await engine.wait(execution_id)

    waiting, execution = asyncio.run(main())
    assert waiting == "running"
    assert execution.status == "completed"
    assert execution.node("approve").output == {"by": "ada", "note": "ok"}
    assert execution.result == {"approved_by": "ada", "note": "ok"}


def test_a_signal_sent_before_the_node_waits_is_not_lost(tmp_path: Path) -> None:
    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            execution_id = await engine.start(
                flow(tmp_path, APPROVAL), {"amount": 1}, detached=True
            )  # recorded, nothing runs yet
            await engine.signal(execution_id, "approval", {"by": "early", "note": "first"})
            await engine.signal(execution_id, "approval", {"by": "late", "note": "second"})
            await engine.resume([execution_id])
            return await engine.get(execution_id)

    execution = asyncio.run(main())
    assert execution.status == "completed"
    assert execution.result == {"approved_by": "early", "note": "first"}  # oldest first


def test_a_signal_to_a_finished_execution_is_a_clear_error(tmp_path: Path) -> None:
    async def main() -> None:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            done = await engine.run(flow(tmp_path, "name: q\nnodes:\n  a: {transform: {x: 1}}\n"))
            with pytest.raises(InvalidState, match="is completed; signals go to executions"):
                await engine.signal(done.id, "approval", {})

    asyncio.run(main())


def test_a_wait_survives_the_engine_stopping(tmp_path: Path) -> None:
    path = flow(tmp_path, APPROVAL)
    db = str(tmp_path / "f.db")

    async def first() -> str:
        async with await Engine.open(db) as engine:
            execution_id = await engine.start(path, {"amount": 3})
            await until_status(engine, execution_id, "waiting")
            return execution_id  # closing the engine leaves the execution waiting

    async def second(execution_id: str) -> Execution:
        async with await Engine.open(db) as engine:
            assert (await engine.get(execution_id)).status == "waiting"
            await engine.signal(execution_id, "approval", {"by": "bo", "note": "later"})
            await engine.resume([execution_id])
            return await engine.get(execution_id)

    execution = asyncio.run(second(asyncio.run(first())))
    assert execution.status == "completed"
    assert execution.result == {"approved_by": "bo", "note": "later"}
    assert [a.status for a in execution.node("approve").attempts] == ["interrupted", "succeeded"]


def test_timers_wait_for_a_duration_or_until_a_moment(tmp_path: Path) -> None:
    text = """
name: timers
nodes:
  pause: {wait: {for: 100ms}}
  past: {wait: {until: "2020-01-01T00:00:00Z"}}
  both: {after: [pause, past], join: all, transform: {ok: true}}
"""

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            return await engine.run(flow(tmp_path, text))

    execution = asyncio.run(main())
    assert execution.status == "completed"
    assert set(execution.node("pause").output) == {"waited", "until"}
    assert execution.node("past").output["until"].startswith("2020-01-01T00:00:00")


def test_a_wait_that_times_out_is_timed_out(tmp_path: Path) -> None:
    text = "name: late\nnodes:\n  approve: {wait: {signal: go, timeout: 100ms}}\n"

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            return await engine.run(flow(tmp_path, text))

    execution = asyncio.run(main())
    assert execution.status == "failed"
    assert execution.node("approve").status == "timed_out"


def test_runs_signal_from_the_command_line(tmp_path: Path) -> None:
    cli = cli_in(tmp_path)
    path = flow(tmp_path, APPROVAL)

    started = cli("run", path, "--input", '{"amount": 5}', "--detach")
    execution_id = started.stdout.strip()
    sent = cli(
        "runs", "signal", execution_id, "approval", "--payload", '{"by": "cli", "note": "n"}'
    )
    assert sent.returncode == 0, sent.stderr
    assert "signal 'approval' sent" in sent.stdout
    shown = {}
    for _ in range(300):
        shown = json.loads(cli("runs", "show", execution_id, "--json").stdout)
        if shown["status"] == "completed":
            break
    assert shown["status"] == "completed"
    assert shown["result"] == {"approved_by": "cli", "note": "n"}
    bad = cli("runs", "signal", execution_id, "approval", "--payload", "{not json")
    assert bad.returncode == 1
    assert "--payload is not valid JSON" in bad.stderr
