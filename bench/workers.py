"""Scale-out benchmarks (issue 9): real `fuchsia worker` processes on one PostgreSQL.

The bench starts a throwaway PostgreSQL (the highest version under /usr/lib/postgresql, on
127.0.0.1, deleted afterwards) and, for each measurement, a new empty database and its own
worker processes (`python -m fuchsia worker --db URL --concurrency C --name wN`). Executions
are recorded detached, by an engine in this process that drives nothing
(`Engine.open(url, drives=False)`); the workers claim and run them. A run lasts from the first
record (`executions.created_at`) to the last completion (`finished_at`), both read from the
store once every execution has completed. Before a run, each worker runs one execution of the
same workflow alone (the others SIGSTOPped), so imports and template compilation are not timed.

S1  W3 on PostgreSQL: 50 executions of a 10-node chain of transforms, 1, 2 and 4 workers
    (and, for reference, one embedded engine in this process driving them itself): steps/s
S2  2,000 single-transform executions recorded while the workers are held back (SIGSTOP),
    then drained (timed from SIGCONT): nodes/s, 1 and 4 workers
S3  400 executions of one http node against a loopback server that answers after 100 ms,
    1, 4 and 8 workers at equal --concurrency: nodes/s and the ratio to one worker
S5  one execution whose foreach calls that server 400 times, 64 at once: 1 worker, and 4
    workers, at --concurrency 16: items/s and how many items each worker ran (beyond its 16
    slots the driving worker shares the items with the idle ones)
S4  claim-to-start latency while 2 workers are idle: executions recorded one at a time;
    from `created_at` (stamped in the recording transaction, just before its COMMIT) to the
    `at` of the first `node_running` event: p50, p99

Variants of one measurement alternate within each round; the table shows medians over the
rounds (S4: percentiles over every sample of every round). Each table also gives the CPU
milliseconds per node that the worker processes and this database's PostgreSQL backends used
during the timed run (Linux /proc): on a machine with few cores these bound the rates more
than the waits do. The output names the server's fsync setting and the load average, since
a shared machine's other load changes every figure. Asserts nothing.

Usage: python bench/workers.py [--quick] [--rounds N] [--fsync off] [--only S5 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg

from fuchsia import Engine, LockedWorkflow
from fuchsia.definition import lock, parse_text, validate
from loopback import serving

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"
HTTP_DELAY = 0.1  # seconds the loopback server waits before it answers
FINAL_FAILURES = ("failed", "cancelled", "interrupted")


# -- workflows -------------------------------------------------------------------------------


def _lock(text: str) -> LockedWorkflow:
    source = parse_text(text, "bench.yaml")
    return lock(validate(source), source)


def chain(length: int) -> LockedWorkflow:
    nodes = ["  n0:\n    transform: {value: 0}"]
    for i in range(1, length):
        nodes.append(
            f"  n{i}:\n    after: n{i - 1}\n    transform: {{value: '{{{{ value + 1 }}}}'}}"
        )
    return _lock(f"name: chain-{length}\nnodes:\n" + "\n".join(nodes))


def one_http(url: str) -> LockedWorkflow:
    return _lock(f'name: fetch\nnodes:\n  get:\n    http: {{url: "{url}"}}\n')


# -- PostgreSQL ------------------------------------------------------------------------------


def fan_http(url: str, items: int, concurrency: int) -> LockedWorkflow:
    return _lock(
        "name: fan\nnodes:\n  each:\n"
        f'    foreach: {{items: "{{{{ range({items}) | list }}}}", concurrency: {concurrency}}}\n'
        f'    http: {{url: "{url}"}}\n'
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pg_bindir() -> Path:
    found = [p.parent for p in PG_ROOT.glob("*/bin/pg_ctl")]
    if not found:
        sys.exit(f"PostgreSQL server binaries not found under {PG_ROOT}/*/bin")
    return max(found, key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0)


class Postgres:
    """A PostgreSQL server for this run only: its data and socket in a temporary folder."""

    def __init__(self, fsync: bool) -> None:
        self.fsync = fsync
        self.bindir = _pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="fuchsia-bench-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.server = f"postgresql://{PG_USER}@127.0.0.1:{self.port}"
        self._databases = 0

    @property
    def version(self) -> str:
        return self.bindir.parent.name

    def _run(self, *cmd: str) -> None:
        args = [str(self.bindir / cmd[0]), *cmd[1:]]
        if os.geteuid() == 0:  # the server refuses to run as root
            args = ["runuser", "-u", PG_USER, "--", *args]
        result = subprocess.run(args, cwd=self.root, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.root / "server.log"
            detail = log.read_text(errors="replace") if log.exists() else ""
            sys.exit(f"{' '.join(args)} exited {result.returncode}:\n{result.stderr}{detail}")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, PG_USER, PG_USER)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            PG_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        durability = "" if self.fsync else " -c fsync=off -c synchronous_commit=off"
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            f"-c max_connections=200{durability}"
        )
        log = str(self.root / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "-o", options, "start"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def database(self) -> str:
        """A URL to a new, empty database."""
        self._databases += 1
        name = f"bench{self._databases}"
        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"{self.server}/{name}"

    def settings(self) -> str:
        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'wal_sync_method') ORDER BY name"
            ).fetchall()
        return ", ".join(f"{name}={value}" for name, value in rows)


# -- the loopback HTTP server ----------------------------------------------------------------


class _SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API would allow
    disable_nagle_algorithm = True  # else the body waits ~40 ms for the headers' ACK

    def do_GET(self) -> None:
        time.sleep(HTTP_DELAY)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _SlowServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024


def slow_server() -> contextlib.AbstractContextManager[str]:
    """A loopback server that answers every GET after HTTP_DELAY; yields its base URL."""
    return serving(_SlowServer(("127.0.0.1", 0), _SlowHandler))


# -- worker processes ------------------------------------------------------------------------


@dataclass
class Workers:
    """`count` real `fuchsia worker` processes on `url`, each `concurrency` at once."""

    url: str
    count: int
    concurrency: int
    home: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [f"w{i + 1}" for i in range(self.count)]

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
        env["FUCHSIA_HOME"] = str(self.home)
        for name in self.names:
            log = (self.home / f"{name}.log").open("wb")
            cmd = [sys.executable, "-m", "fuchsia", "worker", "--db", self.url]
            cmd += ["--concurrency", str(self.concurrency), "--name", name, "--grace", "5"]
            self.procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log))
            log.close()

    async def ready(self, conn: psycopg.AsyncConnection[Any], timeout: float = 120.0) -> None:
        """Wait until every worker is registered with slots and LISTENs for work."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc, name in zip(self.procs, self.names, strict=True):
                if proc.poll() is not None:
                    log = (self.home / f"{name}.log").read_text(errors="replace")
                    raise RuntimeError(f"worker {name} exited {proc.returncode}:\n{log}")
            registered = await _scalar(conn, "SELECT count(*) FROM owners WHERE slots > 0")
            listening = await _scalar(
                conn,
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN fuchsia_work%'",
            )
            if registered >= self.count and listening >= self.count:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.count} workers not ready after {timeout:g}s")

    def signal(self, signum: int, skip: int | None = None) -> None:
        for i, proc in enumerate(self.procs):
            if i != skip:
                proc.send_signal(signum)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _scalar(conn: psycopg.AsyncConnection[Any], query: str, *args: Any) -> Any:
    cur = await conn.execute(query, args or None)
    row = await cur.fetchone()
    return None if row is None else row[0]


