"""Validation benchmarks (issue 8, A4): parse and validate generated workflow files.

V1  a 10,000-node chain (each node `after` the previous, its own template)
V2  one node fanned out to 9,998 nodes and a join of 100 of them
V3  a 4,000-node workflow whose every `after` names a node that does not exist

Each prints the median of a few runs of `parse_text` + `validate` (V3 counts the problems it
reports, which must all carry a file, line and column). Target: V1 and V2 under 300 ms.
Usage: python bench/validate.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from fuchsia.definition import parse_text, validate
from fuchsia.errors import DefinitionError


def chain(length: int) -> str:
    nodes = ["  n0:\n    transform: {value: 0}"]
    for i in range(1, length):
        template = f"{{{{ value + {i} }}}}"  # one template per node: each is parsed
        nodes.append(f"  n{i}:\n    after: n{i - 1}\n    transform: {{value: '{template}'}}")
    return "name: chain\nnodes:\n" + "\n".join(nodes) + "\n"


def fan_out(width: int) -> str:
    nodes = ["  start:\n    transform: {value: 1}"]
    for i in range(width):
        template = f"{{{{ value * {i} }}}}"
        nodes.append(f"  n{i}:\n    after: start\n    transform: {{v: '{template}'}}")
    ups = ", ".join(f"n{i}" for i in range(100))
    nodes.append(f"  join:\n    after: [{ups}]\n    join: all\n    transform: {{n: 1}}")
    return "name: fan\nnodes:\n" + "\n".join(nodes) + "\n"


def dangling(count: int) -> str:
    nodes = [f"  n{i}:\n    after: missing_{i}\n    transform: {{v: {i}}}" for i in range(count)]
    return "name: dangling\nnodes:\n" + "\n".join(nodes) + "\n"


def measure(text: str, runs: int) -> tuple[float, int]:
    """Median seconds of parse + validate, and the number of problems reported."""
    times, problems = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        try:
            validate(parse_text(text, "bench.yaml"))
            problems = 0
        except DefinitionError as exc:
            problems = len(exc.problems)
            assert all(p.line >= 1 and p.column >= 1 for p in exc.problems)
        times.append(time.perf_counter() - start)
    return statistics.median(times), problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    cases: list[tuple[str, Callable[[], str]]] = [
        ("V1 chain, 10,000 nodes", lambda: chain(10_000)),
        ("V2 fan-out, 10,000 nodes", lambda: fan_out(9_998)),
        ("V3 4,000 dangling `after`", lambda: dangling(4_000)),
    ]
    print("| case | median | problems |")
    print("|---|---:|---:|")
    for name, make in cases:
        seconds, problems = measure(make(), runs)
        print(f"| {name} | {seconds * 1000:.0f} ms | {problems} |", flush=True)


if __name__ == "__main__":
    main()
