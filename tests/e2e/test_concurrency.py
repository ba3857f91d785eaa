"""Fifty executions at once on one SQLite file, from two processes, with no lock errors.

Each execution starts with an http node that the loopback server holds until all fifty have
called it, so the fifty are provably in flight together; then each runs a ten-node transform
chain, all of them committing to the same file at the same time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from e2e.conftest import CLI_TIMEOUT, FuchsiaEnv
from fuchsia import Engine
from support.httpserver import LoopbackServer

PROCESSES = 2
PER_PROCESS = 25
CHAIN = 10  # transform nodes after the gate
BARRIER_TIMEOUT = 20  # seconds the server holds a gate call waiting for the others

# Each worker opens an engine, writes its ready file, waits for the go file (so both processes
# really run at the same time), then starts all its executions at once and prints how they ended.
WORKER = """
import asyncio, json, sys, time
from pathlib import Path
from fuchsia import Engine

async def main(db, workflow, tag, count, go):
    async with await Engine.open(db=db) as engine:
        Path(go).with_name("ready-" + tag).touch()
        deadline = time.monotonic() + 30
        while not Path(go).exists():
            if time.monotonic() > deadline:
                sys.exit("the go file never appeared")
            await asyncio.sleep(0.005)
        runs = [engine.run(workflow, {"tag": tag, "i": i}) for i in range(count)]
        done = await asyncio.gather(*runs)
    print(json.dumps([{"id": e.id, "status": e.status, "result": e.result} for e in done]))

db, workflow, tag, count, go = sys.argv[1:]
asyncio.run(main(db, workflow, tag, int(count), go))
"""


def workflow_text(server: LoopbackServer, key: str, length: int) -> str:
    """A gate that holds every execution until all of them are in flight, then a transform
    chain that counts `v` up from the payload's `i` (read through the trigger's context)."""
    total = PROCESSES * PER_PROCESS
    gate = server.url(f"/barrier/{key}") + f"?n={total}&timeout={BARRIER_TIMEOUT}"
    lines = [
        "name: counting",
        "trigger:",
        "  schema: {type: object, required: [tag, i]}",
        '  context: {tag: "{{ tag }}", i: "{{ i }}"}',
        "nodes:",
        "  gate:",
        f'    http: {{url: "{gate}"}}',
        "  s0:",
        "    after: gate",
        '    transform: {tag: "{{ context.tag }}", i: "{{ context.i }}", v: "{{ context.i }}",'
        ' arrived: "{{ json.arrived }}"}',
    ]
    for n in range(1, length):
        lines += [
            f"  s{n}:",
            f"    after: s{n - 1}",
            '    transform: {tag: "{{ tag }}", i: "{{ i }}", v: "{{ v + 1 }}",'
            ' arrived: "{{ arrived }}"}',
        ]
    return "\n".join(lines) + "\n"


def wait_until_ready(workers: list[subprocess.Popen[str]], ready: list[Path]) -> None:
    """Poll for every worker's ready file; fail clearly if one dies or the deadline passes."""
    deadline = time.monotonic() + CLI_TIMEOUT
    while not all(r.exists() for r in ready):
        for worker in workers:
            if worker.poll() is not None:
                out, err = worker.communicate()
                pytest.fail(f"a worker exited {worker.returncode} before it was ready\n{out}{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"the workers were not ready within {CLI_TIMEOUT}s")
        time.sleep(0.01)


@pytest.mark.slow
def test_fifty_executions_from_two_processes_on_one_sqlite_file(
    fuchsia_env: FuchsiaEnv, http_server: LoopbackServer, tmp_path: Path
) -> None:
    key = f"fifty-{uuid.uuid4().hex[:8]}"
    workflow = tmp_path / "counting.yaml"
    workflow.write_text(workflow_text(http_server, key, CHAIN))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    db = str(fuchsia_env.db)

    workers = [
        subprocess.Popen(
            [sys.executable, str(script), db, str(workflow), f"p{p}", str(PER_PROCESS), str(go)],
            env=fuchsia_env.env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(PROCESSES)
    ]
    try:
        wait_until_ready(workers, [tmp_path / f"ready-p{p}" for p in range(PROCESSES)])
        go.touch()
        try:
            outputs = [w.communicate(timeout=CLI_TIMEOUT) for w in workers]
        except subprocess.TimeoutExpired:
            pytest.fail(f"the workers did not finish within {CLI_TIMEOUT}s")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()

    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, f"worker exited {worker.returncode}\n{out}\n{err}"
        assert "database is locked" not in (out + err).lower()
        assert "Traceback" not in err, err

    reported = [item for out, _ in outputs for item in json.loads(out.splitlines()[-1])]
    assert len(reported) == PROCESSES * PER_PROCESS
    assert {r["status"] for r in reported} == {"completed"}
    for r in reported:
        assert r["result"]["v"] == r["result"]["i"] + CHAIN - 1, r
        assert r["result"]["arrived"] >= PROCESSES * PER_PROCESS, r
    # every execution was held at the gate until all of them had reached it: 50 at once
    assert http_server.count(f"/barrier/{key}") == PROCESSES * PER_PROCESS

    async def stored() -> None:
        async with await Engine.open(db=db) as engine:
            everything = await engine.list(limit=1000)
            completed = await engine.list(limit=1000, status="completed")
            assert len(everything) == PROCESSES * PER_PROCESS
            assert {e.id for e in completed} == {r["id"] for r in reported}
            seen = set()
            for record in completed:
                execution = await engine.get(record.id)
                assert [n.status for n in execution.nodes] == ["succeeded"] * (CHAIN + 1)
                assert all(len(n.attempts) == 1 for n in execution.nodes)
                seen.add((execution.result["tag"], execution.result["i"]))
            expected = {(f"p{p}", i) for p in range(PROCESSES) for i in range(PER_PROCESS)}
            assert seen == expected

    asyncio.run(stored())

    listed = fuchsia_env.json("runs", "list", "--limit", "100", "--status", "completed")
    assert len(listed) == PROCESSES * PER_PROCESS
