"""`fuchsia worker`, `fuchsia workers list`, `GET /api/v1/workers`, `/metrics` and `fuchsia run
--detach` with and without a live worker, through real `fuchsia` processes.

Every wait is on stored state (an owner row, an execution's status) with a ceiling that only
guards against a hang; nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.conftest import FuchsiaEnv, make_fuchsia_env, wait_until
from fuchsia import Engine
from fuchsia.store import open_store
from fuchsia.store.records import EventRecord, OwnerRecord, UnitKey
from support.ports import free_port
from support.prometheus import sample
from support.server import Served

FLOW = """
name: greet
nodes:
  hello: {transform: {greeting: "hello {{ name }}"}}
  shout: {after: hello, transform: {loud: "{{ greeting | upper }}"}}
"""
STOP_CEILING = 60.0  # seconds a SIGTERMed worker may take to drain and exit


@pytest.fixture
def env(tmp_path: Path, store_url: str) -> FuchsiaEnv:
    """A private home whose store is `store_url` (SQLite or PostgreSQL)."""
    made = make_fuchsia_env(tmp_path)
    made.env["FUCHSIA_DB"] = store_url
    return made


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "greet.yaml"
    path.write_text(FLOW)
    return path


def store_of(env: FuchsiaEnv) -> str:
    return env.env["FUCHSIA_DB"]


def owners(url: str) -> list[OwnerRecord]:
    """The owner rows of the store, read in this process."""

    async def main() -> list[OwnerRecord]:
        store = open_store(url)
        await store.open()
        try:
            return await store.owners()
        finally:
            await store.close()

    return asyncio.run(main())


@contextmanager
def worker(env: FuchsiaEnv, name: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A `fuchsia worker --name NAME` process, alive in the store when the block starts;
    SIGTERMed (and, should it not stop, killed) when it ends."""
    process = env.popen("worker", "--name", name, *args)
    try:
        wait_until(
            f"worker {name} to register",
            lambda: any(o.name == name and o.alive for o in owners(store_of(env))),
            process,
        )
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_CEILING)
            except subprocess.TimeoutExpired:
                process.kill()
        process.communicate()


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM a worker and return its exit status and what it printed to stderr."""
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=STOP_CEILING)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the worker did not stop within {STOP_CEILING}s of SIGTERM")
    return process.returncode, err


def show(env: FuchsiaEnv, execution_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = env.json("runs", "show", execution_id)
    return shown


def wait_finished(env: FuchsiaEnv, execution_id: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def finished() -> bool:
        seen.update(show(env, execution_id))
        return seen["status"] not in ("pending", "running", "waiting", "paused")

    wait_until(f"{execution_id} to finish", finished)
    return seen


def workers_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return listed


# -- a live worker ---------------------------------------------------------------------------


def test_a_live_worker_is_listed_and_runs_what_run_detach_records(
    env: FuchsiaEnv, flow: Path
) -> None:
    with worker(env, "w-cli", "--concurrency", "3") as process:
        listed = workers_of(env.run("workers", "list", "--json"))
        assert [(w["name"], w["slots"], w["alive"], w["draining"]) for w in listed] == [
            ("w-cli", 3, True, False)
        ]
        assert listed[0]["pid"] == process.pid
        table = env.run("workers", "list")
        assert table.returncode == 0, table.stderr
        row = next(line for line in table.stdout.splitlines() if "w-cli" in line)
        assert "alive" in row and str(process.pid) in row

        started = env.run("run", str(flow), "--input", '{"name": "ada"}', "--detach", "--json")
        assert started.returncode == 0, started.stderr
        execution_id = json.loads(started.stdout)["id"]
        done = wait_finished(env, execution_id)
        # recorded only: no `runs resume` was spawned, so it wrote no log
        assert not (env.home / "logs" / f"{execution_id}.log").exists()
        assert not (env.home / "logs").exists() or not list((env.home / "logs").iterdir())

        code, err = stop(process)

    assert done["status"] == "completed", done
    assert done["result"] == {"loud": "HELLO ADA"}
    workers_by_attempt = [a["worker"] for n in done["nodes"] for a in n["attempts"]]
    assert workers_by_attempt == ["w-cli", "w-cli"]
    assert code == 0, err
    assert "worker w-cli: 3 at once, lease 30s, on " in err
    assert "worker w-cli: stopped" in err
    # a worker that stopped removed its owner row: nobody waits for its lease
    assert workers_of(env.run("workers", "list", "--json")) == []


def test_a_worker_logs_each_execution_it_drives_as_json_lines(env: FuchsiaEnv, flow: Path) -> None:
    with worker(env, "w-log", "--log-format", "json", "--log-level", "info") as process:
        started = env.run("run", str(flow), "--input", '{"name": "ada"}', "--detach", "--json")
        assert started.returncode == 0, started.stderr
        execution_id = json.loads(started.stdout)["id"]
        wait_finished(env, execution_id)
        code, err = stop(process)

    assert code == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("execution_id") == execution_id]
    assert [(m["level"], m["logger"]) for m in mine] == [("info", "fuchsia.runtime.driving")] * 2
    driving, finished = mine
    assert driving["message"] == f"driving execution {execution_id} of {driving['workflow']}"
    assert finished["status"] == "completed" and finished["seconds"] >= 0
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_run_detach_without_a_live_worker_drives_it_in_the_background(
    env: FuchsiaEnv, flow: Path
) -> None:
    """A worker whose lease passed, or that is draining, takes nothing: `run --detach`
    spawns `runs resume` as it did before workers existed."""

    async def leave_owners() -> None:
        store = open_store(store_of(env))
        await store.open()
        try:
            gone = OwnerRecord("gone-worker", "elsewhere", 1, 1.0, 0.0, name="gone", slots=4)
            await store.heartbeat(gone, lease=300.0)
            draining = OwnerRecord(
                "drain-worker", "elsewhere", 2, 1.0, 0.0, name="drain", slots=4, draining=True
            )
            await store.heartbeat(draining, lease=300.0)
        finally:
            await store.close()

    asyncio.run(leave_owners())
    expire_lease(store_of(env), "gone-worker")
    listed = {w["name"]: w for w in workers_of(env.run("workers", "list", "--json"))}
    assert (listed["gone"]["alive"], listed["drain"]["draining"]) == (False, True)
    table = env.run("workers", "list")
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.strip()}
    assert "lease passed" in rows["gone"] and "draining" in rows["drain"]

    started = env.run("run", str(flow), "--input", '{"name": "bo"}', "--detach", "--json")
    assert started.returncode == 0, started.stderr
    execution_id = json.loads(started.stdout)["id"]
    assert (env.home / "logs" / f"{execution_id}.log").exists()
    done = wait_finished(env, execution_id)
    assert done["status"] == "completed" and done["result"] == {"loud": "HELLO BO"}
    # the background `runs resume` ran it: not one of the registered workers
    assert {a["worker"] for n in done["nodes"] for a in n["attempts"]}.isdisjoint({"gone", "drain"})


def expire_lease(url: str, owner_id: str) -> None:
    """Put an owner's lease in the past through a connection of our own."""
    statement = "UPDATE owners SET lease_expires_at = 0 WHERE id = ?"
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as pg:
            assert pg.execute(statement.replace("?", "%s"), (owner_id,)).rowcount == 1
        return
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(url, timeout=30)) as lite:
        assert lite.execute(statement, (owner_id,)).rowcount == 1
        lite.commit()


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "variable", "named"),
    [
        ((), "abc", "FUCHSIA_LEASE=abc"),
        ((), "500ms", "FUCHSIA_LEASE=500ms"),
        (("--lease", "0s"), None, "--lease=0s"),
        (("--lease", "soon"), None, "--lease=soon"),
        (("--lease", "2d"), None, "--lease=2d"),
    ],
)
def test_a_bad_lease_is_refused_with_the_setting_named(
    fuchsia_env: FuchsiaEnv, args: tuple[str, ...], variable: str | None, named: str
) -> None:
    if variable is not None:
        fuchsia_env.env["FUCHSIA_LEASE"] = variable
    result = fuchsia_env.run("worker", *args)
    assert result.returncode == 2, result.stderr
    assert f"{named}: expected a duration from 1s to 1d" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not fuchsia_env.db.exists()  # refused before anything was opened


