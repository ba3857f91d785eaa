"""Shared attempts, on SQLite and PostgreSQL alike (the `store_url` fixture): a foreach wider
than its worker's slots runs on the other workers too (issue 9: one big foreach spreads over
the workers), a shared attempt whose worker stalls past its lease runs again elsewhere and
the stalled worker's late outcome is refused, a cancel stops a shared attempt on the worker
running it, and a draining worker hands back what it claimed.

Two worker engines share one store in this process; every item calls a real loopback HTTP
server that holds the call until the test releases it, so "in flight on both workers" and
"called once" are counts. Waits are on state, with a ceiling that only guards a hang.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from fuchsia import Engine, Execution
from fuchsia.states import FINAL_STATUSES
from fuchsia.store.cipher import Keyring
from fuchsia.store.records import AttemptRecord
from support.httpserver import LoopbackServer
from support.stores import execute, query
from support.waiting import locked, until


@pytest.fixture
def key() -> str:
    """A suffix that keeps this test's loopback paths apart from every other test's."""
    return uuid.uuid4().hex[:10]


def fan(loopback: LoopbackServer, key: str, items: int, gate: str) -> str:
    """A foreach of `items` http calls, each on a path of its own held by `gate`."""
    url = loopback.url(f"/hold/i{{{{ item }}}}-{key}") + f"?gate={gate}"
    return f"""
name: fan
nodes:
  each:
    foreach: {{items: "{{{{ range({items}) | list }}}}", concurrency: {items}}}
    http: {{url: "{url}"}}
  total: {{after: each, transform: {{n: "{{{{ data | length }}}}"}}}}
