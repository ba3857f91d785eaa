"""Engine benchmarks W1-W4 (issue 2) on transform nodes; prints a Markdown table.

W1  a 100-node chain: per-step overhead
W2  one node -> 100 parallel nodes -> a join: fan-out/fan-in latency
W3  50 executions of 10-node chains started concurrently: steps per second
W4  `fuchsia run` of a one-node workflow in a fresh process with an empty FUCHSIA_HOME
W5  a foreach of 1,000 items with concurrency 50 over a transform node (issue 4)
C0  one bare SQLite commit (WAL, one small row per transaction, from Python's sqlite3): the
    floor a durable step cannot go below; W1 is shown as a multiple of it (issue 9's targets:
    W1 at full within 1.5x of C0, at normal within 5x)

Each of W1-W3 runs at both SQLite durability settings: `full` (the default, power-loss safe)
and `normal` (safe against a crash of the process only). Usage: python bench/engine.py [--quick]
[--only W5 ...] (the rows of those workloads alone).

`--otel` (issue 12) measures W1 and W3 instead with tracing off and on, side by side in one run
(the two engines take turns): on is what `OTEL_EXPORTER_OTLP_ENDPOINT` configures (batching
span and log processors, OTLP/HTTP protobuf) pointed at a receiver on 127.0.0.1 that reads each
export and answers 200, as a collector would. Each engine's warm-up run is flushed before it is
measured, so what starts once (an exporter, its connection) is not counted as a step's cost,
and each engine's turn records metrics as its own configuration does (the recorder is the
process's: with every signal on it records OpenTelemetry metrics, else nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fuchsia import Engine, LockedWorkflow
from fuchsia.definition import lock, parse_text, validate
from fuchsia.observe import metrics


def chain(length: int) -> LockedWorkflow:
    nodes = ["  n0:\n    transform: {value: 0}"]
    for i in range(1, length):
        nodes.append(
            f"  n{i}:\n    after: n{i - 1}\n    transform: {{value: '{{{{ value + 1 }}}}'}}"
        )
    return _lock(f"name: chain-{length}\nnodes:\n" + "\n".join(nodes))


def fan(width: int) -> LockedWorkflow:
    nodes = ["  start:\n    transform: {value: 1}"]
    nodes += [
        f"  p{i}:\n    after: start\n    transform: {{v: '{{{{ value + {i} }}}}'}}"
        for i in range(width)
    ]
    ups = ", ".join(f"p{i}" for i in range(width))
    count = "{{ data | length }}"
    nodes.append(f"  join:\n    after: [{ups}]\n    join: all\n    transform: {{n: '{count}'}}")
    return _lock(f"name: fan-{width}\nnodes:\n" + "\n".join(nodes))


def mapped(items: int, concurrency: int) -> LockedWorkflow:
    square = "{{ item * item }}"
    return _lock(
        f"name: map-{items}\nnodes:\n  each:\n"
        f"    foreach: {{items: '{{{{ range({items}) | list }}}}', concurrency: {concurrency}}}\n"
        f"    transform: {{square: '{square}'}}\n"
    )


def _lock(text: str) -> LockedWorkflow:
    source = parse_text(text)
    return lock(validate(source), source)


async def _engine(home: Path, synchronous: str) -> Engine:
    return await Engine.open(f"sqlite:///{home / 'bench.db'}?synchronous={synchronous}")


async def _median_seconds(
    home: Path, synchronous: str, repeats: int, workflow: LockedWorkflow, concurrent: int
) -> float:
    """Median wall time of `concurrent` simultaneous runs of `workflow`, after a warm-up run
    (templates compiled, tables hot)."""
    async with await _engine(home, synchronous) as engine:
        await engine.run(workflow)
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            results = await asyncio.gather(*(engine.run(workflow) for _ in range(concurrent)))
            samples.append(time.perf_counter() - started)
            assert all(r.status == "completed" for r in results), results[0].error
    return statistics.median(samples)


async def w1(home: Path, synchronous: str, repeats: int) -> float:
    """Milliseconds per step of a 100-node chain."""
    return await _median_seconds(home, synchronous, repeats, chain(100), 1) / 100 * 1000


async def w2(home: Path, synchronous: str, repeats: int) -> float:
    """Seconds for one -> 100 parallel -> join."""
    return await _median_seconds(home, synchronous, repeats, fan(100), 1)


async def w5(home: Path, synchronous: str, repeats: int) -> float:
    """Seconds for a 1,000-item foreach with concurrency 50 over transform nodes."""
    return await _median_seconds(home, synchronous, repeats, mapped(1000, 50), 1)


async def w3(home: Path, synchronous: str, repeats: int) -> float:
    """Steps per second with 50 concurrent 10-node chains."""
    return 500 / await _median_seconds(home, synchronous, repeats, chain(10), 50)


def w4(synchronous: str, repeats: int) -> float:
    """Seconds for `fuchsia run` of a one-node workflow in a fresh process and empty home."""
    samples = []
    fuchsia = Path(sys.executable).with_name("fuchsia")
    with tempfile.TemporaryDirectory() as tmp:
        flow = Path(tmp) / "one.yaml"
        flow.write_text("name: one\nnodes:\n  only:\n    transform: {ok: true}\n")
        for i in range(repeats):
            home = Path(tmp) / f"home{i}"
            env = {**os.environ, "FUCHSIA_HOME": str(home)}
            env.pop("FUCHSIA_DB", None)
            if synchronous != "full":  # the default store, with the other durability setting
                env["FUCHSIA_DB"] = f"sqlite:///{home / 'fuchsia.db'}?synchronous={synchronous}"
            started = time.perf_counter()
            subprocess.run(
                [str(fuchsia), "run", str(flow), "--json"], env=env, check=True, capture_output=True
            )
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bare_commit(home: Path, synchronous: str, commits: int = 500) -> float:
    """Milliseconds per commit of one small row in its own transaction, WAL, `synchronous`."""
    conn = sqlite3.connect(home / f"bare-{synchronous}.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, data TEXT)")
        samples = []
        for i in range(commits):
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (data) VALUES (?)", (f'{{"value": {i}}}',))
            conn.execute("COMMIT")
            samples.append(time.perf_counter() - started)
    finally:
        conn.close()
    return statistics.median(samples) * 1000


class _Collector(BaseHTTPRequestHandler):
    """Takes an OTLP/HTTP export (`POST /v1/traces`, `/v1/logs`, `/v1/metrics`) and answers
    200; `GET /received` answers how many it took."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received += 1
        self._answer(b"", "application/x-protobuf")

    def do_GET(self) -> None:
        self._answer(str(type(self).received).encode(), "text/plain")

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def receive() -> None:
    """The receiver process (`--receive`): a collector runs apart from what it watches, so
    its own work does not take the engine's interpreter. Prints its port, serves until
    killed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    print(server.server_address[1], flush=True)
    server.serve_forever()


# what an operator sets (the endpoint turns on every signal) and the traces alone
SIGNALS = {
    "traces": {"OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
    "all": {},
}


async def _traced_engine(home: Path, endpoint: str, signals: str) -> Engine:
    """An engine configured the way an operator does it: by the `OTEL_*` variables."""
    wanted = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "fuchsia-bench"}
    wanted |= SIGNALS[signals]
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        return await Engine.open(f"sqlite:///{home / f'{signals}.db'}")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _flush(engine: Engine) -> None:
    """Export what the engine's providers hold (a warm-up's spans: the exporter started,
    its connection open), as a long-running engine has long done before it is measured."""
    telemetry = engine.telemetry
    for provider in (
        getattr(telemetry, "tracer_provider", None),
        getattr(telemetry, "logger_provider", None),
    ):
        if provider is not None:
            provider.force_flush()


async def otel(home: Path, repeats: int, endpoint: str) -> dict[str, dict[str, float]]:
    """W1 (ms per step) and W3 (steps per second) with tracing off, traces on and every
    signal on, the three engines taking turns."""
    engines = {"off": await Engine.open(f"sqlite:///{home / 'off.db'}")}
    for signals in SIGNALS:
        engines[signals] = await _traced_engine(home, endpoint, signals)
    assert not engines["off"].telemetry.enabled and engines["traces"].telemetry.enabled
    # the engine's metrics recorder is the process's: once the every-signal engine is open,
    # the others would record OpenTelemetry metrics too, so each turn sets its own
    recorders = {"off": metrics.Recorder(), "traces": metrics.Recorder(), "all": metrics.recorder}
    results: dict[str, dict[str, float]] = {}
    try:
        for name, workflow, concurrent, steps in (
            ("w1", chain(100), 1, 100),
            ("w3", chain(10), 50, 500),
        ):
            samples: dict[str, list[float]] = {mode: [] for mode in engines}
            for mode, engine in engines.items():  # warm up each, its export too
                metrics.recorder = recorders[mode]
                await engine.run(workflow)
                await asyncio.to_thread(_flush, engine)
            for _ in range(repeats):
                for mode, engine in engines.items():
                    metrics.recorder = recorders[mode]
                    runs: list[Awaitable[object]] = [
                        engine.run(workflow) for _ in range(concurrent)
                    ]
                    started = time.perf_counter()
                    await asyncio.gather(*runs)
                    samples[mode].append(time.perf_counter() - started)
            medians = {mode: statistics.median(samples[mode]) for mode in engines}
            if name == "w1":
                results[name] = {mode: s / steps * 1000 for mode, s in medians.items()}
            else:
                results[name] = {mode: steps / s for mode, s in medians.items()}
    finally:
        for engine in engines.values():
            await engine.close()  # flushes what is batched
    return results


def print_otel(repeats: int) -> None:
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--receive"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None
        endpoint = f"http://127.0.0.1:{receiver.stdout.readline().strip()}"
        with tempfile.TemporaryDirectory() as tmp:
            results = asyncio.run(otel(Path(tmp), repeats, endpoint))
        with urllib.request.urlopen(f"{endpoint}/received") as answer:
            received = int(answer.read())
    finally:
        receiver.kill()
        receiver.wait()
    assert received > 0, "the receiver got no export"
    w1, w3 = results["w1"], results["w3"]
    print(
        "| workload (synchronous=full) | target | tracing off | traces on | on / off"
        " | every signal on | on / off |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| W1 100-node chain, per step | on within 20% | {w1['off']:.3f} ms"
        f" | {w1['traces']:.3f} ms | {w1['traces'] / w1['off']:.2f}x"
        f" | {w1['all']:.3f} ms | {w1['all'] / w1['off']:.2f}x |"
    )
    print(
        f"| W3 50 concurrent 10-node chains | on within 20% | {w3['off']:,.0f} steps/s"
        f" | {w3['traces']:,.0f} steps/s | {w3['traces'] / w3['off']:.2f}x"
        f" | {w3['all']:,.0f} steps/s | {w3['all'] / w3['off']:.2f}x |"
    )
    print(f"\n{received} OTLP exports received")


WORKLOADS = ("C0", "W1", "W2", "W3", "W4", "W5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--otel", action="store_true", help="W1 and W3, tracing off vs on")
    parser.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only",
        action="append",
        choices=WORKLOADS,
        help="run only this workload (repeatable; W1 / C0 needs both)",
    )
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    if args.receive:
        receive()
        return
    if args.otel:
        print_otel(repeats)
        return
    only = set(args.only or WORKLOADS)
    measures: dict[str, Callable[[Path, str], float]] = {
        "c0": lambda home, sync: bare_commit(home, sync),
        "w1": lambda home, sync: asyncio.run(w1(home, sync, repeats)),
        "w2": lambda home, sync: asyncio.run(w2(home, sync, repeats)),
        "w3": lambda home, sync: asyncio.run(w3(home, sync, repeats)),
        "w5": lambda home, sync: asyncio.run(w5(home, sync, repeats)),
    }
    results: dict[str, dict[str, float]] = {}
    for synchronous in ("full", "normal"):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            results[synchronous] = {
                name: measure(home, synchronous)
                for name, measure in measures.items()
                if name.upper() in only
            }
    if "W4" in only:
        for synchronous in ("full", "normal"):
            results[synchronous]["w4"] = w4(synchronous, repeats)
    full, normal = results["full"], results["normal"]
    rows: list[tuple[str, str, str, str]] = [  # workload, label, target, cell
        ("C0", "C0 one bare SQLite commit (WAL)", "-", "{c0:.3f} ms"),
        ("W1", "W1 / C0", "full < 1.5x, normal < 5x", "{ratio:.1f}x"),
        ("W1", "W1 100-node chain, per step", "< 0.4 ms", "{w1:.3f} ms"),
        ("W2", "W2 1 -> 100 parallel -> join", "< 0.15 s", "{w2:.3f} s"),
        ("W3", "W3 50 concurrent 10-node chains", "> 3,000 steps/s", "{w3:,.0f} steps/s"),
        ("W4", "W4 `fuchsia run`, fresh process, empty home", "< 0.5 s", "{w4:.3f} s"),
        (
            "W5",
            "W5 foreach of 1,000 items, concurrency 50",
            "-",
            "{w5:.3f} s ({w5:.3f} ms/item)",
        ),
    ]
    print("| workload | target | synchronous=full (default) | synchronous=normal |")
    print("|---|---|---|---|")
    for workload, label, target, cell in rows:
        if workload not in only or (label == "W1 / C0" and "C0" not in only):
            continue
        shown = [
            cell.format(ratio=r.get("w1", 0.0) / r["c0"] if "c0" in r else 0.0, **r)
            for r in (full, normal)
        ]
        print("| " + " | ".join((label, target, *shown)) + " |")


if __name__ == "__main__":
    main()
