"""Validation benchmarks (issue 8, A4): parse and validate generated workflow files.

V1  a 10,000-node chain (each node `after` the previous, its own template)
V2  one node fanned out to 9,998 nodes and a join of 100 of them
V3  a 4,000-node workflow whose every `after` names a node that does not exist
V4  V1 with `{{ value + i }}` templates, each parsed by Jinja: the parser's own cost

Each prints the median of a few runs of `parse_text` + `validate` (V3 counts the problems it
reports, which must all carry a file, line and column), each run cold as in a new `fuchsia
validate` process: the cache of template readings is emptied first. Target: V1, V2 and V3
under 300 ms.
Usage: python bench/validate.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from fuchsia.definition import parse_text, validate
from fuchsia.definition.scope import read
from fuchsia.errors import DefinitionError


def chain(length: int, *, arithmetic: bool = False) -> str:
    nodes = ["  n0:\n    transform: {value: 0}"]
    for i in range(1, length):
        # one template per node: `{{ value.f1 }}` is read without Jinja's parser, `{{ value +
        # 1 }}` needs it (about 0.1 ms each)
        template = f"{{{{ value + {i} }}}}" if arithmetic else f"{{{{ value.f{i} }}}}"
        nodes.append(f"  n{i}:\n    after: n{i - 1}\n    transform: {{value: '{template}'}}")
    return "name: chain\nnodes:\n" + "\n".join(nodes) + "\n"


def fan_out(width: int) -> str:
    nodes = ["  start:\n    transform: {value: 1}"]
    for i in range(width):
        template = f"{{{{ value.f{i} }}}}"
        nodes.append(f"  n{i}:\n    after: start\n    transform: {{v: '{template}'}}")
    ups = ", ".join(f"n{i}" for i in range(100))
    nodes.append(f"  join:\n    after: [{ups}]\n    join: all\n    transform: {{n: 1}}")
    return "name: fan\nnodes:\n" + "\n".join(nodes) + "\n"


def dangling(count: int) -> str:
    nodes = [f"  n{i}:\n    after: missing_{i}\n    transform: {{v: {i}}}" for i in range(count)]
    return "name: dangling\nnodes:\n" + "\n".join(nodes) + "\n"


def measure(text: str, runs: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds of parse + validate, and the number of problems reported.
    On a busy machine the CPU time is the steadier figure: it leaves out time spent waiting
    for a core."""
    times, cpu, problems = [], [], 0
    for _ in range(runs):
        read.cache_clear()  # each run reads its templates afresh, as a new process would
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            validate(parse_text(text, "bench.yaml"))
            problems = 0
        except DefinitionError as exc:
            problems = len(exc.problems)
            assert all(p.line >= 1 and p.column >= 1 for p in exc.problems)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    cases: list[tuple[str, Callable[[], str]]] = [
        ("V1 chain, 10,000 nodes", lambda: chain(10_000)),
        ("V2 fan-out, 10,000 nodes", lambda: fan_out(9_998)),
        ("V3 4,000 dangling `after`", lambda: dangling(4_000)),
        ("V4 chain, 10,000 nodes, arithmetic templates", lambda: chain(10_000, arithmetic=True)),
    ]
    print(f"{runs} runs each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| case | median wall | median CPU | problems |")
    print("|---|---:|---:|---:|")
    for name, make in cases:
        wall, cpu, problems = measure(make(), runs)
        print(f"| {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {problems} |", flush=True)


if __name__ == "__main__":
    main()