"""


def in_flight(loopback: LoopbackServer, key: str, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return sum(loopback.counts("/hold/").get(p, 0) for p in _paths(loopback, key)) >= n

    return check


def _paths(loopback: LoopbackServer, key: str) -> list[str]:
    return [p for p in loopback.counts("/hold/") if p.endswith(f"-{key}")]


async def sees_room(engine: Engine) -> bool:
    """`engine`'s last claim round found another worker with a free slot; what it shares
    waits for that worker (however busy the machine), not a second (`share_patience`)."""
    engine.share_patience = 3600.0
    return engine._peers_room > 0


async def item_attempts(engine: Engine, execution_id: str) -> dict[int, list[AttemptRecord]]:
    nodes = await engine.store.get_nodes(execution_id)
    return {index: unit.attempts for index, unit in nodes["each"].items.items()}


def test_a_foreach_wider_than_a_workers_slots_runs_on_both_workers(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(fan(loopback, key, 6, f"g-{key}"))

    async def main() -> tuple[Execution, dict[int, list[AttemptRecord]]]:
        async with (
            await Engine.open(store_url, slots=2, park_after=None, name="a") as a,
            await Engine.open(store_url, slots=2, park_after=None, name="b") as b,
        ):
            await until("A to see B's free slots", lambda: sees_room(a))
            eid = await a.start(wf)
            # two items on A (its slots), two shared and claimed by B (its free slots), and two
            # more on A (nobody else had room for them): all six in flight
            await until("six items in flight", in_flight(loopback, key, 6))
            loopback.release(f"g-{key}")
            finished = await a.wait(eid)
            return finished, await item_attempts(b, eid)

    finished, items = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert finished.result == {"n": 6}
    assert sorted(loopback.count(p) for p in _paths(loopback, key)) == [1] * 6  # once each
    assert all([a.status for a in attempts] == ["succeeded"] for attempts in items.values())
    workers = {attempts[0].worker for attempts in items.values()}
    assert workers == {"a", "b"}


def test_a_shared_attempt_of_a_stalled_worker_runs_again_and_its_late_outcome_is_refused(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(fan(loopback, key, 2, f"g-{key}"))

    async def main() -> tuple[Execution, dict[int, list[AttemptRecord]], list[str], int]:
        async with (
            await Engine.open(store_url, slots=1, lease=3.0, park_after=None, name="a") as a,
            await Engine.open(store_url, slots=1, park_after=None, name="b") as b,
        ):
            await until("A to see B's free slot", lambda: sees_room(a))
            eid = await a.start(wf)
            await until("one item on each worker", in_flight(loopback, key, 2))
            assert len(b._shared) == 1
            # B stalls as a stopped process does: it renews nothing, checks nothing, and its
            # lease is in the past; its call is still in flight
            b.heartbeat_every = 3600.0

            async def nothing() -> None:
                return None

            b._check_shared = nothing  # type: ignore[method-assign]
            await b._stop_claiming()
            statement = "UPDATE owners SET lease_expires_at = 0 WHERE id = ?"
            assert await asyncio.to_thread(execute, store_url, statement, b.identity.id) == 1

            async def reclaimed() -> bool:
                return "node_reclaimed" in [e.type for e in await a.events(eid)]

            await until("A's renewal to take B's claim back", reclaimed)
            loopback.release(f"g-{key}")  # A's item, B's late call, and the item run again
            finished = await a.wait(eid)

            async def refused() -> bool:
                return "completion_rejected" in [e.type for e in await a.events(eid)]

            await until("B's late outcome to be refused", refused)
            counted = (await a.store.counters()).get("rejected_completions", 0)
            events = [e.type for e in await a.events(eid)]
            return finished, await item_attempts(a, eid), events, counted

    finished, items, events, counted = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert sorted(loopback.count(p) for p in _paths(loopback, key)) == [1, 2]
    assert all([a.status for a in attempts] == ["succeeded"] for attempts in items.values())
    assert {attempts[0].worker for attempts in items.values()} == {"a"}  # B's was refused
    assert events.count("node_succeeded") == 4  # two items, the foreach, the total: once each
    assert counted >= 1


def test_a_cancel_stops_a_shared_attempt_on_the_worker_running_it(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(fan(loopback, key, 2, f"g-{key}"))

    async def main() -> tuple[Execution, dict[int, list[AttemptRecord]]]:
        async with (
            await Engine.open(store_url, slots=1, park_after=None, name="a") as a,
            await Engine.open(store_url, slots=1, park_after=None, name="b") as b,
        ):
            await until("A to see B's free slot", lambda: sees_room(a))
            eid = await a.start(wf)
            await until("one item on each worker", in_flight(loopback, key, 2))
            cancelled = await a.cancel(eid)

            async def stopped() -> bool:
                return not b._shared

            await until("B to stop its shared attempt", stopped)
            loopback.release(f"g-{key}")
            return cancelled, await item_attempts(a, eid)

    cancelled, items = asyncio.run(main())
    assert cancelled.status == "cancelled"
    assert sorted(loopback.count(p) for p in _paths(loopback, key)) == [1, 1]
    assert sorted(attempts[-1].status for attempts in items.values()) == ["cancelled"] * 2


def test_a_draining_worker_hands_back_its_shared_attempts(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(fan(loopback, key, 2, f"g-{key}"))

    async def main() -> tuple[Execution, dict[int, list[AttemptRecord]]]:
        async with await Engine.open(store_url, slots=1, park_after=None, name="a") as a:
            b = await Engine.open(store_url, slots=1, park_after=None, name="b")
            try:
                await until("A to see B's free slot", lambda: sees_room(a))
                eid = await a.start(wf)
                await until("one item on each worker", in_flight(loopback, key, 2))
            finally:
                await b.close()  # no grace: what B runs goes back at once
            loopback.release(f"g-{key}")
            return await a.wait(eid), await item_attempts(a, eid)

    finished, items = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert sorted(loopback.count(p) for p in _paths(loopback, key)) == [1, 2]
    assert all(attempts[-1].status == "succeeded" for attempts in items.values())
    assert {attempts[-1].worker for attempts in items.values()} == {"a"}


def test_a_shared_attempt_its_worker_cannot_run_is_handed_back_and_runs_on_its_owner(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(fan(loopback, key, 2, f"g-{key}"))
    keys = Keyring((("k1", hashlib.sha256(b"k1").digest()),))

    async def main() -> tuple[Execution, dict[int, list[AttemptRecord]]]:
        async with (
            await Engine.open(store_url, slots=1, park_after=None, name="a", keys=keys) as a,
            # B lacks the key: it claims the shared item and cannot read the execution
            await Engine.open(store_url, slots=1, park_after=None, name="b"),
        ):
            await until("A to see B's free slot", lambda: sees_room(a))
            eid = await a.start(wf, {"sealed": True})

            async def claimed_by_b() -> bool:
                each = (await a.store.get_nodes(eid)).get("each")
                units = [] if each is None else each.items.values()
                return any(u.attempts and u.attempts[-1].worker == "b" for u in units)

            await until("B to claim the shared item", claimed_by_b)
            a.share_patience = 0.0  # what is handed back runs on A at once
            loopback.release(f"g-{key}")

            async def ended() -> bool:
                return (await a.get(eid)).status in FINAL_STATUSES

            await until("the execution to end", ended)
            return await a.get(eid), await item_attempts(a, eid)

    finished, items = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert sorted(loopback.count(p) for p in _paths(loopback, key)) == [1, 1]
    assert all([a.status for a in attempts] == ["succeeded"] for attempts in items.values())
    assert {attempts[-1].worker for attempts in items.values()} == {"a"}


def test_a_closing_owner_folds_in_what_other_workers_finished_within_its_grace(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(fan(loopback, key, 2, f"g-{key}"))

    async def main() -> tuple[Execution, dict[int, list[AttemptRecord]]]:
        async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
            a = await Engine.open(store_url, slots=1, park_after=None, name="a")
            closing: asyncio.Task[None] | None = None
            try:
                await until("A to see B's free slot", lambda: sees_room(a))
                eid = await a.start(wf)
                await until("one item on each worker", in_flight(loopback, key, 2))
                driver = a._driving[eid]
                closing = asyncio.create_task(a.close(grace=3600.0))

                async def draining() -> bool:
                    return driver.draining

                await until("A to drain", draining)
                loopback.release(f"g-{key}")  # both items finish: A's, and B's for A to fold

                async def closed() -> bool:
                    return closing.done()

                await until("A's drain to end once both items are folded in", closed)
                await closing
            finally:
                if closing is None:
                    await a.close()
            return await b.wait(eid), await item_attempts(b, eid)  # B drives the rest

    finished, items = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert finished.result == {"n": 2}
    assert sorted(loopback.count(p) for p in _paths(loopback, key)) == [1, 1]  # none again
    assert all([a.status for a in attempts] == ["succeeded"] for attempts in items.values())
    assert {attempts[-1].worker for attempts in items.values()} == {"a", "b"}


SECRET = "sk-live/9f8e7d6c+5b4a"

# every outcome a worker stores in `work`, kept after the owner folds it in and deletes the row
KEEP_OUTCOMES = {
    "sqlite": [
        "CREATE TABLE seen_work (outcome TEXT)",
        "CREATE TRIGGER keep_work AFTER UPDATE OF outcome ON work WHEN NEW.outcome IS NOT NULL"
        " BEGIN INSERT INTO seen_work VALUES (NEW.outcome); END",
    ],
    "postgres": [
        "CREATE TABLE seen_work (outcome TEXT)",
        "CREATE FUNCTION keep_work() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN INSERT INTO seen_work VALUES (NEW.outcome); RETURN NEW; END $$",
        "CREATE TRIGGER keep_work AFTER UPDATE ON work FOR EACH ROW"
        " WHEN (NEW.outcome IS NOT NULL) EXECUTE FUNCTION keep_work()",
    ],
}


def test_a_shared_component_attempt_stores_no_secret_in_its_kv_writes_or_artifact_names(
    store_url: str, chatter_home: tuple[Path, str], tmp_path: Path
) -> None:
    home, ref = chatter_home
    wf = tmp_path / "effects.yaml"
    wf.write_text(f"""
