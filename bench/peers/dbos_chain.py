"""DBOS Transact's side of bench/peers.py: the same chain shapes as Fuchsia's W1 and W3.

Run by bench/peers.py with an interpreter that has `dbos` installed (not a Fuchsia
dependency). Prints one JSON object: seconds per step of a 100-step chain (W1) and steps per
second of 50 concurrent 10-step chains (W3), each the median of `--repeats` rounds after a
warm-up. Steps are trivial (`value + 1`), as Fuchsia's are transform nodes, so both measure the
engine's own per-step cost: a durable record per step on a SQLite system database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dbos import DBOS


@DBOS.step()
def add_one(value: int) -> int:
    return value + 1


@DBOS.workflow()
def chain(length: int) -> int:
    value = 0
    for _ in range(length):
        value = add_one(value)
    return value


def w1(repeats: int) -> float:
    chain(100)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        assert chain(100) == 100
        samples.append((time.perf_counter() - started) / 100)
    return statistics.median(samples)


def w3(repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        handles = [DBOS.start_workflow(chain, 10) for _ in range(50)]
        assert all(h.get_result() == 10 for h in handles)
        samples.append(500 / (time.perf_counter() - started))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'dbos.db'}"
        DBOS(config={"name": "bench", "system_database_url": url, "log_level": "WARNING"})
        DBOS.launch()
        try:
            result = {"w1_ms": w1(args.repeats) * 1000, "w3": w3(args.repeats)}
        finally:
            DBOS.destroy()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
