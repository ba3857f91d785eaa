"""SIGKILL at seeded random moments of a 200-node fan-out/fan-in, then `fuchsia runs resume`
in a new process: 30 runs per store, every one completes, each node's output is committed
exactly once, a node committed before the kill never runs again (the loopback server's counts
say so independently of the store), and the store's integrity holds.

The moment of each kill is a seeded pause after the first node (`start`) called the server,
from 0 to 600 ms: the fan-out's nodes take 10-500 ms, so kills land before `start` committed,
before any fan-out node did, among their commits, and around the fan-in.
Runs go several at a time (each on its own store) to keep the suite short.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from e2e.conftest import FuchsiaEnv, make_fuchsia_env
from fuchsia.store import open_store
from fuchsia.store.records import NodeRecord
from support.httpserver import LoopbackServer
from support.postgres import PgServer

RUNS = 30
WIDTH = 200  # fan-out nodes between `start` and `end`
HTTP_EVERY = 4
AT_ONCE = 3  # runs in flight together
SEED = 8_2026
DEADLINE = 60.0  # seconds for one thing before the test fails


def fanout_workflow(server: LoopbackServer, prefix: str, rng: random.Random) -> str:
    start = server.url(f"/ok/{prefix}-start")
    lines = [f"name: {prefix}", "nodes:", f'  start: {{http: {{url: "{start}"}}}}']
    for i in range(WIDTH):
        delay = rng.uniform(0.01, 0.5)
        if is_http(f"n{i}"):
            url = f"{server.url(f'/ok/{prefix}-n{i}')}?delay={delay:.3f}"
            lines.append(f'  n{i}: {{after: start, http: {{url: "{url}"}}}}')
        else:
            lines.append(f"  n{i}: {{after: start, wait: {{for: {delay * 1000:.0f}ms}}}}")
    after = ", ".join(f"n{i}" for i in range(WIDTH))
    lines.append(
        f"  end: {{after: [{after}], join: all, transform: {{n: '{{{{ data | length }}}}'}}}}"
    )
    return "\n".join(lines) + "\n"


def is_http(node_id: str) -> bool:
    """`start` and every fourth fan-out node call the server (the witness); the other
    fan-out nodes are timers."""
    if node_id == "start":
        return True
    return node_id.startswith("n") and int(node_id[1:]) % HTTP_EVERY == 0


@dataclass
class Run:
    index: int
    env: FuchsiaEnv
    url: str
    prefix: str
    workflow: Path
    pause: float


def read_state(url: str) -> tuple[str, str, dict[str, NodeRecord]]:
    """The one execution in the store at `url`: its id, status and node records."""

    async def read() -> tuple[str, str, dict[str, NodeRecord]]:
        store = open_store(url)
        await store.open()
        try:
            (record,) = await store.list_executions()
            return record.id, record.status, await store.get_nodes(record.id)
        finally:
            await store.close()

    return asyncio.run(read())


def kill_at(run: Run, server: LoopbackServer) -> subprocess.Popen[str]:
    """Start `fuchsia run` and SIGKILL it `run.pause` seconds after `start` called."""
    process = run.env.popen("run", str(run.workflow), "--db", run.url, "--json")
    deadline = time.monotonic() + DEADLINE
    while not server.count(f"/ok/{run.prefix}-start"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"run {run.index}: `fuchsia run` ended early\n{out}\n{err}")
        time.sleep(0.002)
    time.sleep(run.pause)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    return process


def one_run(run: Run, server: LoopbackServer) -> str:
    """Kill, resume, check; a short line saying where the kill landed."""
    killed = kill_at(run, server)
    if killed.returncode != -signal.SIGKILL:
        pytest.fail(f"run {run.index}: finished before the kill ({killed.returncode})")
    execution_id, status, before = read_state(run.url)
    at_kill = server.counts(f"/ok/{run.prefix}-")
    resumed = run.env.json("runs", "resume", "--db", run.url)
    if status == "completed":  # killed while it exited: nothing is left to resume
        assert resumed == [], (run.index, resumed)
    else:
        assert [r["id"] for r in resumed] == [execution_id], (run.index, status, resumed)
        assert resumed[0]["status"] == "completed", (run.index, resumed[0])
    _, status_after, after = read_state(run.url)
    assert status_after == "completed"
    check_once(run, server, before, at_kill, after)
    check_integrity(run.url, execution_id)
    committed = sum(n.status == "succeeded" for n in before.values())
    return f"{status} with {committed} nodes committed and {len(at_kill)} called"


def check_once(
    run: Run,
    server: LoopbackServer,
    before: dict[str, NodeRecord],
    at_kill: dict[str, int],
    after: dict[str, NodeRecord],
) -> None:
    assert sorted(after) == sorted(["start", "end", *(f"n{i}" for i in range(WIDTH))])
    counts = server.counts(f"/ok/{run.prefix}-")
    for node_id, node in after.items():
        statuses: list[str] = [a.status for a in node.attempts]
        assert node.status == "succeeded", (run.index, node_id, statuses)
        assert statuses.count("succeeded") == 1, (run.index, node_id, statuses)
        assert set(statuses) <= {"succeeded", "interrupted"}, (run.index, node_id, statuses)
        if not is_http(node_id):
            continue
        calls = counts.get(f"/ok/{run.prefix}-{node_id}", 0)
        assert 1 <= calls <= len(statuses), (run.index, node_id, calls, statuses)
    for node_id, node in before.items():
        if node.status != "succeeded":
            continue
        assert after[node_id].attempts == node.attempts, f"{node_id} ran again"
        if is_http(node_id):
            path = f"/ok/{run.prefix}-{node_id}"
            assert at_kill[path] == counts[path] == 1, (run.index, node_id)
    assert after["end"].output == {"n": WIDTH}


def check_integrity(url: str, execution_id: str) -> None:
    """SQLite's own integrity check; on both stores, one row per node and exactly one
    succeeded attempt per succeeded node."""
    queries = (
        "SELECT count(*) FROM node_runs WHERE execution_id = {p}",
        "SELECT n.node_id, count(a.number) FROM node_runs n LEFT JOIN attempts a "
        "ON a.execution_id = n.execution_id AND a.node_id = n.node_id AND a.status = 'succeeded' "
        "WHERE n.execution_id = {p} AND n.status = 'succeeded' GROUP BY n.node_id",
        "SELECT node_id, count(*) FROM events WHERE execution_id = {p} "
        "AND type = 'node_succeeded' GROUP BY node_id",
    )
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as conn:
            rows = [conn.execute(q.format(p="%s"), (execution_id,)).fetchall() for q in queries]
    else:
        with sqlite3.connect(url) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows = [conn.execute(q.format(p="?"), (execution_id,)).fetchall() for q in queries]
    assert rows[0] == [(WIDTH + 2,)]
    assert len(rows[1]) == WIDTH + 2 and {n for _, n in rows[1]} == {1}, rows[1]
    assert Counter(dict(rows[2])) == Counter(dict.fromkeys(dict(rows[1]), 1))


def fresh_database(request: pytest.FixtureRequest) -> str:
    """A new, empty database on the session's PostgreSQL server (one per run)."""
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database(f"kill_{uuid.uuid4().hex}")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_killed_fanouts_resume_and_commit_each_output_once(
    backend: str, tmp_path: Path, server: LoopbackServer, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(f"{SEED}-{backend}")
    runs = []
    for index in range(RUNS):
        (tmp_path / f"run{index}").mkdir()
        env = make_fuchsia_env(tmp_path / f"run{index}")
        url = str(env.db) if backend == "sqlite" else fresh_database(request)
        prefix = f"kill-{uuid.uuid4().hex[:8]}"
        workflow = env.home / "fanout.yaml"
        workflow.write_text(fanout_workflow(server, prefix, rng))
        runs.append(Run(index, env, url, prefix, workflow, rng.uniform(0, 0.6)))
    with ThreadPoolExecutor(AT_ONCE) as pool:
        landed = list(pool.map(lambda r: one_run(r, server), runs))
    print("\n".join(f"run {i}: killed {where}" for i, where in enumerate(landed)))  # with -s
    assert len(landed) == RUNS