async def wait_completed(
    conn: psycopg.AsyncConnection[Any], since: float, count: int, timeout: float = 600.0
) -> None:
    """Wait until `count` executions created at or after `since` have completed."""
    deadline = time.monotonic() + timeout
    statuses: dict[str, int] = {}
    while time.monotonic() < deadline:
        cur = await conn.execute(
            "SELECT status, count(*) FROM executions WHERE created_at >= %s GROUP BY status",
            (since,),
        )
        statuses = dict(await cur.fetchall())
        failed = {s: n for s, n in statuses.items() if s in FINAL_FAILURES}
        if failed:
            raise RuntimeError(f"executions ended {failed}")
        if statuses.get("completed", 0) >= count:
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"{count} executions not completed after {timeout:g}s: {statuses}")


async def span(conn: psycopg.AsyncConnection[Any], since: float) -> tuple[float, float]:
    """The first `created_at` and the last `finished_at` of executions created since."""
    cur = await conn.execute(
        "SELECT min(created_at), max(finished_at) FROM executions WHERE created_at >= %s",
        (since,),
    )
    row = await cur.fetchone()
    assert row is not None
    return float(row[0]), float(row[1])


async def spread(conn: psycopg.AsyncConnection[Any], since: float) -> str:
    """How many of the executions created since each worker ran, e.g. `w1 12, w2 38`."""
    cur = await conn.execute(
        "SELECT a.worker, count(DISTINCT a.execution_id) FROM attempts a "
        "JOIN executions e ON e.id = a.execution_id WHERE e.created_at >= %s "
        "GROUP BY a.worker ORDER BY a.worker",
        (since,),
    )
    return ", ".join(f"{worker} {n}" for worker, n in await cur.fetchall())