def test_fuchsia_lease_sets_the_workers_lease(fuchsia_env: FuchsiaEnv) -> None:
    fuchsia_env.env["FUCHSIA_LEASE"] = "3s"
    with worker(fuchsia_env, "w-lease") as process:
        (record,) = owners(str(fuchsia_env.db))
        code, err = stop(process)
    assert record.lease_expires_at is not None
    assert record.lease_expires_at - record.heartbeat_at == pytest.approx(3.0, abs=0.01)
    assert code == 0 and "lease 3s" in err


# -- over HTTP -------------------------------------------------------------------------------

FAMILIES = (
    "fuchsia_workers_alive",
    "fuchsia_work_ready",
    "fuchsia_shared_attempts_ready",
    "fuchsia_lease_expiries_total",
    "fuchsia_rejected_completions_total",
    "fuchsia_claim_latency_seconds_count",
    "fuchsia_claim_latency_seconds_sum",
)
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$")


def samples(text: str) -> dict[str, float]:
    """The unlabelled samples of a Prometheus text exposition; every line must parse (a
    sample, or a `# HELP` / `# TYPE` line)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith(("# HELP ", "# TYPE ")):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        if match.group(2) is None:
            found[match.group(1)] = float(match.group(3))
    return found


def test_workers_and_their_counts_are_served_over_http(
    tmp_path: Path, fuchsia_env: FuchsiaEnv, flow: Path
) -> None:
    env = fuchsia_env
    with Served(tmp_path / "served", db=str(env.db), home=env.home) as served:
        with served.client("read") as reader:
            assert reader.get("/api/v1/workers").json() == []  # the server takes no work

        async def record() -> str:
            async with await Engine.open(str(env.db), home=env.home) as engine:
                return await engine.start(str(flow), {"name": "cy"}, detached=True)

        execution_id = asyncio.run(record())
        with served.client("read") as reader:
            before = reader.get("/metrics").text
        for family in FAMILIES:
            assert f"\n{family} " in before, family
        assert "# TYPE fuchsia_claim_latency_seconds summary" in before
        assert "# TYPE fuchsia_lease_expiries_total counter" in before
        counted = samples(before)
        assert counted["fuchsia_workers_alive"] == 0
        assert counted["fuchsia_work_ready"] == 1  # recorded, nobody holds it
        assert counted["fuchsia_claim_latency_seconds_count"] == 0

        with worker(env, "w-http", "--concurrency", "2") as process:
            done = wait_finished(env, execution_id)
            with served.client("read") as reader:
                api = reader.get("/api/v1/workers")
                during = samples(reader.get("/metrics").text)
            remote = env.run(
                "--server",
                served.url,
                "--token",
                served.tokens["read"],
                "workers",
                "list",
                "--json",
            )
            code, _ = stop(process)

        with served.client("read") as reader:
            after = samples(reader.get("/metrics").text)

    assert done["status"] == "completed"
    assert api.status_code == 200
    listed = api.json()
    assert [(w["name"], w["slots"], w["alive"]) for w in listed] == [("w-http", 2, True)]
    assert listed[0]["pid"] == process.pid
    assert [(w["name"], w["id"], w["slots"], w["alive"]) for w in workers_of(remote)] == [
        ("w-http", listed[0]["id"], 2, True)
    ]
    assert during["fuchsia_workers_alive"] == 1
    assert during["fuchsia_work_ready"] == 0
    assert during["fuchsia_shared_attempts_ready"] == 0  # one worker: it shares nothing
    assert during["fuchsia_claim_latency_seconds_count"] == 1
    assert during["fuchsia_claim_latency_seconds_sum"] >= 0
    assert during["fuchsia_lease_expiries_total"] == 0
    assert during["fuchsia_rejected_completions_total"] == 0
    assert code == 0
    assert after["fuchsia_workers_alive"] == 0  # it stopped and removed its row
    assert after["fuchsia_claim_latency_seconds_count"] == 1


def scraped(url: str) -> str | None:
    """The text at `url`, None while nothing answers there."""
    try:
        answered = httpx.get(url)
    except httpx.TransportError:
        return None
    return answered.text if answered.status_code == 200 else None


def test_a_worker_serves_its_own_metrics_on_the_port_it_is_given(
    fuchsia_env: FuchsiaEnv, flow: Path
) -> None:
    env = fuchsia_env
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with worker(env, "w-metrics", "--metrics-port", str(port)) as process:
        wait_until("the metrics port to answer", lambda: scraped(url) is not None, process)
        started = env.run("run", str(flow), "--input", '{"name": "mo"}', "--detach", "--json")
        assert started.returncode == 0, started.stderr
        done = wait_finished(env, json.loads(started.stdout)["id"])
        text = ""

        def counted() -> bool:
            nonlocal text
            text = scraped(url) or ""
            return sample(text, "fuchsia_executions_finished_total", workflow="greet") is not None

        wait_until("the worker to count the execution", counted, process)
        code, err = stop(process)
    assert done["status"] == "completed"
    assert code == 0, err
    assert f"worker metrics: {url}" in err
    ran = {"workflow": "greet", "kind": "transform", "status": "succeeded"}
    assert sample(text, "fuchsia_node_attempt_duration_seconds_count", **ran) == 2
    assert sample(text, "fuchsia_node_queue_wait_seconds_count", workflow="greet") == 2
    assert sample(text, "fuchsia_executions_finished_total", status="completed") == 1
    # `run --detach` created it in its own process: this worker only drove it
    assert sample(text, "fuchsia_executions_started_total") is None
    assert sample(text, "fuchsia_executions") is None  # the store's half is the server's


def test_metrics_count_lease_expiries_and_rejected_completions(
    tmp_path: Path, fuchsia_env: FuchsiaEnv, flow: Path
) -> None:
    """What the store's counters hold (written by any engine) is what /metrics reports."""
    env = fuchsia_env
    with Served(tmp_path / "served", db=str(env.db), home=env.home) as served:

        async def take_over() -> None:
            store = open_store(str(env.db))
            await store.open()
            try:
                async with await Engine.open(str(env.db), home=env.home, name="old") as old:
                    execution_id = await old.start(str(flow), {"name": "di"}, detached=True)
                await store.heartbeat(OwnerRecord("stale", "h", 1, 1.0, 0.0), lease=300.0)
                assert await store.claim(execution_id, "stale", None)
                await store.forget_owner("stale")  # its owner is gone: claimable, expired
                await store.heartbeat(OwnerRecord("taker", "h", 1, 1.0, 0.0), lease=300.0)
                assert [c.previous for c in await store.claim_open("taker", 5)] == ["stale"]
                await store.reject(execution_id, [(UnitKey("hello"), 1)], "stale", "taken over")
            finally:
                await store.close()

        asyncio.run(take_over())
        with served.client("read") as reader:
            counted = samples(reader.get("/metrics").text)
    assert counted["fuchsia_lease_expiries_total"] == 1
    assert counted["fuchsia_rejected_completions_total"] == 1
    assert counted["fuchsia_claim_latency_seconds_count"] == 0  # a takeover is not a claim