name: effects
nodes:
  remember:
    foreach: {{items: "{{{{ range(2) | list }}}}", concurrency: 2}}
    component: "{ref}"
    task: remember
    inputs:
      key: "k-{{{{ secrets.api_key }}}}-{{{{ item }}}}"
      value: "v-{{{{ secrets.api_key }}}}"
  keep:
    foreach: {{items: "{{{{ range(2) | list }}}}", concurrency: 2}}
    component: "{ref}"
    task: keep
    inputs:
      name: "report-{{{{ secrets.api_key }}}}-{{{{ item }}}}.txt"
      content_type: "text/x-{{{{ secrets.api_key }}}}"
""")
    backend = "postgres" if store_url.startswith("postgresql://") else "sqlite"
    secrets = {"api_key": SECRET}

    async def main() -> tuple[Execution, set[str | None], list[str]]:
        async with (
            await Engine.open(store_url, home=home, secrets=secrets, slots=1, name="a") as a,
            await Engine.open(store_url, home=home, secrets=secrets, slots=4, name="b"),
        ):
            for statement in KEEP_OUTCOMES[backend]:
                await asyncio.to_thread(execute, store_url, statement)
            await until("A to see B's free slots", lambda: sees_room(a))
            # one item on A (its slot), the others shared as far as B has room, and run by B
            finished = await a.run(wf)
            nodes = await a.store.get_nodes(finished.id)
            workers = {
                u.attempts[-1].worker for n in ("remember", "keep") for u in nodes[n].items.values()
            }
            stored = await asyncio.to_thread(query, store_url, "SELECT outcome FROM seen_work")
            return finished, workers, [outcome for (outcome,) in stored]

    finished, workers, stored = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert workers == {"a", "b"}
    assert stored  # what B ran (up to three items: how many A's last look at B allowed)
    assert [o for o in stored if SECRET in o] == []
    assert all("k-***-" in o or "report-***-" in o for o in stored)