async def item_spread(conn: psycopg.AsyncConnection[Any], since: float) -> str:
    """How many foreach items of the executions created since each worker ran."""
    cur = await conn.execute(
        "SELECT a.worker, count(*) FROM attempts a JOIN executions e ON e.id = a.execution_id "
        "WHERE e.created_at >= %s AND a.item >= 0 GROUP BY a.worker ORDER BY a.worker",
        (since,),
    )
    return ", ".join(f"{worker} {n}" for worker, n in await cur.fetchall())


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0 elsewhere or if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds the worker processes and the PostgreSQL backends spend from its start."""

    def __init__(self, workers: list[int], backends: list[int]) -> None:
        self.workers, self.backends = workers, backends
        self.start = self._now()

    def _now(self) -> tuple[float, float]:
        return (
            sum(_cpu_seconds(p) for p in self.workers),
            sum(_cpu_seconds(p) for p in self.backends),
        )

    def per(self, nodes: int) -> tuple[float, float]:
        """Milliseconds per node so far: (workers, backends)."""
        workers, backends = self._now()
        return (
            (workers - self.start[0]) * 1000 / nodes,
            (backends - self.start[1]) * 1000 / nodes,
        )


@dataclass
class Setup:
    """One measurement's database, its recording engine, workers and a polling connection."""

    url: str
    engine: Engine
    conn: psycopg.AsyncConnection[Any]
    workers: Workers

    async def record(self, workflow: LockedWorkflow, count: int) -> float:
        """Record `count` executions at once (group-committed); the time just before."""
        since = time.time()
        await asyncio.gather(*(self.engine.start(workflow) for _ in range(count)))
        return since

    async def meter(self) -> CpuMeter:
        """CPU time from now on of the workers and of this database's server backends."""
        cur = await self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        )
        backends = [int(pid) for (pid,) in await cur.fetchall()]
        return CpuMeter([p.pid for p in self.workers.procs], backends)

    async def warm(self, workflow: LockedWorkflow) -> None:
        """Each worker alone (the others SIGSTOPped) runs one execution of `workflow`."""
        for i in range(self.workers.count):
            self.workers.signal(signal.SIGSTOP, skip=i)
            try:
                await wait_completed(self.conn, await self.record(workflow, 1), 1)
            finally:
                self.workers.signal(signal.SIGCONT, skip=i)
        await asyncio.sleep(0.2)  # the resumed workers see their stale wake-ups: nothing


@contextlib.asynccontextmanager
async def setup(
    pg: Postgres, count: int, concurrency: int, warm: LockedWorkflow | None
) -> AsyncIterator[Setup]:
    url = pg.database()
    with tempfile.TemporaryDirectory(prefix="fuchsia-bench-") as tmp:
        engine = await Engine.open(url, home=Path(tmp) / "bench", drives=False)
        workers = Workers(url, count, concurrency, Path(tmp))
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                workers.start()
                await workers.ready(conn)
                state = Setup(url, engine, conn, workers)
                if warm is not None:
                    await state.warm(warm)
                yield state
        finally:
            workers.stop()
            await engine.close()


# -- the measurements ------------------------------------------------------------------------