# -- handing work over between processes -----------------------------------------------------

WAITS = """
name: waits
nodes:
  first: {transform: {n: 1}}
  hold: {after: first, wait: {signal: go}}
  last: {after: hold, transform: {got: "{{ by }}"}}
"""


def stored(url: str, execution_id: str) -> tuple[str, str | None]:
    """An execution's status and owner, read from the store in this process."""

    async def main() -> tuple[str, str | None]:
        store = open_store(url)
        await store.open()
        try:
            record = await store.get_execution(execution_id)
            return str(record.status), record.owner
        finally:
            await store.close()

    return asyncio.run(main())


def owner_id(url: str, name: str) -> str:
    (found,) = [o.id for o in owners(url) if o.name == name]
    return found


def counters(url: str) -> dict[str, int]:
    async def main() -> dict[str, int]:
        store = open_store(url)
        await store.open()
        try:
            return await store.counters()
        finally:
            await store.close()

    return asyncio.run(main())


def events_of(url: str, execution_id: str) -> list[EventRecord]:
    async def main() -> list[EventRecord]:
        store = open_store(url)
        await store.open()
        try:
            return await store.get_events(execution_id)
        finally:
            await store.close()

    return asyncio.run(main())


def test_a_killed_workers_execution_moves_to_another_worker_at_once(
    env: FuchsiaEnv, tmp_path: Path
) -> None:
    """Both workers hold their executions for an hour without renewing: only the pid check
    of a claim round can move the killed one's execution within the test's ceiling."""
    flow = tmp_path / "waits.yaml"
    flow.write_text(WAITS)
    url = store_of(env)
    with worker(env, "w-a", "--lease", "1h") as a:
        started = env.run("run", str(flow), "--detach", "--json")
        assert started.returncode == 0, started.stderr
        execution_id = json.loads(started.stdout)["id"]
        a_id = owner_id(url, "w-a")
        wait_until(
            "w-a to drive it to the wait", lambda: stored(url, execution_id) == ("waiting", a_id), a
        )
        with worker(env, "w-b", "--lease", "1h") as b:
            b_id = owner_id(url, "w-b")
            a.kill()
            a.wait()
            wait_until("w-b to take it over", lambda: stored(url, execution_id)[1] == b_id, b)
            signalled = env.run("runs", "signal", execution_id, "go", "--payload", '{"by": "b"}')
            assert signalled.returncode == 0, signalled.stderr
            done = wait_finished(env, execution_id)
    assert done["status"] == "completed" and done["result"] == {"got": "b"}
    by_node = {n["id"]: [a["worker"] for a in n["attempts"]] for n in done["nodes"]}
    assert by_node["first"] == ["w-a"]  # committed before the kill: not run again
    assert by_node["last"] == ["w-b"]
    assert counters(url)["lease_expiries"] == 1  # taken from an owner, not a fresh claim


