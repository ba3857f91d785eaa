"""Web UI benchmarks (issue 10; not `bench/ui.py`, whose module name `ui` would clash with
the tests/ui package under mypy), against the real app on 127.0.0.1 (tokens off): the runs
page over a store of `--executions` executions, a run page whose foreach has `--items`
items, and how long a state change takes to reach an open page's event stream.

The store is filled fast: `--executions` copies of one finished execution (new ids, older
than the real ones) written straight into the SQLite file, then 50 real runs on top, so the
first page shows real executions with real nodes. Never asserted in tests.

Usage: python bench/webui.py [--executions N] [--items N] [--samples N]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from fuchsia import Engine
from fuchsia.definition import LockedWorkflow, lock, parse_text, validate
from fuchsia.server.app import create_app

SMALL = """
name: small
nodes:
  a: {transform: {x: 1}}
  b: {after: a, transform: {y: "{{ x }}"}}
  c: {after: b, transform: {z: "{{ y }}"}}
"""
FANOUT = """
name: fanout
nodes:
  numbers: {{transform: {{values: "{{{{ range({items}) | list }}}}"}}}}
  square:
    after: numbers
    foreach: {{items: "{{{{ values }}}}", concurrency: 50}}
    transform: {{v: "{{{{ item * item }}}}"}}
  total: {{after: square, transform: {{n: "{{{{ data | length }}}}"}}}}
"""
WAITER = """
name: waiter
nodes:
  hold: {wait: {signal: go}}
  after_it: {after: hold, transform: {done: true}}
"""


def locked(text: str) -> LockedWorkflow:
    source = parse_text(text, "bench.yaml")
    return lock(validate(source), source)


def copy_executions(db: Path, template: str, count: int) -> None:
    """`count` copies of execution `template`, each with a new id older than every real one."""
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(executions)")]
        start_ms = int(time.time() * 1000) - 10 * 86_400_000  # ten days ago and older
        values = {
            "id": "printf('%012x%014x', ? - n.i, n.i)",
            "idempotency_key": "NULL",
            "created_at": "(? - n.i) / 1000.0",
        }
        chosen = ", ".join(values.get(c, c) for c in columns)
        conn.execute(
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            f"INSERT INTO executions ({', '.join(columns)}) "
            f"SELECT {chosen} FROM executions, n WHERE executions.id = ?",
            (count, start_ms, start_ms, template),
        )


def timed(client: httpx.Client, path: str, samples: int) -> list[float]:
    spent = []
    for _ in range(samples):
        started = time.perf_counter()
        answer = client.get(path)
        spent.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code)
    return sorted(spent)


def change_latency(url: str, client: httpx.Client, execution_id: str, csrf: str) -> float:
    """Seconds from a signal's answer to the `changed` event on the run's open stream."""
    seen = threading.Event()
    ready = threading.Event()
    sent_at: list[float] = []
    got_at: list[float] = []

    def listen() -> None:
        with (
            httpx.Client(base_url=url, timeout=30) as streaming,
            streaming.stream(
                "GET", f"/live/runs/{execution_id}?after=999999999&status=waiting"
            ) as stream,
        ):
            ready.set()
            for line in stream.iter_lines():
                if line.startswith("event: changed") and sent_at:
                    got_at.append(time.perf_counter())
                    seen.set()
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(30)
    time.sleep(0.5)  # the stream has read the state it starts from
    started = time.perf_counter()
    form = {"signal": "go", "payload": "{}", "csrf": csrf}
    assert client.post(f"/runs/{execution_id}/signal", data=form).status_code == 303
    sent_at.append(started)
    seen.wait(30)
    return got_at[0] - started


def p(values: list[float], q: float) -> float:
    return values[max(math.ceil(len(values) * q) - 1, 0)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ui.db"

        async def fill() -> tuple[str, list[str]]:
            async with await Engine.open(str(db), home=Path(tmp) / "home") as engine:
                template = await engine.run(locked(SMALL))
                copy_executions(db, template.id, args.executions)
                for _ in range(50):
                    await engine.run(locked(SMALL))
                fanout = await engine.run(locked(FANOUT.format(items=args.items)))
                waiting = [await engine.start(locked(WAITER)) for _ in range(args.samples)]
                return fanout.id, waiting

        fanout_id, waiting = asyncio.run(fill())

        async def open_engine() -> Engine:
            return await Engine.open(str(db), home=Path(tmp) / "home")

        port = 18500 + int(time.time()) % 400
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(open_engine, auth=False, schedule=False),
                port=port,
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, timeout=60, trust_env=False) as client:
                runs = timed(client, "/", args.samples)
                older = timed(client, "/?status=completed&before=" + fanout_id, args.samples)
                run = timed(client, f"/runs/{fanout_id}", args.samples)
                node = timed(client, f"/runs/{fanout_id}?node=square", args.samples)
                found = re.search(
                    r'name="csrf" value="([^"]+)"', client.get("/runs/" + waiting[0]).text
                )
                assert found, "no form on a waiting run's page"
                changes = sorted(change_latency(url, client, w, found.group(1)) for w in waiting)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    print("| measure | p50 | p95 | target |")
    print("|---|---|---|---|")
    rows = [
        (f"runs page, {args.executions + 51:,} executions", runs, "150 ms"),
        ("runs page, filtered and paged", older, "150 ms"),
        (f"run page, foreach of {args.items:,} items", run, "300 ms"),
        (f"run page with the foreach's panel open ({args.items:,} items)", node, "300 ms"),
        ("state change to an open page's stream", changes, "250 ms"),
    ]
    for name, values, target in rows:
        print(
            f"| {name} | {statistics.median(values) * 1000:.0f} ms | {p(values, 0.95):.0f} ms "
            f"| {target} |"
        )


if __name__ == "__main__":
    main()
