"""Scale-out: real `fuchsia worker` processes sharing one real PostgreSQL.

Each test starts workers (and `fuchsia serve --no-worker` where the issue names it) as
subprocesses, crashes or stops them with real signals, and reads what they committed from
PostgreSQL itself. Every http node calls the loopback ledger on a path of its own, so the
ledger's counts are an independent witness of how often each node ran. Tests wait on states
with a generous ceiling, never on a time window, and assert no timings; the one thing that
runs on a clock is the churn (a kill every KILL_EVERY seconds for CHURN_SECONDS), which the
issue defines that way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import FuchsiaEnv
from fuchsia import Engine
from support.httpserver import LoopbackServer
from support.ports import free_port
from support.postgres import PgServer
from support.workers import Cluster, Process, rows, wait_for

pytestmark = pytest.mark.slow

FINAL = ("completed", "completed_with_errors", "failed", "cancelled", "timed_out")
CHURN_SECONDS = 120  # the figure: how long workers are killed and replaced
KILL_EVERY = 15  # seconds between two kills during the churn


@pytest.fixture
def cluster(fuchsia_env: FuchsiaEnv, fresh_pg_url: str) -> Iterator[Cluster]:
    env = {**fuchsia_env.env, "FUCHSIA_DB": fresh_pg_url}
    with Cluster(fresh_pg_url, env, fuchsia_env.home) as running:
        yield running


# -- reading the store ------------------------------------------------------------------------


def statuses(db: str) -> Counter[str]:
    return Counter(
        {s: n for s, n in rows(db, "SELECT status, count(*) FROM executions GROUP BY 1")}
    )


def all_final(db: str, count: int) -> bool:
    done = statuses(db)
    return sum(done[s] for s in FINAL) == count


def assert_all_completed(db: str, count: int) -> None:
    found = rows(db, "SELECT id, status, error FROM executions")
    assert len(found) == count, f"{len(found)} executions stored, {count} started"
    others = [(e, status, error) for e, status, error in found if status != "completed"]
    assert not others, f"executions that did not complete: {others}"


def owner_name(db: str, execution_id: str) -> str | None:
    """The name of the worker that holds the execution now (None: nobody does)."""
    found = rows(
        db,
        "SELECT o.name FROM executions e JOIN owners o ON o.id = e.owner WHERE e.id = %s",
        execution_id,
    )
    return found[0][0] if found else None


def held_by(db: str, name: str) -> int:
    """How many open executions the worker `name` holds."""
    ((held,),) = rows(
        db,
        "SELECT count(*) FROM executions e JOIN owners o ON o.id = e.owner "
        "WHERE o.name = %s AND e.status <> ALL(%s)",
        name,
        list(FINAL),
    )
    return int(held)


Unit = tuple[str, str, int]  # (execution, node, item): item -1 for the node itself


def succeeded_attempts(db: str) -> dict[Unit, list[str]]:
    """For every node (and foreach item) of every execution: the workers of its succeeded
    attempts. Exactly one each is the invariant: none is a lost node, two a double commit."""
    found: dict[Unit, list[str]] = {
        (e, n, i): [] for e, n, i in rows(db, "SELECT execution_id, node_id, item FROM node_runs")
    }
    for e, n, i, worker in rows(
        db, "SELECT execution_id, node_id, item, worker FROM attempts WHERE status = 'succeeded'"
    ):
        found.setdefault((e, n, i), []).append(worker)
    return found


def assert_each_node_committed_once(db: str) -> dict[Unit, list[str]]:
    committed = succeeded_attempts(db)
    assert committed, "no node ran"
    wrong = {key: workers for key, workers in committed.items() if len(workers) != 1}
    assert not wrong, f"nodes without exactly one succeeded attempt: {wrong}"
    unfinished = rows(
        db, "SELECT execution_id, node_id, status FROM node_runs WHERE status <> 'succeeded'"
    )
    assert not unfinished, unfinished
    return committed


def attempts_of(db: str, execution_id: str, node_id: str) -> list[tuple[int, str, str]]:
    """(number, status, worker) of every attempt of one node, in order."""
    return rows(
        db,
        "SELECT number, status, worker FROM attempts "
        "WHERE execution_id = %s AND node_id = %s ORDER BY number",
        execution_id,
        node_id,
    )


def record(db: str, home: Path, workflow: Path, payloads: list[Any]) -> list[str]:
    """Record executions of `workflow` unowned, for the workers to run (nothing runs here)."""

    async def main() -> list[str]:
        async with await Engine.open(db, home=home, drives=False) as engine:
            return [await engine.start(str(workflow), p, detached=True) for p in payloads]

    return asyncio.run(main())


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def chain(server: LoopbackServer, key: str, name: str, http: list[str], delay: float) -> str:
    """A chain that starts with a transform and has, for every id in `http`, an http node
    calling `/ok/KEY-EXECUTION-NODE?delay=S` (its own ledger path) and a transform after it."""
    lines = [f"name: {name}", "nodes:", "  t0: {transform: {n: 0}}"]
    previous = "t0"
    for i, node in enumerate(http, start=1):
        url = server.url(f"/ok/{key}-") + "{{ execution.id }}-{{ execution.node }}"
        lines += [
            f"  {node}:",
            f"    after: {previous}",
            f'    http: {{url: "{url}?delay={delay}"}}',
            f"  t{i}:",
            f"    after: {node}",
            f'    transform: {{n: {i}, seen: "{{{{ json.name }}}}"}}',
        ]
        previous = f"t{i}"
    return "\n".join(lines) + "\n"


def held_at_slow(server: LoopbackServer, key: str, name: str) -> str:
    """`first` (a transform), `slow` (a call per execution, `/hold/KEY-EXECUTION`, held until
    the test releases gate `key`), `after` (a call to `/ok/KEY-EXECUTION-after`), `last`."""
    hold = server.url(f"/hold/{key}-") + "{{ execution.id }}"
    after = server.url(f"/ok/{key}-") + "{{ execution.id }}-after?delay=0.1"
    return (
        f"name: {name}\n"
        "nodes:\n"
        "  first: {transform: {n: 1}}\n"
        # held as long as a busy machine takes to get every execution there (not the
        # default 30 s timeout of a node)
        f'  slow: {{after: first, timeout: 120s, http: {{url: "{hold}?gate={key}&timeout=110"}}}}\n'
        f'  after: {{after: slow, http: {{url: "{after}"}}}}\n'
        '  last: {after: after, transform: {calls: "{{ json.calls }}"}}\n'
    )


# -- 1. sharing ------------------------------------------------------------------------------

FANOUT_WORKERS = 4
FANOUT_SLOTS = 5  # per worker: 4 x 5 = the 20 executions, so all of them must take part
FANOUT_RUNS = 20
FANOUT_ITEMS = 40


def test_four_workers_and_a_serve_without_worker_share_a_foreach(
    cluster: Cluster, http_server: LoopbackServer
) -> None:
    key = f"fan-{uuid.uuid4().hex[:8]}"
    # Every item waits at the ledger until the same item of all 20 executions has arrived:
    # the 20 are provably in flight at once, which only all four workers together can hold.
    gate = http_server.url(f"/barrier/{key}-") + "{{ item }}"
    text = (
        "name: fanout\n"
        "nodes:\n"
        "  each:\n"
        f'    foreach: {{items: "{{{{ range({FANOUT_ITEMS}) | list }}}}", concurrency: 4}}\n'
        f'    http: {{url: "{gate}?n={FANOUT_RUNS}&timeout=90"}}\n'
    )
    # a lease long enough that a busy machine never lets one pass: a worker whose lease
    # passed would have its calls made again elsewhere (at least once), and the barrier
    # below counts every call; losing leases is what the tests after this one are about
    workers = [
        cluster.worker(f"w{i}", concurrency=FANOUT_SLOTS, lease="15s")
        for i in range(FANOUT_WORKERS)
    ]
    api = cluster.serve(free_port())
    cluster.wait_alive(*workers)

    deployed = api.post("/api/v1/workflows", json={"source": text})
    assert deployed.status_code == 201, deployed.text
    started = [api.post("/api/v1/executions", json={"workflow": "fanout"}) for _ in range(20)]
    assert [r.status_code for r in started] == [201] * FANOUT_RUNS, [r.text for r in started]
    ids = [r.json()["id"] for r in started]

    wait_for("the 20 executions to finish", lambda: all_final(cluster.db, FANOUT_RUNS), workers)
    for execution_id in ids:
        shown = api.get(f"/api/v1/executions/{execution_id}").json()
        assert shown["status"] == "completed", shown["error"]
        (each,) = shown["nodes"]
        assert [item["json"]["arrived"] for item in each["output"]] == [FANOUT_RUNS] * FANOUT_ITEMS

    committed = assert_each_node_committed_once(cluster.db)
    items = {k: w for k, w in committed.items() if k[2] >= 0}
    assert len(items) == FANOUT_RUNS * FANOUT_ITEMS
    assert {ws[0] for ws in items.values()} == {w.name for w in workers}
    # nothing was interrupted, so one worker drove each execution (the foreach's own attempt
    # names it); its items ran on it, or on other workers as shared attempts
    names = {w.name for w in workers}
    for execution_id in ids:
        ran_on = {ws[0] for (e, _, _), ws in items.items() if e == execution_id}
        (each,) = api.get(f"/api/v1/executions/{execution_id}").json()["nodes"]
        drivers = {at["worker"] for at in each["attempts"]}
        assert len(drivers) == 1 and drivers <= names and ran_on <= names, (execution_id, ran_on)
    counts = http_server.counts(f"/barrier/{key}-")
    assert counts == {f"/barrier/{key}-{i}": FANOUT_RUNS for i in range(FANOUT_ITEMS)}


# -- 2. a crash ------------------------------------------------------------------------------


KILL_RUNS = 6
KILL_SLOTS = 4  # per worker: the two left have room for all that the killed one held


def test_a_killed_workers_attempts_rerun_elsewhere(
    cluster: Cluster, http_server: LoopbackServer, tmp_path: Path
) -> None:
    key = f"kill-{uuid.uuid4().hex[:8]}"
    workflow = write(tmp_path, "slow", held_at_slow(http_server, key, "slow"))
    workers = [cluster.worker(f"w{i}", concurrency=KILL_SLOTS) for i in range(3)]
    cluster.wait_alive(*workers)
    ids = record(cluster.db, cluster.root, workflow, [None] * KILL_RUNS)
    held = [f"/hold/{key}-{e}" for e in ids]

    def calls(paths: list[str]) -> list[int]:
        return [http_server.count(p) for p in paths]

    wait_for("every execution's slow call in flight", lambda: min(calls(held)) == 1, workers)
    owners = {e: owner_name(cluster.db, e) for e in ids}
    victim = next(w for w in workers if w.name == owners[ids[0]])
    survivors = [w for w in workers if w is not victim]
    taken = {e for e in ids if owners[e] == victim.name}
    victim.kill()

    rerun = [f"/hold/{key}-{e}" for e in taken]
    wait_for(
        "the killed worker's calls to be made again",
        lambda: calls(rerun) == [2] * len(taken),
        survivors,
    )
    http_server.release(key)
    wait_for(
        "the executions to finish on the other workers",
        lambda: all_final(cluster.db, KILL_RUNS),
        survivors,
    )

    assert_all_completed(cluster.db, KILL_RUNS)
    committed = assert_each_node_committed_once(cluster.db)
    assert len(committed) == KILL_RUNS * 4
    for execution_id in taken:
        for node in ("after", "last"):
            assert committed[(execution_id, node, -1)] != [victim.name], (execution_id, node)
        slow = attempts_of(cluster.db, execution_id, "slow")
        assert [(number, status) for number, status, _ in slow] == [
            (1, "interrupted"),
            (2, "succeeded"),
        ], slow
        assert slow[0][2] == victim.name and slow[1][2] != victim.name, slow
    ledger = http_server.counts(f"/hold/{key}-") | http_server.counts(f"/ok/{key}-")
    assert ledger == {
        **{f"/hold/{key}-{e}": 2 if e in taken else 1 for e in ids},
        **{f"/ok/{key}-{e}-after": 1 for e in ids},
    }


# -- 3. a stopped worker ---------------------------------------------------------------------


def rejections(db: str, execution_id: str) -> list[dict[str, Any]]:
    """The execution's `completion_rejected` events: their node and data."""
    return [
        {"node": node, **json.loads(data)}
        for node, data in rows(
            db,
            "SELECT node_id, data FROM events "
            "WHERE execution_id = %s AND type = 'completion_rejected' ORDER BY seq",
            execution_id,
        )
    ]


