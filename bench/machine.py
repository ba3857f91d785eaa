"""The execution machine's own cost per step (issue 9): `decide` and `merge`, no store.

M1  a 100-node chain of transforms: per step, one finished attempt decided and merged and its
    successor started (the Python the machine adds to each commit of the embedded engine)
M2  a foreach of 1,000 items at concurrency 50: per item settled

Usage: python bench/machine.py [--repeats N]. Prints a Markdown table of medians; asserts
nothing. The design's budget is under 20 us per step.
"""

from __future__ import annotations

import argparse
import statistics
import time

from fuchsia.definition import LockedWorkflow, lock, parse_text, validate
from fuchsia.runtime import machine
from fuchsia.runtime.machine import Begin, Env, ItemsRendered, Overlay, State
from fuchsia.runtime.work import Outcome
from fuchsia.states import ExecutionStatus
from fuchsia.store.records import ExecutionRecord


def _lock(text: str) -> LockedWorkflow:
    source = parse_text(text, "bench.yaml")
    return lock(validate(source), source)


def chain(length: int) -> LockedWorkflow:
    nodes = [f"  n{i}:\n    after: n{i - 1}\n    transform: {{v: {i}}}" for i in range(1, length)]
    return _lock("name: chain\nnodes:\n  n0:\n    transform: {v: 0}\n" + "\n".join(nodes))


def mapped(items: int, concurrency: int) -> LockedWorkflow:
    return _lock(
        "name: map\nnodes:\n  each:\n"
        f"    foreach: {{items: '{{{{ range({items}) | list }}}}', concurrency: {concurrency}}}\n"
        "    transform: {v: 1}\n"
    )


def _state(workflow: LockedWorkflow) -> State:
    record = ExecutionRecord(
        "bench",
        workflow.name,
        1,
        workflow.hash,
        ExecutionStatus.PENDING,
        {},
        {},
        None,
        None,
        None,
        None,
        0.0,
        None,
        None,
    )
    return machine.load(State.from_records(workflow, record, {}))


def _run(workflow: LockedWorkflow, items: list[int] | None = None) -> tuple[float, int]:
    """Seconds spent in decide + merge driving `workflow` to its end, and the steps taken."""
    state = _state(workflow)
    now, steps, spent = 1.0, 0, 0.0
    events: list[machine.Event] = [Begin()]
    while True:
        started = time.perf_counter()
        overlay = Overlay(state)
        env = Env(now=now, running=())
        decision = machine.decide(overlay, events, env)
        while decision.expand:
            rendered = [ItemsRendered(node, items or []) for node in decision.expand]
            decision = machine.decide(overlay, rendered, env, into=decision)
        overlay.merge()
        spent += time.perf_counter() - started
        if decision.final is not None:
            return spent, steps
        events = [Outcome(key, state.numbers[key], now, output={"v": 1}) for key in decision.launch]
        events += decision.requeue
        steps += len(decision.launch)
        now += 0.001


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    repeats = parser.parse_args().repeats
    m1, m2 = [], []
    for _ in range(repeats):
        spent, steps = _run(chain(100))
        m1.append(spent / steps)
        spent, steps = _run(mapped(1000, 50), list(range(1000)))
        m2.append(spent / steps)
    print(f"| measure ({repeats} runs, median) | per step |")
    print("|---|---|")
    print(f"| M1 100-node chain: decide + merge | {statistics.median(m1) * 1e6:.1f} us |")
    print(f"| M2 foreach of 1,000 items, concurrency 50 | {statistics.median(m2) * 1e6:.1f} us |")


if __name__ == "__main__":
    main()