async def s_embedded(pg: Postgres, workflow: LockedWorkflow, executions: int) -> Run:
    """One engine in this process starts and drives the executions itself (no workers)."""
    url = pg.database()
    with tempfile.TemporaryDirectory(prefix="fuchsia-bench-") as tmp:
        async with (
            await Engine.open(url, home=Path(tmp)) as engine,
            await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
        ):
            await engine.run(workflow)
            cur = await conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            )
            meter = CpuMeter([os.getpid()], [int(pid) for (pid,) in await cur.fetchall()])
            since = time.time()
            results = await asyncio.gather(*(engine.run(workflow) for _ in range(executions)))
            assert all(r.status == "completed" for r in results), results[0].error
            nodes = executions * len(workflow.nodes)
            engine_ms, pg_ms = meter.per(nodes)
            first, last = await span(conn, since)
    return Run(nodes / (last - first), "all in the bench process", engine_ms, pg_ms)


@dataclass(frozen=True)
class Run:
    """One timed run: nodes (steps) per second, how the executions spread over the workers,
    and the CPU milliseconds per node spent by the workers and by this database's backends."""

    rate: float
    spread: str
    worker_ms: float
    pg_ms: float


async def s_workers(
    pg: Postgres, workflow: LockedWorkflow, executions: int, count: int, concurrency: int
) -> Run:
    """`executions` recorded at once while `count` workers are idle; timed from the first
    record to the last completion."""
    async with setup(pg, count, concurrency, workflow) as s:
        meter = await s.meter()
        since = await s.record(workflow, executions)
        await wait_completed(s.conn, since, executions)
        nodes = executions * len(workflow.nodes)
        worker_ms, pg_ms = meter.per(nodes)
        first, last = await span(s.conn, since)
        return Run(nodes / (last - first), await spread(s.conn, since), worker_ms, pg_ms)


async def s_fanout(
    pg: Postgres, workflow: LockedWorkflow, items: int, count: int, concurrency: int
) -> Run:
    """One execution of a foreach of `items` recorded while `count` workers are idle; timed
    from the record to its completion."""
    async with setup(pg, count, concurrency, workflow) as s:
        meter = await s.meter()
        since = await s.record(workflow, 1)
        await wait_completed(s.conn, since, 1)
        worker_ms, pg_ms = meter.per(items)
        first, last = await span(s.conn, since)
        return Run(items / (last - first), await item_spread(s.conn, since), worker_ms, pg_ms)


async def s_drain(
    pg: Postgres, workflow: LockedWorkflow, executions: int, count: int, concurrency: int
) -> Run:
    """`executions` recorded while the workers are held back (SIGSTOP); timed from their
    release (SIGCONT) to the last completion."""
    async with setup(pg, count, concurrency, workflow) as s:
        s.workers.signal(signal.SIGSTOP)
        try:
            since = await s.record(workflow, executions)
        finally:
            meter = await s.meter()
            released = time.time()
            s.workers.signal(signal.SIGCONT)
        await wait_completed(s.conn, since, executions)
        nodes = executions * len(workflow.nodes)
        worker_ms, pg_ms = meter.per(nodes)
        _, last = await span(s.conn, since)
        return Run(nodes / (last - released), await spread(s.conn, since), worker_ms, pg_ms)


async def s4_latency(
    pg: Postgres, workflow: LockedWorkflow, samples: int, gap: float
) -> tuple[list[float], float]:
    """Seconds from each record's `created_at` to its first `node_running` event, with 2
    idle workers; executions recorded one at a time, `gap` seconds after the last ended.
    Also the mean seconds from record to claim, from the store's `claims` and
    `claim_latency_us` counters (the warm-up executions included)."""
    async with setup(pg, 2, 16, workflow) as s:
        latencies = []
        for _ in range(samples):
            since = await s.record(workflow, 1)
            await wait_completed(s.conn, since, 1)
            cur = await s.conn.execute(
                "SELECT min(ev.at) - min(e.created_at) FROM executions e "
                "JOIN events ev ON ev.execution_id = e.id AND ev.type = 'node_running' "
                "WHERE e.created_at >= %s",
                (since,),
            )
            row = await cur.fetchone()
            assert row is not None
            latencies.append(float(row[0]))
            await asyncio.sleep(gap)
        cur = await s.conn.execute(  # the totals: shared rows and every owner's own
            "SELECT name, SUM(value) FROM (SELECT name, value FROM counters UNION ALL "
            "SELECT name, value FROM owner_counters) AS every_count GROUP BY name"
        )
        counters = {str(name): int(value) for name, value in await cur.fetchall()}
        claim = counters.get("claim_latency_us", 0) / 1e6 / max(counters.get("claims", 0), 1)
        return latencies, claim


