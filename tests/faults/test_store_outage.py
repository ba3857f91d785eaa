"""A store that refuses every write for longer than its writer retries (its server down):
the execution it strands is driven again from what is stored once the store answers.

An outage is not a refusal of a value: no node fails for it, and nothing committed runs again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from faults.faulty import inject
from fuchsia import Engine
from fuchsia.store.base import SqlStore
from fuchsia.store.records import Event
from support.httpserver import LoopbackServer

DEADLINE = 60.0
FLOW = """
name: outage
nodes:
  a: {transform: {v: 1}}
  b: {after: a, http: {url: "BASE/ok/{{ execution.id }}-b?delay=0.2"}}
  c: {after: b, transform: {v: "{{ json.name }}"}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_execution_stranded_by_a_store_outage_is_driven_again(
    backend: str, tmp_path: Path, server: LoopbackServer, request: pytest.FixtureRequest
) -> None:
    url = str(tmp_path / "f.db") if backend == "sqlite" else request.getfixturevalue("fresh_pg_url")
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace("BASE", server.base_url))

    async def main() -> None:
        async with await Engine.open(url, home=tmp_path / "home") as engine:
            assert isinstance(engine.store, SqlStore)
            engine.store.retry_for = 0.2  # seconds: the outage below outlasts the retries
            faults = inject(engine.store, "rolled_back", seed=1, rate=0.0)

            def outage_when_b_runs(execution_id: str, events: list[Event]) -> None:
                if not faults.injected and any(
                    e.type == "node_running" and e.node_id == "b" for e in events
                ):
                    faults.rate = 1.0  # b's outcome cannot be committed (once)

            engine.subscribe(outage_when_b_runs)
            execution_id = await engine.start(flow)
            async with asyncio.timeout(DEADLINE):
                # past several batches' retries: the driver was told the store is unavailable
                while faults.injected["rolled_back"] < 15:
                    await asyncio.sleep(0.01)
                faults.rate = 0.0
                done = await engine.wait(execution_id, poll=0.05)
            assert done.status == "completed", done.error
            assert done.result == {"v": f"{execution_id}-b"}
            for node in done.nodes:
                statuses: list[str] = [a.status for a in node.attempts]
                assert statuses.count("succeeded") == 1, (node.id, statuses)
                assert set(statuses) <= {"succeeded", "interrupted"}, (node.id, statuses)
            assert [a.status for a in done.node("a").attempts] == ["succeeded"]

    asyncio.run(main())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_start_whose_commit_outcome_stayed_unknown_drives_the_execution_it_made(
    backend: str, tmp_path: Path, server: LoopbackServer, request: pytest.FixtureRequest
) -> None:
    """The execution's row committed, then the store was unreachable for longer than the
    writer retries, so the store could not tell: `start` finds the execution and drives it,
    instead of raising and leaving it owned by this engine but driven by no one."""
    url = str(tmp_path / "f.db") if backend == "sqlite" else request.getfixturevalue("fresh_pg_url")
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace("BASE", server.base_url))

    async def main() -> None:
        async with await Engine.open(url, home=tmp_path / "home") as engine:
            assert isinstance(engine.store, SqlStore)
            engine.store.retry_for = 0.2
            faults = inject(engine.store, "ambiguous", seed=1, rate=1.0, limit=1)
            faults.blind_after = 12  # statements and connects: longer than 0.2 s of retries
            execution_id = await engine.start(flow)
            assert faults.injected["ambiguous"] == 1
            async with asyncio.timeout(DEADLINE):
                done = await engine.wait(execution_id, poll=0.05)
            assert done.status == "completed", done.error
            assert [r.id for r in await engine.list()] == [execution_id]
            assert server.count(f"/ok/{execution_id}-b") == 1

    asyncio.run(main())