def test_a_draining_worker_finishes_its_running_node_and_hands_the_rest_over(
    env: FuchsiaEnv, tmp_path: Path, http_server: Any
) -> None:
    path = f"/ok/drain-{uuid.uuid4().hex[:8]}"
    flow = tmp_path / "drains.yaml"
    flow.write_text(f"""
name: drains
nodes:
  call: {{http: {{url: "{http_server.url(path)}?delay=2"}}}}
  next: {{after: call, transform: {{done: true}}}}
""")
    url = store_of(env)
    with worker(env, "w-a", "--lease", "1h", "--grace", "60") as a:
        started = env.run("run", str(flow), "--detach", "--json")
        assert started.returncode == 0, started.stderr
        execution_id = json.loads(started.stdout)["id"]
        wait_until("w-a to call the server", lambda: http_server.count(path) >= 1, a)
        with worker(env, "w-b", "--lease", "1h") as b:
            code, err = stop(a)
            b_id = owner_id(url, "w-b")
            wait_until("w-b to take it over", lambda: stored(url, execution_id)[1] == b_id, b)
            done = wait_finished(env, execution_id)
    assert code == 0, err
    assert "worker w-a: draining" in err and "worker w-a: stopped" in err
    assert done["status"] == "completed", done
    attempts = {n["id"]: [(a["worker"], a["status"]) for a in n["attempts"]] for n in done["nodes"]}
    assert attempts == {"call": [("w-a", "succeeded")], "next": [("w-b", "succeeded")]}
    assert http_server.count(path) == 1  # the node finished within the grace: not run again


