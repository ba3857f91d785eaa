"""`kill -9` during control flow: a half-done foreach, a wait for a signal, a retry backoff
(a node's, and foreach items').

After the restart every execution finishes with the right result, and nothing that had been
committed runs again (the loopback server's counts are the witness).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from e2e.conftest import FuchsiaEnv, wait_until
from support.httpserver import LoopbackServer

ITEMS = 50
CONCURRENCY = 5

pytestmark = pytest.mark.slow


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate()


def item_rows(db: Path, node: str) -> dict[int, str]:
    """The stored status of each of `node`'s foreach items, by index."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT item, status FROM node_runs WHERE node_id = ? AND item >= 0", (node,)
            ).fetchall()
    except sqlite3.OperationalError:  # the run has not created the file or its tables yet
        return {}
    return {int(item): str(status) for item, status in rows}


def only_execution(env: FuchsiaEnv) -> str:
    [listed] = env.json("runs", "list")
    return str(listed["id"])


def test_a_killed_foreach_resumes_without_rerunning_committed_items(
    fuchsia_env: FuchsiaEnv, http_server: LoopbackServer, tmp_path: Path
) -> None:
    prefix = f"fe-{uuid.uuid4().hex[:8]}"
    flow = tmp_path / "map.yaml"
    flow.write_text(f"""
name: map
nodes:
  each:
    foreach: {{items: "{{{{ range({ITEMS}) | list }}}}", concurrency: {CONCURRENCY}}}
    http: {{url: "{http_server.url(f"/ok/{prefix}-")}{{{{ item }}}}?delay=0.03"}}
  total:
    after: each
    transform: {{count: "{{{{ data | length }}}}", first: "{{{{ data[0].json.name }}}}"}}
""")
    process = fuchsia_env.popen("run", str(flow), "--json")
    wait_until(
        "half the items", lambda: len(http_server.counts(f"/ok/{prefix}-")) >= ITEMS // 2, process
    )
    kill(process)
    committed = [k for k, s in item_rows(fuchsia_env.db, "each").items() if s == "succeeded"]
    calls_at_kill = http_server.counts(f"/ok/{prefix}-")
    assert 0 < len(committed) < ITEMS

    resumed = fuchsia_env.run("runs", "resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    shown = fuchsia_env.json("runs", "show", only_execution(fuchsia_env))
    assert shown["status"] == "completed", shown["error"]
    assert shown["result"] == {"count": ITEMS, "first": f"{prefix}-0"}

    counts = http_server.counts(f"/ok/{prefix}-")
    assert len(counts) == ITEMS
    for index in committed:
        path = f"/ok/{prefix}-{index}"
        assert calls_at_kill[path] == 1 and counts[path] == 1, f"committed item {index} ran again"
    again = [p for p, n in counts.items() if n > 1]
    assert len(again) <= CONCURRENCY, again  # only items in flight at the kill ran twice


def test_a_killed_wait_resumes_and_takes_its_signal(
    fuchsia_env: FuchsiaEnv, tmp_path: Path
) -> None:
    flow = tmp_path / "approve.yaml"
    flow.write_text("""
name: approve
nodes:
  ask: {transform: {amount: 5}}
  approve: {after: ask, wait: {signal: approval}}
  book: {after: approve, transform: {by: "{{ by }}"}}
""")
    process = fuchsia_env.popen("run", str(flow), "--json")
    wait_until(
        "the wait",
        lambda: fuchsia_env.run("runs", "list", "--json").stdout.count('"waiting"') == 1,
        process,
    )
    kill(process)
    execution_id = only_execution(fuchsia_env)
    sent = fuchsia_env.run("runs", "signal", execution_id, "approval", "--payload", '{"by": "ada"}')
    assert sent.returncode == 0, sent.stderr
    resumed = fuchsia_env.run("runs", "resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    shown = fuchsia_env.json("runs", "show", execution_id)
    assert shown["status"] == "completed"
    assert shown["result"] == {"by": "ada"}
    ask = next(n for n in shown["nodes"] if n["id"] == "ask")
    assert [a["status"] for a in ask["attempts"]] == ["succeeded"]


def test_a_retry_backoff_spans_a_restart(
    fuchsia_env: FuchsiaEnv, http_server: LoopbackServer, tmp_path: Path
) -> None:
    """The retry's due time is stored: a restart neither forgets the retry nor runs it early.

    The backoff is an hour, so the kill lands inside it however busy the machine is; after the
    kill the test moves the stored due time to the past (the hour "passes" while the process is
    down) instead of waiting for it.
    """
    key = f"backoff-{uuid.uuid4().hex[:8]}"
    flow = tmp_path / "retry.yaml"
    flow.write_text(f"""
name: retry
nodes:
  call:
    retry: {{max_attempts: 3, backoff: fixed, initial_delay: 1h, max_delay: 1h}}
    http: {{url: "{http_server.url(f"/flaky/{key}")}?fail=1"}}
""")
    process = fuchsia_env.popen("run", str(flow), "--json")
    try:
        wait_until(
            "the backoff", lambda: node_row(fuchsia_env.db, "call")[0] == "retrying", process
        )
    finally:
        kill(process)  # also when the wait gave up: the run would sit out its hour otherwise
    status, due = node_row(fuchsia_env.db, "call")
    assert status == "retrying" and due > time.time() + 1800, (status, due)

    with sqlite3.connect(fuchsia_env.db) as conn:
        conn.execute("UPDATE node_runs SET ready_at = ? WHERE node_id = 'call'", (time.time(),))
    execution_id = only_execution(fuchsia_env)
    resumed = fuchsia_env.run("runs", "resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    shown = fuchsia_env.json("runs", "show", execution_id)
    assert shown["status"] == "completed", shown["error"]
    [call] = shown["nodes"]
    assert [a["status"] for a in call["attempts"]] == ["failed", "succeeded"]
    assert sum(http_server.counts(f"/flaky/{key}").values()) == 2


def test_foreach_item_retries_keep_their_backoff_across_a_kill(
    fuchsia_env: FuchsiaEnv, http_server: LoopbackServer, tmp_path: Path
) -> None:
    """Items waiting for their retry when the process dies wait on after the resume: the
    resume's first commit starts none of them (until 2026-12 they restarted with their
    foreach at once). Once their stored due time passes they run, each once more."""
    key = f"items-{uuid.uuid4().hex[:8]}"
    flow = tmp_path / "items.yaml"
    flow.write_text(f"""
name: items
nodes:
  each:
    foreach: {{items: "{{{{ range(3) | list }}}}", concurrency: 3}}
    retry: {{max_attempts: 2, backoff: fixed, initial_delay: 1h, max_delay: 1h}}
    http: {{url: "{http_server.url(f"/flaky/{key}-")}{{{{ item }}}}?fail=1"}}
""")
    retrying = ["retrying"] * 3
    process = fuchsia_env.popen("run", str(flow), "--json")
    try:
        wait_until(
            "the backoffs",
            lambda: sorted(item_rows(fuchsia_env.db, "each").values()) == retrying,
            process,
        )
    finally:
        kill(process)  # also when the wait gave up: the run would sit out its hour otherwise
    due = item_due(fuchsia_env.db, "each")
    assert all(when > time.time() + 1800 for when in due.values()), due

    resumed = fuchsia_env.popen("runs", "resume", "--json")
    try:
        wait_until("the resume's first commit", lambda: resumes(fuchsia_env.db) == 1, resumed)
        assert item_due(fuchsia_env.db, "each") == due  # the same backoff, nothing started
    finally:
        kill(resumed)
    assert sorted(item_rows(fuchsia_env.db, "each").values()) == retrying
    assert sum(http_server.counts(f"/flaky/{key}-").values()) == 3

    with sqlite3.connect(fuchsia_env.db) as conn:  # the hour passes while nothing runs
        conn.execute("UPDATE node_runs SET ready_at = ? WHERE item >= 0", (time.time(),))
    execution_id = only_execution(fuchsia_env)
    again = fuchsia_env.run("runs", "resume", "--json")
    assert again.returncode == 0, again.stderr
    shown = fuchsia_env.json("runs", "show", execution_id)
    assert shown["status"] == "completed", shown["error"]
    assert [r["json"]["calls"] for r in shown["result"]] == [2, 2, 2]
    assert shown["nodes"][0]["items"] == {"total": 3, "statuses": {"succeeded": 3}}


def item_due(db: Path, node: str) -> dict[int, float]:
    """When each of `node`'s retrying items is due, by index."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT item, ready_at FROM node_runs "
            "WHERE node_id = ? AND item >= 0 AND status = 'retrying'",
            (node,),
        ).fetchall()
    return {int(item): float(when) for item, when in rows}


def resumes(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        [(count,)] = conn.execute(
            "SELECT COUNT(*) FROM events WHERE type = 'execution_resumed'"
        ).fetchall()
    return int(count)


def node_row(db: Path, node: str) -> tuple[str, float]:
    """(status, ready_at) of a node, read straight from the file (no CLI start-up per poll)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "SELECT status, ready_at FROM node_runs WHERE node_id = ?", (node,)
            ).fetchone()
    except sqlite3.OperationalError:  # the run has not created the file or its tables yet
        return ("", 0.0)
    return (str(row[0]), float(row[1] or 0.0)) if row else ("", 0.0)


def test_a_killed_sub_workflow_resumes_under_the_same_parent(
    fuchsia_env: FuchsiaEnv, http_server: LoopbackServer, tmp_path: Path
) -> None:
    prefix = f"sub-{uuid.uuid4().hex[:8]}"
    steps = 12
    lines = ["name: child", "nodes:"]
    for i in range(steps):
        after = f"\n    after: s{i - 1}" if i else ""
        url = http_server.url(f"/ok/{prefix}-s{i}")
        lines.append(f'  s{i}:{after}\n    http: {{url: "{url}?delay=0.05"}}')
    (tmp_path / "child.yaml").write_text("\n".join(lines) + "\n")
    parent = tmp_path / "parent.yaml"
    parent.write_text("""
name: parent
nodes:
  call: {workflow: {path: child.yaml}}
  done: {after: call, transform: {last: "{{ status }}"}}
""")
    process = fuchsia_env.popen("run", str(parent), "--json")
    wait_until(
        "half the child", lambda: len(http_server.counts(f"/ok/{prefix}-")) >= steps // 2, process
    )
    kill(process)
    calls_at_kill = http_server.counts(f"/ok/{prefix}-")
    resumed = fuchsia_env.run("runs", "resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    listed = fuchsia_env.json("runs", "list")
    assert sorted(r["workflow"] for r in listed) == ["child", "parent"]  # no second child
    by_name = {r["workflow"]: r for r in listed}
    assert by_name["child"]["parent_id"] == by_name["parent"]["id"]
    assert by_name["parent"]["status"] == by_name["child"]["status"] == "completed"
    shown = fuchsia_env.json("runs", "show", by_name["parent"]["id"])
    assert shown["result"] == {"last": 200}
    counts = http_server.counts(f"/ok/{prefix}-")
    assert len(counts) == steps
    again = {p: n for p, n in counts.items() if n > 1}
    assert len(again) <= 1, again  # only the step in flight at the kill ran twice
    for path, n in calls_at_kill.items():
        if path not in again:
            assert counts[path] == n == 1