def counter(db: str, name: str) -> int:
    """A counter's total: what departed owners counted (`counters`) and the others do."""
    found = rows(
        db,
        "SELECT SUM(value) FROM (SELECT value FROM counters WHERE name = %s UNION ALL "
        "SELECT value FROM owner_counters WHERE name = %s) AS every_count",
        name,
        name,
    )
    return int(found[0][0]) if found and found[0][0] is not None else 0


def test_a_stopped_workers_late_completions_are_rejected(
    cluster: Cluster, http_server: LoopbackServer, tmp_path: Path
) -> None:
    key = f"hold-{uuid.uuid4().hex[:8]}"
    hold = f"/hold/{key}"
    text = (
        "name: held\n"
        "nodes:\n"
        f'  call: {{http: {{url: "{http_server.url(hold)}?timeout=90"}}}}\n'
        '  after_call: {after: call, transform: {calls: "{{ json.calls }}"}}\n'
    )
    workflow = write(tmp_path, "held", text)
    a = cluster.worker("a", concurrency=1)
    cluster.wait_alive(a)
    (execution_id,) = record(cluster.db, cluster.root, workflow, [None])

    wait_for("a's call to reach the ledger", lambda: http_server.count(hold) == 1, [a])
    assert owner_name(cluster.db, execution_id) == "a"
    a.signal(signal.SIGSTOP)
    try:
        b = cluster.worker("b", concurrency=1)
        wait_for(
            "b to take the execution over", lambda: owner_name(cluster.db, execution_id) == "b", [b]
        )
        wait_for("b's call to reach the ledger", lambda: http_server.count(hold) == 2, [b])
        http_server.release(key)  # both calls are answered; a is stopped and reads nothing
        wait_for("b to complete the execution", lambda: all_final(cluster.db, 1), [b])
    finally:
        a.signal(signal.SIGCONT)

    rejected = wait_for(
        "a's late completion to be rejected",
        lambda: [r for r in rejections(cluster.db, execution_id) if r["worker"] == "a"],
        [a, b],
    )
    assert [(r["node"], r["attempt"]) for r in rejected] == [("call", 1)], rejected
    assert counter(cluster.db, "rejected_completions") >= 1
    assert_all_completed(cluster.db, 1)
    committed = assert_each_node_committed_once(cluster.db)
    assert committed == {
        (execution_id, "call", -1): ["b"],
        (execution_id, "after_call", -1): ["b"],
    }
    assert attempts_of(cluster.db, execution_id, "call") == [
        (1, "interrupted", "a"),
        (2, "succeeded", "b"),
    ]
    assert http_server.count(hold) == 2
    ((result,),) = rows(cluster.db, "SELECT result FROM executions WHERE id = %s", execution_id)
    assert json.loads(result) == {"calls": 2}  # b's answer, not a's

    cluster.wait_alive(a)  # it renews its lease again once it runs
    assert a.terminate() == 0, a.output()