def test_serve_no_worker_records_everything_for_the_workers(env: FuchsiaEnv) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    server = env.popen("serve", "--no-worker", "--no-auth", "--port", str(port))
    try:
        wait_until("the server to answer", lambda: _healthy(api), server)
        assert httpx.post(f"{api}/api/v1/workflows", json={"source": FLOW}).status_code == 201
        posted = httpx.post(
            f"{api}/api/v1/executions", json={"workflow": "greet", "payload": {"name": "ed"}}
        )
        assert posted.status_code == 201, posted.text
        execution_id = posted.json()["id"]
        assert stored(store_of(env), execution_id) == ("pending", None)
        listed = httpx.get(f"{api}/api/v1/workers").json()
        assert [w for w in listed if w["slots"]] == []  # the server takes no work
        text = httpx.get(f"{api}/metrics").text
        ready = samples(text)
        assert (ready["fuchsia_work_ready"], ready["fuchsia_workers_alive"]) == (1, 0)
        # `fuchsia serve` records this process's metrics too: it created the execution
        assert sample(text, "fuchsia_executions_started_total", workflow="greet") == 1
        with worker(env, "w-serve") as process:
            done = wait_finished(env, execution_id)
            takers = [w for w in httpx.get(f"{api}/api/v1/workers").json() if w["slots"]]
            assert [w["name"] for w in takers] == ["w-serve"]
            retried = httpx.post(f"{api}/api/v1/executions/{execution_id}/retry")
            assert retried.status_code == 201, retried.text
            again = wait_finished(env, retried.json()["id"])
            stop(process)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=STOP_CEILING)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    assert done["status"] == "completed" and done["result"] == {"loud": "HELLO ED"}
    assert {a["worker"] for n in done["nodes"] for a in n["attempts"]} == {"w-serve"}
    assert again["status"] == "completed" and again["result"] == {"loud": "HELLO ED"}


