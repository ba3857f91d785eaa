"""`kill -9` in the middle of a run, then recovery: committed nodes never run again.

A chain of http nodes calls the loopback server, one path per node, so the server's counts
are an independent witness of which nodes ran and how often.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import FuchsiaEnv
from support.httpserver import LoopbackServer

CHAIN = 40
DELAY = 0.05  # seconds the server waits before answering each node: the run takes ~2 s
KILL_AFTER = 8  # nodes the server has seen before the kill
DEADLINE = 30.0  # seconds to wait for any one thing before the test fails


def chain_workflow(server: LoopbackServer, prefix: str, length: int, delay: float) -> str:
    lines = [f"name: {prefix}", "nodes:"]
    for i in range(length):
        lines.append(f"  n{i}:")
        if i:
            lines.append(f"    after: n{i - 1}")
        lines.append(f'    http: {{url: "{server.url(f"/ok/{prefix}-n{i}")}?delay={delay}"}}')
    return "\n".join(lines) + "\n"


def path_of(prefix: str, node_id: str) -> str:
    return f"/ok/{prefix}-{node_id}"


def wait_for_calls(
    server: LoopbackServer, prefix: str, count: int, process: subprocess.Popen[str]
) -> None:
    """Poll the server until `count` distinct node paths were called."""
    deadline = time.monotonic() + DEADLINE
    while len(server.counts(f"/ok/{prefix}-")) < count:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(
                f"`fuchsia run` exited {process.returncode} before {count} nodes ran\n"
                f"stdout:\n{out}\nstderr:\n{err}"
            )
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            pytest.fail(
                f"only {len(server.counts(f'/ok/{prefix}-'))} of {count} nodes called the "
                f"server within {DEADLINE}s"
            )
        time.sleep(0.01)


def process_state(pid: int) -> str:
    """The state letter of a process from /proc (Z: a zombie nobody has reaped yet)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()[0]


def kill_mid_run(
    env: FuchsiaEnv,
    server: LoopbackServer,
    workflow: Path,
    prefix: str,
    *extra: str,
    reap: bool = True,
) -> tuple[dict[str, Any], subprocess.Popen[str]]:
    """Start `fuchsia run`, SIGKILL it once some nodes ran, and return the stored execution.

    With `reap=False` the killed process is left a zombie (as it is until its parent waits
    for it), and the caller must wait for it."""
    process = env.popen("run", str(workflow), "--db", str(env.db), "--json", *extra)
    wait_for_calls(server, prefix, KILL_AFTER, process)
    os.kill(process.pid, signal.SIGKILL)
    if reap:
        process.communicate()  # the pid is gone, as after a crash whose parent noticed
        assert process.returncode == -signal.SIGKILL
    try:
        if not reap:
            assert process.stdout is not None and process.stderr is not None
            process.stdout.read()  # the pipes close when the process dies
            process.stderr.read()
            deadline = time.monotonic() + DEADLINE
            while process_state(process.pid) != "Z":
                assert time.monotonic() < deadline, "the killed process did not become a zombie"
                time.sleep(0.01)
        listed = env.json("runs", "list", "--db", str(env.db))
        assert len(listed) == 1, listed
        assert listed[0]["status"] == "running", listed
        shown: dict[str, Any] = env.json("runs", "show", listed[0]["id"], "--db", str(env.db))
    except BaseException:
        process.communicate()
        raise
    return shown, process


def check_recovered(
    server: LoopbackServer,
    prefix: str,
    before: dict[str, Any],
    calls_at_kill: dict[str, int],
    after: dict[str, Any],
) -> None:
    committed = [n["id"] for n in before["nodes"] if n["status"] == "succeeded"]
    assert 0 < len(committed) < CHAIN, f"the kill should land mid-run; committed: {committed}"

    assert after["status"] == "completed", after["error"]
    assert [n["id"] for n in after["nodes"]] == [f"n{i}" for i in range(CHAIN)]
    for node in after["nodes"]:
        statuses = [a["status"] for a in node["attempts"]]
        assert node["status"] == "succeeded", (node["id"], statuses)
        assert statuses.count("succeeded") == 1, (node["id"], statuses)
        assert set(statuses) <= {"succeeded", "interrupted"}, (node["id"], statuses)
    for node in before["nodes"]:
        if node["status"] == "succeeded":
            later = next(n for n in after["nodes"] if n["id"] == node["id"])
            assert later["attempts"] == node["attempts"], f"{node['id']} was run again"

    counts = server.counts(f"/ok/{prefix}-")
    assert set(counts) == {path_of(prefix, f"n{i}") for i in range(CHAIN)}
    for node_id in committed:
        path = path_of(prefix, node_id)
        assert calls_at_kill[path] == 1, f"{node_id} was called {calls_at_kill[path]} times"
        assert counts[path] == 1, f"committed node {node_id} called the server again"
    twice = {p: n for p, n in counts.items() if n != 1}
    assert len(twice) <= 1 and all(n == 2 for n in twice.values()), twice
    if twice:
        (path,) = twice
        in_flight = [n["id"] for n in before["nodes"] if n["status"] == "running"]
        assert [path_of(prefix, n) for n in in_flight] == [path], (twice, in_flight)