# -- 4. churn --------------------------------------------------------------------------------

CHURN_RUNS = 100
CHURN_WORKERS = 3
CHURN_SLOTS = 2  # per worker
CHURN_CALLS = ["h1", "h2", "h3"]
CHURN_DELAY = 2.0  # seconds each http call takes: 100 x 3 of them on 6 slots span the churn


@pytest.mark.timeout(CHURN_SECONDS + 480)
def test_churn_loses_and_doubles_nothing(
    cluster: Cluster, http_server: LoopbackServer, tmp_path: Path
) -> None:
    key = f"churn-{uuid.uuid4().hex[:8]}"
    workflow = write(tmp_path, "churn", chain(http_server, key, "churn", CHURN_CALLS, CHURN_DELAY))
    names = (f"w{i}" for i in itertools.count())
    live = [cluster.worker(next(names), concurrency=CHURN_SLOTS) for _ in range(CHURN_WORKERS)]
    cluster.wait_alive(*live)
    ids = record(cluster.db, cluster.root, workflow, [None] * CHURN_RUNS)

    rng = random.Random(9)
    killed: list[tuple[str, int]] = []  # (worker, open executions it held when killed)
    for _ in range(CHURN_SECONDS // KILL_EVERY):
        time.sleep(KILL_EVERY)  # the churn's clock (nothing waits on a state here)
        victim = rng.choice(live)
        killed.append((victim.name, held_by(cluster.db, victim.name)))
        victim.kill()
        live.remove(victim)
        live.append(cluster.worker(next(names), concurrency=CHURN_SLOTS))
    assert any(held for _, held in killed), f"no kill hit a worker holding work: {killed}"

    wait_for(
        "the 100 executions to be final",
        lambda: all_final(cluster.db, CHURN_RUNS),
        live,
        ceiling=300,
    )
    assert_all_completed(cluster.db, CHURN_RUNS)
    committed = assert_each_node_committed_once(cluster.db)
    assert len(committed) == CHURN_RUNS * (1 + 2 * len(CHURN_CALLS))
    calls = http_server.counts(f"/ok/{key}-")
    assert set(calls) == {f"/ok/{key}-{e}-{n}" for e in ids for n in CHURN_CALLS}
    assert max(calls.values()) <= 2, {p: n for p, n in calls.items() if n > 1}


# -- 5. a wait across workers ----------------------------------------------------------------


def test_a_wait_started_on_one_worker_is_finished_by_another(cluster: Cluster) -> None:
    text = (
        "name: approval\n"
        "nodes:\n"
        "  request: {transform: {amount: 10}}\n"
        "  approve: {after: request, wait: {signal: approve}}\n"
        '  book: {after: approve, transform: {by: "{{ by }}"}}\n'
    )
    a = cluster.worker("a", concurrency=2)
    api = cluster.serve(free_port())
    cluster.wait_alive(a)
    assert api.post("/api/v1/workflows", json={"source": text}).status_code == 201
    started = api.post("/api/v1/executions", json={"workflow": "approval"})
    assert started.status_code == 201, started.text
    execution_id = started.json()["id"]

    def waiting_on_a() -> bool:
        shown = api.get(f"/api/v1/executions/{execution_id}").json()
        return shown["status"] == "waiting" and owner_name(cluster.db, execution_id) == "a"

    wait_for("a to hold the execution at its wait", waiting_on_a, [a])
    a.kill()
    b = cluster.worker("b", concurrency=2)
    wait_for(
        "b to take the waiting execution over",
        lambda: owner_name(cluster.db, execution_id) == "b",
        [b],
    )

    sent = api.post(
        f"/api/v1/executions/{execution_id}/signal",
        json={"name": "approve", "payload": {"by": "ada"}},
    )
    assert sent.status_code == 200, sent.text

    def finished() -> Any:
        shown = api.get(f"/api/v1/executions/{execution_id}").json()
        return shown if shown["status"] in FINAL else None

    shown = wait_for("b to finish the execution", finished, [b])
    assert shown["status"] == "completed", shown["error"]
    assert shown["result"] == {"by": "ada"}
    workers = {
        n["id"]: [(at["worker"], at["status"]) for at in n["attempts"]] for n in shown["nodes"]
    }
    assert workers["request"] == [("a", "succeeded")]
    # a's wait was interrupted by its death, and b waited afresh and took the signal
    assert workers["approve"] == [("a", "interrupted"), ("b", "succeeded")]
    assert workers["book"] == [("b", "succeeded")]


# -- 6. the database restarted ---------------------------------------------------------------

RESTART_RUNS = 8
AFTER_RESTART_RUNS = 4


def test_workers_reconnect_when_the_database_restarts_and_every_execution_completes(
    fuchsia_env: FuchsiaEnv, http_server: LoopbackServer, tmp_path: Path
) -> None:
    """`pg_ctl restart -m fast` (every connection cut, the server down and up again) while
    three workers hold executions whose calls are in flight: the workers reconnect and carry
    on, the executions complete with each node committed once, and work recorded after the
    restart is claimed too. A server of the test's own: the session's must stay up."""
    key = f"restart-{uuid.uuid4().hex[:8]}"
    workflow = write(tmp_path, "restart", held_at_slow(http_server, key, "restart"))
    quick = write(tmp_path, "quick", "name: quick\nnodes:\n  only: {transform: {n: 1}}\n")
    with PgServer() as pg:
        db = pg.create_database("restart")
        env = {**fuchsia_env.env, "FUCHSIA_DB": db}
        with Cluster(db, env, fuchsia_env.home) as cluster:
            workers = [cluster.worker(f"w{i}", concurrency=4, lease="15s") for i in range(3)]
            cluster.wait_alive(*workers)
            ids = record(db, cluster.root, workflow, [None] * RESTART_RUNS)
            held = [f"/hold/{key}-{e}" for e in ids]
            wait_for(
                "every execution's slow call in flight",
                lambda: all(http_server.count(p) >= 1 for p in held),
                workers,
            )
            pg.restart()
            http_server.release(key)
            more = record(db, cluster.root, quick, [None] * AFTER_RESTART_RUNS)
            total = RESTART_RUNS + AFTER_RESTART_RUNS
            wait_for("every execution to finish", lambda: all_final(db, total), workers)
            assert all(w.running() for w in workers), "a worker gave up on the restart"

            assert_all_completed(db, total)
            committed = assert_each_node_committed_once(db)
            assert len(committed) == RESTART_RUNS * 4 + AFTER_RESTART_RUNS
            assert {e for e, _, _ in committed} == set(ids) | set(more)
            # a call whose attempt a lost connection interrupted may be made once more
            ledger = http_server.counts(f"/hold/{key}-") | http_server.counts(f"/ok/{key}-")
            assert set(ledger) == set(held) | {f"/ok/{key}-{e}-after" for e in ids}
            assert max(ledger.values()) <= 2, ledger


def test_a_worker_whose_database_is_gone_stops_on_sigterm(fuchsia_env: FuchsiaEnv) -> None:
    """SIGTERM to a worker whose PostgreSQL went away: it drains what it can and exits 0
    within its grace and a few seconds, rather than retrying each of its last writes (its
    renewal, its leaving) for a minute each: its lease passes, and other workers take what
    it held once the database is back. (It waited minutes, renewing its lease in vain.)"""
    with PgServer() as pg:
        db = pg.create_database("gone")
        env = {**fuchsia_env.env, "FUCHSIA_DB": db}
        with Cluster(db, env, fuchsia_env.home) as cluster:
            worker = cluster.worker("w-gone", lease="30s")
            cluster.wait_alive(worker)
            pg.stop()
            assert worker.terminate() == 0, worker.output()
            assert "w-gone: stopped" in worker.output()


# -- 7. a cron trigger with two servers ------------------------------------------------------

TICKS = 3  # scheduled instants to see fired by each pair of servers in turn


def instants(db: str, workflow: str) -> dict[float, list[tuple[str, str]]]:
    """The scheduled instants of a cron workflow's executions (its idempotency key names the
    instant) and, for each, the (execution, status) of every execution started for it."""
    prefix = f"cron:{workflow}:"
    found: dict[float, list[tuple[str, str]]] = {}
    for execution_id, status, key in rows(
        db, "SELECT id, status, idempotency_key FROM executions WHERE workflow_name = %s", workflow
    ):
        assert key is not None and key.startswith(prefix), key
        at = datetime.fromisoformat(key.removeprefix(prefix)).timestamp()
        found.setdefault(at, []).append((execution_id, status))
    return found


def test_a_cron_trigger_fires_once_per_instant_with_servers_replaced_in_turn(
    cluster: Cluster,
) -> None:
    """Two `fuchsia serve --no-worker` schedule the same every-second cron and four workers
    run what they start. The servers are killed and replaced in turn (1 and 2, then 2 and a
    new 3, then 3 alone), so every one of them schedules while another may too: each instant
    from the first to the last fired has exactly one execution, every execution completed,
    and every fire any server recorded for an instant names that one execution."""
    text = (
        "name: ticker\n"
        'trigger: {type: cron, cron: {schedule: "* * * * * *"}}\n'
        "nodes:\n"
        '  tick: {transform: {at: "{{ scheduled_at }}"}}\n'
    )
    workers = [cluster.worker(f"w{i}", concurrency=2) for i in range(4)]
    first = cluster.serve(free_port(), name="serve-1")
    cluster.serve(free_port(), name="serve-2")
    cluster.wait_alive(*workers)
    assert first.post("/api/v1/workflows", json={"source": text}).status_code == 201

    def server(name: str) -> Process:
        return next(p for p in cluster.processes if p.name == name)

    def fired_at_least(count: int) -> None:
        what = f"{count} instants fired"
        wait_for(what, lambda: len(instants(cluster.db, "ticker")) >= count, workers)

    fired_at_least(TICKS)
    server("serve-1").kill()
    third = cluster.serve(free_port(), name="serve-3")
    fired_at_least(len(instants(cluster.db, "ticker")) + TICKS)
    server("serve-2").kill()
    fired_at_least(len(instants(cluster.db, "ticker")) + TICKS)  # serve-3's alone
    disabled = third.post("/api/v1/workflows/ticker/disable")
    assert disabled.status_code == 200, disabled.text

    def finished() -> dict[float, list[tuple[str, str]]] | None:
        """What was fired, once all of it finished (a tick under way as the trigger was
        disabled may still start one more execution: then this waits for it too)."""
        fired = instants(cluster.db, "ticker")
        done = all(status in FINAL for runs in fired.values() for _, status in runs)
        return fired if done else None

    fired = wait_for("the ticks to finish", finished, workers)
    assert all(len(runs) == 1 for runs in fired.values()), fired
    seconds = sorted(fired)
    assert [b - a for a, b in itertools.pairwise(seconds)] == [1.0] * (len(seconds) - 1), seconds
    assert {status for runs in fired.values() for _, status in runs} == {"completed"}
    ran_on = rows(cluster.db, "SELECT DISTINCT worker FROM attempts")
    assert {w for (w,) in ran_on} <= {w.name for w in workers}
    execution_of = {at: runs[0][0] for at, runs in fired.items()}
    for at, execution_id in rows(
        cluster.db, "SELECT instant, execution_id FROM trigger_fires WHERE workflow = 'ticker'"
    ):
        assert execution_id == execution_of.get(float(at), execution_id), (at, execution_id)
