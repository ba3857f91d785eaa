"""Fuchsia next to DBOS Transact, measured side by side in one run on this machine.

The same two shapes as bench/engine.py: W1 (a 100-step chain, milliseconds per step) and W3
(50 concurrent 10-step chains, steps per second), each engine on a SQLite file with its default
durability, trivial steps. The engines take turns, one fresh process each per round, and the
medians over the rounds are printed with the machine they ran on, so the ratio never mixes
machines or days.

DBOS is not a Fuchsia dependency: `make bench-peers` creates `.venv-peers` with it and runs
this script; `--peer-python` names another interpreter that has it. Usage:
python bench/peers.py [--rounds N] [--repeats N] [--peer-python PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _engine_bench() -> Any:
    spec = importlib.util.spec_from_file_location("fuchsia_bench_engine", HERE / "engine.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fuchsia_side(repeats: int) -> dict[str, float]:
    bench = _engine_bench()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        return {
            "w1_ms": asyncio.run(bench.w1(home, "full", repeats)),
            "w3": asyncio.run(bench.w3(home, "full", repeats)),
        }


def _round(command: list[str]) -> dict[str, float]:
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def _machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="runs per round and workload")
    parser.add_argument("--peer-python", default=str(HERE.parent / ".venv-peers/bin/python"))
    parser.add_argument("--fuchsia-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fuchsia_side:
        json.dump(fuchsia_side(args.repeats), sys.stdout)
        return
    if not Path(args.peer_python).exists():
        sys.exit(f"error: no interpreter at {args.peer_python} (see this script's docstring)")
    repeats = ["--repeats", str(args.repeats)]
    ours = [sys.executable, str(Path(__file__).resolve()), "--fuchsia-side", *repeats]
    theirs = [args.peer_python, str(HERE / "peers" / "dbos_chain.py"), *repeats]
    samples: dict[str, list[dict[str, float]]] = {"fuchsia": [], "dbos": []}
    for _ in range(args.rounds):
        samples["fuchsia"].append(_round(ours))
        samples["dbos"].append(_round(theirs))
    median = {
        engine: {k: statistics.median(r[k] for r in rounds) for k in ("w1_ms", "w3")}
        for engine, rounds in samples.items()
    }
    f, d = median["fuchsia"], median["dbos"]
    print(f"machine: {_machine()}; {args.rounds} alternating rounds, medians")
    print("| workload | Fuchsia | DBOS (SQLite) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| W1 100-step chain, per step | {f['w1_ms']:.3f} ms | {d['w1_ms']:.3f} ms | "
        f"{d['w1_ms'] / f['w1_ms']:.1f}x |"
    )
    print(
        f"| W3 50 concurrent 10-step chains | {f['w3']:,.0f} steps/s | {d['w3']:,.0f} steps/s | "
        f"{f['w3'] / d['w3']:.1f}x |"
    )


if __name__ == "__main__":
    main()