def test_a_cancel_of_an_execution_nobody_holds_ends_it_at_once(env: FuchsiaEnv, flow: Path) -> None:
    async def record() -> str:
        async with await Engine.open(store_of(env), home=env.home, drives=False) as engine:
            return await engine.start(str(flow), {"name": "fi"})

    execution_id = asyncio.run(record())
    cancelled = env.run("runs", "cancel", execution_id, "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    assert show(env, execution_id)["status"] == "cancelled"
    assert all(not n["attempts"] for n in show(env, execution_id)["nodes"])  # nothing ran


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def test_a_stopped_worker_whose_lease_passed_commits_nothing_after_it_continues(
    env: FuchsiaEnv, tmp_path: Path, http_server: Any
) -> None:
    """w-a is SIGSTOPped while its http node waits at a barrier; once its lease (1s) has
    passed on the database's clock, w-b takes the execution and calls the node again, which
    lets both calls answer. w-a, continued, may not commit what it ran: the execution
    finishes once, under w-b, and w-a's completion is recorded as rejected."""
    path = f"/barrier/stopped-{uuid.uuid4().hex[:8]}"
    flow = tmp_path / "stopped.yaml"
    flow.write_text(f"""
name: stopped
nodes:
  call: {{http: {{url: "{http_server.url(path)}?n=2&timeout=120"}}}}
  next: {{after: call, transform: {{arrived: "{{{{ json.arrived }}}}"}}}}
""")
    url = store_of(env)
    with worker(env, "w-a", "--lease", "1s") as a:
        started = env.run("run", str(flow), "--detach", "--json")
        assert started.returncode == 0, started.stderr
        execution_id = json.loads(started.stdout)["id"]
        wait_until("w-a to call the barrier", lambda: http_server.count(path) >= 1, a)
        a.send_signal(signal.SIGSTOP)
        try:
            with worker(env, "w-b", "--lease", "1h") as b:
                b_id = owner_id(url, "w-b")
                wait_until("w-b to take it over", lambda: stored(url, execution_id)[1] == b_id, b)
                done = wait_finished(env, execution_id)
                a.send_signal(signal.SIGCONT)
                wait_until(
                    "w-a's completion to be refused",
                    lambda: counters(url).get("rejected_completions", 0) >= 1,
                    a,
                )
                wait_until(
                    "w-a to hold its lease again",
                    lambda: any(o.name == "w-a" and o.alive for o in owners(url)),
                    a,
                )
                events = events_of(url, execution_id)
        finally:
            a.send_signal(signal.SIGCONT)
        code, err = stop(a)
    assert done["status"] == "completed", done
    assert done["result"] == {"arrived": 2}
    assert http_server.count(path) == 2
    succeeded = [str(e.node_id) for e in events if e.type == "node_succeeded"]
    assert sorted(succeeded) == ["call", "next"]  # once each
    rejected = [e.data for e in events if e.type == "completion_rejected"]
    assert rejected and {d["worker"] for d in rejected if d} == {"w-a"}
    ran = {
        n["id"]: {a["worker"] for a in n["attempts"] if a["status"] == "succeeded"}
        for n in done["nodes"]
    }
    assert ran == {"call": {"w-b"}, "next": {"w-b"}}
    call = next(n for n in done["nodes"] if n["id"] == "call")
    assert [(a["number"], a["status"], a["worker"]) for a in call["attempts"]] == [
        (1, "interrupted", "w-a"),  # the attempt w-a ran keeps its name
        (2, "succeeded", "w-b"),
    ]
    assert counters(url)["lease_expiries"] >= 1
    assert code == 0, err