@pytest.mark.slow
def test_resume_after_kill_runs_only_what_had_not_committed(
    fuchsia_env: FuchsiaEnv, http_server: LoopbackServer
) -> None:
    prefix = f"crash-{uuid.uuid4().hex[:8]}"
    workflow = fuchsia_env.home / "chain.yaml"
    workflow.write_text(chain_workflow(http_server, prefix, CHAIN, DELAY))

    before, killed = kill_mid_run(fuchsia_env, http_server, workflow, prefix, reap=False)
    calls_at_kill = http_server.counts(f"/ok/{prefix}-")

    # the owner died on this host (its pid is a zombie not yet reaped): resume takes over at
    # once instead of waiting for the owner's lease to run out
    try:
        resumed = fuchsia_env.json("runs", "resume", "--db", str(fuchsia_env.db))
    finally:
        killed.communicate()  # reap it and close its pipes
    assert killed.returncode == -signal.SIGKILL
    assert [e["id"] for e in resumed] == [before["id"]]
    assert resumed[0]["status"] == "completed"

    after = fuchsia_env.json("runs", "show", before["id"], "--db", str(fuchsia_env.db))
    check_recovered(http_server, prefix, before, calls_at_kill, after)
    interrupted = [
        n["id"] for n in after["nodes"] if any(a["status"] == "interrupted" for a in n["attempts"])
    ]
    running_at_kill = [n["id"] for n in before["nodes"] if n["status"] == "running"]
    assert interrupted == running_at_kill

    # a second resume finds nothing left to do
    assert fuchsia_env.json("runs", "resume", "--db", str(fuchsia_env.db)) == []


@pytest.mark.slow
def test_rerun_with_the_same_idempotency_key_continues_a_killed_run(
    fuchsia_env: FuchsiaEnv, http_server: LoopbackServer
) -> None:
    prefix = f"crash-key-{uuid.uuid4().hex[:8]}"
    workflow = fuchsia_env.home / "chain.yaml"
    workflow.write_text(chain_workflow(http_server, prefix, CHAIN, DELAY))
    key = ("--idempotency-key", f"key-{prefix}")

    before, _ = kill_mid_run(fuchsia_env, http_server, workflow, prefix, *key)
    calls_at_kill = http_server.counts(f"/ok/{prefix}-")

    after = fuchsia_env.json("run", str(workflow), "--db", str(fuchsia_env.db), *key)
    assert after["id"] == before["id"]
    check_recovered(http_server, prefix, before, calls_at_kill, after)
    assert len(fuchsia_env.json("runs", "list", "--db", str(fuchsia_env.db))) == 1


@pytest.mark.slow
def test_idempotency_key_returns_the_same_execution(
    fuchsia_env: FuchsiaEnv, http_server: LoopbackServer
) -> None:
    prefix = f"idem-{uuid.uuid4().hex[:8]}"
    workflow = fuchsia_env.home / "chain.yaml"
    workflow.write_text(chain_workflow(http_server, prefix, 3, 0))
    args = ("run", str(workflow), "--idempotency-key", "order-42", "--db", str(fuchsia_env.db))

    first = fuchsia_env.json(*args)
    second = fuchsia_env.json(*args)

    assert first["status"] == second["status"] == "completed"
    assert second["id"] == first["id"]
    assert second["idempotency_key"] == "order-42"
    assert second["result"] == first["result"]
    assert http_server.counts(f"/ok/{prefix}-") == {path_of(prefix, f"n{i}"): 1 for i in range(3)}
    listed = fuchsia_env.json("runs", "list", "--db", str(fuchsia_env.db))
    assert [e["id"] for e in listed] == [first["id"]]

    # a different key is a different execution
    other = fuchsia_env.json("run", str(workflow), "--idempotency-key", "order-43")
    assert other["id"] != first["id"]
    assert len(fuchsia_env.json("runs", "list")) == 2