# -- the report ------------------------------------------------------------------------------


def p99(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


@dataclass
class Config:
    rounds: int
    chains: int = 50
    chain_length: int = 10
    chain_concurrency: int = 16
    drain: int = 2000
    drain_concurrency: int = 16
    http: int = 400
    http_concurrency: int = 16
    fan_items: int = 400
    fan_concurrency: int = 64
    samples: int = 50
    gap: float = 0.05

    @classmethod
    def of(cls, args: argparse.Namespace) -> Config:
        if args.quick:
            return cls(
                rounds=args.rounds or 1, chains=20, drain=400, http=160, samples=15, fan_items=160
            )
        return cls(rounds=args.rounds or 3)


Measure = Callable[[], Awaitable[Run]]


async def alternate(rounds: int, variants: dict[str, Measure]) -> dict[str, list[Run]]:
    """Each variant once per round, in turn; every run of each."""
    runs: dict[str, list[Run]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, measure in variants.items():
            runs[name].append(await measure())
    return runs


def rate(runs: list[Run]) -> float:
    return statistics.median(r.rate for r in runs)


def row(name: str, runs: list[Run], target: str = "-", ok: str = "-") -> list[str]:
    """variant, median rate, target, met, median CPU ms per node, spread of the last run."""
    worker_ms = statistics.median(r.worker_ms for r in runs)
    pg_ms = statistics.median(r.pg_ms for r in runs)
    cpu = f"{worker_ms:.2f} + {pg_ms:.2f}"
    return [name, f"{rate(runs):,.0f}", target, ok, cpu, runs[-1].spread]


def workers(n: int) -> str:
    return f"{n} worker{'s' * (n > 1)}"


CPU = "CPU ms per node: workers + PostgreSQL"
SPREAD = "executions per worker (last round)"


async def run_s1(pg: Postgres, cfg: Config) -> None:
    flow = chain(cfg.chain_length)
    variants: dict[str, Measure] = {
        "embedded engine (reference)": lambda: s_embedded(pg, flow, cfg.chains),
    }
    for n in (1, 2, 4):
        variants[workers(n)] = functools.partial(
            s_workers, pg, flow, cfg.chains, n, cfg.chain_concurrency
        )
    runs = await alternate(cfg.rounds, variants)
    rows = [
        row(name, r, "> 3,000", met(rate(r) > 3000)) if name == workers(4) else row(name, r)
        for name, r in runs.items()
    ]
    table(
        f"S1 W3 on PostgreSQL: {cfg.chains} executions of a {cfg.chain_length}-node chain of "
        f"transforms ({cfg.chains * cfg.chain_length} steps), --concurrency "
        f"{cfg.chain_concurrency} per worker",
        ["variant", "steps/s", "target", "met", CPU, SPREAD],
        rows,
    )


async def run_s2(pg: Postgres, cfg: Config) -> None:
    flow = chain(1)
    variants: dict[str, Measure] = {
        workers(n): functools.partial(s_drain, pg, flow, cfg.drain, n, cfg.drain_concurrency)
        for n in (1, 4)
    }
    runs = await alternate(cfg.rounds, variants)
    rows = [
        row(name, r, "> 5,000", met(rate(r) > 5000)) if name == workers(4) else row(name, r)
        for name, r in runs.items()
    ]
    table(
        f"S2 {cfg.drain:,} ready single-transform executions drained, --concurrency "
        f"{cfg.drain_concurrency} per worker (from SIGCONT to the last completion)",
        ["variant", "nodes/s", "target", "met", CPU, SPREAD],
        rows,
    )


async def run_s3(pg: Postgres, cfg: Config) -> None:
    counts = (1, 4, 8)
    with slow_server() as base:
        flow = one_http(f"{base}/slow")
        variants: dict[str, Measure] = {
            workers(n): functools.partial(s_workers, pg, flow, cfg.http, n, cfg.http_concurrency)
            for n in counts
        }
        runs = await alternate(cfg.rounds, variants)
    one = rate(runs[workers(1)])

    def bound(n: int) -> float:
        """Nodes/s if only the server's waits took time: full waves of HTTP_DELAY."""
        return cfg.http / (math.ceil(cfg.http / (n * cfg.http_concurrency)) * HTTP_DELAY)

    rows = []
    for n in counts:
        r = runs[workers(n)]
        target, ok = ("8 workers >= 6x 1", met(rate(r) >= 6 * one)) if n == 8 else ("-", "-")
        name, nodes, _, _, cpu, spread_ = row(workers(n), r)
        ratio = f"{rate(r) / one:.2f}x"
        waits = f"{bound(n):,.0f} ({bound(n) / bound(1):.2f}x)"
        rows.append([name, nodes, ratio, waits, target, ok, cpu, spread_])
    table(
        f"S3 {cfg.http} executions of one http node; the server answers after "
        f"{HTTP_DELAY * 1000:.0f} ms; --concurrency {cfg.http_concurrency} per worker",
        [
            "variant",
            "nodes/s",
            "vs 1 worker",
            "bound by the waits alone",
            "target",
            "met",
            CPU,
            SPREAD,
        ],
        rows,
    )


async def run_s5(pg: Postgres, cfg: Config) -> None:
    with slow_server() as base:
        flow = fan_http(f"{base}/slow", cfg.fan_items, cfg.fan_concurrency)
        variants: dict[str, Measure] = {
            workers(n): functools.partial(
                s_fanout, pg, flow, cfg.fan_items, n, cfg.http_concurrency
            )
            for n in (1, 4)
        }
        runs = await alternate(cfg.rounds, variants)
    bound = cfg.fan_items / (math.ceil(cfg.fan_items / cfg.fan_concurrency) * HTTP_DELAY)
    rows = []
    for name, r in runs.items():
        variant, nodes, _, _, cpu, spread_ = row(name, r)
        rows.append([variant, nodes, f"{bound:,.0f}", cpu, spread_])
    table(
        f"S5 one execution: a foreach of {cfg.fan_items} http calls, {cfg.fan_concurrency} at "
        f"once; the server answers after {HTTP_DELAY * 1000:.0f} ms; --concurrency "
        f"{cfg.http_concurrency} per worker",
        ["variant", "items/s", "bound by the waits alone", CPU, "items per worker (last round)"],
        rows,
    )


async def run_s4(pg: Postgres, cfg: Config) -> None:
    workflow = chain(1)
    latencies: list[float] = []
    claims: list[float] = []
    for _ in range(cfg.rounds):
        samples, claim = await s4_latency(pg, workflow, cfg.samples, cfg.gap)
        latencies += samples
        claims.append(claim * 1000)
    ms = [x * 1000 for x in latencies]
    rows = [
        ["p50", f"{statistics.median(ms):.1f} ms", "-", "-"],
        ["p99", f"{p99(ms):.1f} ms", "< 50 ms", met(p99(ms) < 50)],
        ["max", f"{max(ms):.1f} ms", "-", "-"],
        ["record -> claim: mean (store counters)", f"{statistics.median(claims):.1f} ms", "-", "-"],
    ]
    table(
        f"S4 claim-to-start latency, 2 idle workers: created_at -> first node_running, "
        f"{len(ms)} executions recorded one at a time ({cfg.samples} per round)",
        ["percentile", "latency", "target", "met"],
        rows,
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def amain(cfg: Config, fsync: bool, only: set[str]) -> None:
    pg = Postgres(fsync)
    pg.start()
    try:
        print(
            f"PostgreSQL {pg.version} on 127.0.0.1 ({pg.settings()}); {os.cpu_count()} CPUs; "
            f"Python {sys.version.split()[0]}; {cfg.rounds} round(s), medians; "
            f"load average {_load()} (the machine may be shared: other processes' load counts)"
        )
        for name, measure in (
            ("S1", run_s1), ("S2", run_s2), ("S3", run_s3), ("S5", run_s5), ("S4", run_s4),
        ):  # fmt: skip
            if not only or name in only:
                await measure(pg, cfg)
        print(f"\nload average at the end: {_load()}")
    finally:
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller loads, one round")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 3, quick 1)")
    parser.add_argument(
        "--fsync",
        choices=("on", "off"),
        default="on",
        help="the bench server's fsync and synchronous_commit (default on)",
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="S1..S5", help="only these (repeat)"
    )
    args = parser.parse_args()
    asyncio.run(amain(Config.of(args), args.fsync == "on", set(args.only)))


if __name__ == "__main__":
    main()
