"""200 executions per fault mode and store, with 5% of the store's commits failing.

The workflow has a join, a foreach, a retried http node (the loopback server fails its first
call), a 50 ms timer and a sub-workflow. Whatever the store's commits do (commit and raise,
raise and roll back, raise busy or drop the connection), every execution completes, every
node's output is committed exactly once (one succeeded attempt, one `node_succeeded` event),
a committed node never runs again (the server's counts), and nothing is left open.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path

import pytest

from faults.faulty import MODES, inject
from fuchsia import Engine
from fuchsia.states import FINAL_STATUSES
from fuchsia.store.base import SqlStore
from support.httpserver import LoopbackServer

EXECUTIONS = 200
BATCH = 50  # executions driven at once
DEADLINE = 120.0  # seconds for one batch to reach final statuses before it counts as stuck
SEED = 20261201
FLAPPING = ("execution_running", "execution_waiting")

CHILD = "name: child\nnodes:\n  c: {transform: {doubled: '{{ n * 2 }}'}}\n"
FLOW = """
name: faulty
nodes:
  start: {transform: {n: "{{ n }}"}}
  flaky:
    after: start
    http: {url: "BASE/flaky/{{ execution.id }}?fail=1"}
    retry: {max_attempts: 3, initial_delay: 1ms}
  each:
    after: start
    foreach: {items: "{{ [1, 2, 3] }}", concurrency: 3}
    transform: {v: "{{ item * n }}"}
  nap: {after: start, wait: {for: 50ms}}
  child:
    after: start
    workflow: {path: child.yaml, inputs: {n: "{{ n }}"}}
  done:
    after: [flaky, each, nap, child]
    join: all
    transform:
      calls: "{{ flaky.json.calls }}"
      each: "{{ each | map(attribute='v') | list }}"
      doubled: "{{ child.doubled }}"
"""


async def run_all(url: str, mode: str, tmp_path: Path, base: str) -> tuple[Engine, list[str]]:
    (tmp_path / "child.yaml").write_text(CHILD)
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace("BASE", base))
    engine = await Engine.open(url, home=tmp_path / "home")
    assert isinstance(engine.store, SqlStore)
    faults = inject(engine.store, mode, SEED)
    locked = await engine.lock(flow)
    ids: list[str] = []
    for first in range(0, EXECUTIONS, BATCH):
        batch = [await engine.start(locked, {"n": n}) for n in range(first, first + BATCH)]
        ids += batch
        await settle(engine, batch)
    print(  # shown with -s
        f"{mode}: {dict(faults.injected)} of {faults.commits} commits, "
        f"hitting {faults.writes_failed} of {faults.writes} writes"
    )
    assert sum(faults.injected.values()) > 0, "no fault was injected"
    faults.rate = 0.0  # the checks read; the engine closes cleanly
    return engine, ids


async def settle(engine: Engine, ids: list[str]) -> None:
    """Wait (bounded) until every execution reached a final status; name those that did not."""
    try:
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*(engine.wait(i, poll=0.05) for i in ids))
    except TimeoutError:
        records = [await engine.store.get_execution(i) for i in ids]
        stuck = [(r.id, r.status) for r in records if r.status not in FINAL_STATUSES]
        pytest.fail(f"{len(stuck)} of {len(ids)} executions stuck: {stuck[:5]}")


async def check(engine: Engine, ids: list[str], server: LoopbackServer) -> None:
    store = engine.store
    for n, execution_id in enumerate(ids):
        record = await store.get_execution(execution_id)
        assert record.status == "completed", (execution_id, record.error)
        assert record.result == {"calls": 2, "each": [n, 2 * n, 3 * n], "doubled": 2 * n}
        nodes = await store.get_nodes(execution_id)
        assert len(nodes) == 6, sorted(nodes)
        assert sorted(nodes["each"].items) == [0, 1, 2]
        units = [*nodes.items(), *((f"each[{i}]", u) for i, u in nodes["each"].items.items())]
        for node_id, node in units:
            statuses = [a.status for a in node.attempts]
            assert node.status == "succeeded", (execution_id, node_id, statuses)
            expected = ["failed", "succeeded"] if node_id == "flaky" else ["succeeded"]
            assert statuses == expected, (execution_id, node_id, statuses)
        stored = await store.get_events(execution_id)
        # an execution goes `waiting` while only the timer and a retry are due, and back:
        # its status events may repeat, but never twice in a row
        flaps = [e.type for e in stored if e.type in FLAPPING]
        assert all(a != b for a, b in itertools.pairwise(flaps)), (execution_id, flaps)
        events = Counter(
            (e.type, e.node_id, e.item, (e.data or {}).get("attempt"))
            for e in stored
            if e.type not in FLAPPING
        )
        twice = {k: v for k, v in events.items() if v > 1}
        assert not twice, (execution_id, twice)
        assert events[("node_succeeded", "done", None, 1)] == 1
        assert events[("execution_completed", None, None, None)] == 1
        assert server.count(f"/flaky/{execution_id}") == 2, execution_id
    children = [
        r for r in await store.list_executions(limit=10 * len(ids)) if r.parent_id in set(ids)
    ]
    assert len(children) == len(ids)
    assert Counter(r.parent_id for r in children) == Counter(ids)
    for child in children:
        assert child.status == "completed", (child.id, child.error)
        nodes = await store.get_nodes(child.id)
        assert [a.status for a in nodes["c"].attempts] == ["succeeded"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_executions_complete_once_while_commits_fail(
    backend: str, mode: str, tmp_path: Path, server: LoopbackServer, request: pytest.FixtureRequest
) -> None:
    url = str(tmp_path / "f.db") if backend == "sqlite" else request.getfixturevalue("fresh_pg_url")

    async def main() -> None:
        engine, ids = await run_all(url, mode, tmp_path, server.base_url)
        try:
            await check(engine, ids, server)
        finally:
            await engine.close()

    asyncio.run(main())
