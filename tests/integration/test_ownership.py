"""Owners, leases and claims, on SQLite and PostgreSQL alike (the `store_url` fixture): first
the store's statements (`heartbeat`, `claim_open`, `release`, the fence, `reject`), then
worker engines driving what other engines recorded, and the fence end to end (a driver whose
lease passed and whose execution another worker took commits nothing).

Leases are put in the past with an UPDATE through a connection of the test's own, so nothing
here waits for a lease to run out; waits are on stored state, with a ceiling that only guards
against a hang.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import pytest

from fuchsia import Engine
from fuchsia.states import AttemptStatus, ExecutionStatus
from fuchsia.store import OwnershipLost, SqlStore
from fuchsia.store.ownership import Claimed
from fuchsia.store.postgres import PostgresStore
from fuchsia.store.records import (
    ExecutionUpdate,
    OwnerRecord,
    Transition,
    UnitKey,
    new_id,
)
from support.httpserver import LoopbackServer
from support.stores import (
    created,
    expire,
    new_execution,
    opened,
    owner,
    succeeded,
    with_store,
)
from support.waiting import CEILING, locked, until

# -- helpers ---------------------------------------------------------------------------------


def finish(execution_id: str, owner_id: str | None) -> Transition:
    return Transition(
        execution_id,
        owner_id,
        execution=ExecutionUpdate(
            ExecutionStatus.COMPLETED, result={}, has_result=True, started=True, finished=True
        ),
    )


TWO_STEPS = locked("""
name: two-steps
nodes:
  a: {transform: {x: 1}}
  b: {after: a, transform: {y: "{{ x + 1 }}"}}
""")


# -- the store: leases -----------------------------------------------------------------------


def test_heartbeat_says_whether_the_lease_had_held(store_url: str) -> None:
    async def body(store: SqlStore) -> tuple[bool, bool, bool, bool, list[OwnerRecord]]:
        first = await store.heartbeat(owner("o-1", slots=3), lease=60.0)
        held = await store.heartbeat(owner("o-1", slots=3), lease=60.0)
        await asyncio.to_thread(expire, store_url, "o-1")
        seen_dead = await store.owners()
        passed = await store.heartbeat(owner("o-1", slots=3), lease=60.0)
        again = await store.heartbeat(owner("o-1", slots=3), lease=60.0)
        return first, held, passed, again, seen_dead

    first, held, passed, again, seen_dead = with_store(store_url, body)
    assert (first, held) == (False, True)
    assert [(o.id, o.alive) for o in seen_dead] == [("o-1", False)]
    assert passed is False  # the lease had passed: what it drove may be someone else's now
    assert again is True  # renewed: it holds again


def test_a_tiny_lease_passes_on_the_database_clock(store_url: str) -> None:
    async def body(store: SqlStore) -> tuple[bool, OwnerRecord]:
        await store.heartbeat(owner("brief", slots=1), lease=0.05)

        async def dead() -> bool:
            return not (await store.owners())[0].alive

        await until("the 50 ms lease to pass", dead)
        renewed = await store.heartbeat(owner("brief", slots=1), lease=0.05)
        return renewed, (await store.owners())[0]

    renewed, record = with_store(store_url, body)
    assert renewed is False
    assert (record.name, record.slots, record.host, record.pid) == (
        "name-brief",
        1,
        "test-host",
        4242,
    )
    assert record.lease_expires_at is not None
    assert record.lease_expires_at == pytest.approx(record.heartbeat_at + 0.05, abs=1e-3)


# -- the store: claims -----------------------------------------------------------------------


def test_claim_open_takes_what_nobody_holds_and_never_what_a_live_owner_holds(
    store_url: str,
) -> None:
    async def body(store: SqlStore) -> dict[str, Any]:
        await store.heartbeat(owner("alive"), lease=300.0)
        await store.heartbeat(owner("expired"), lease=300.0)
        await store.heartbeat(owner("worker"), lease=300.0)
        await asyncio.to_thread(expire, store_url, "expired")
        ids = {
            "expired": await created(store, store_url, "expired", 3.0),
            "detached": await created(store, store_url, None, 1.0),
            "alive": await created(store, store_url, "alive", 0.5),
            "orphan": await created(store, store_url, "gone", 2.0),
            "final": await created(store, store_url, None, 0.1),
        }
        await store.apply(finish(ids["final"], None))
        before = await store.claimable()
        first = await store.claim_open("worker", 10)
        second = await store.claim_open("worker", 10)
        third = await store.claim_open("another", 10)
        return {
            "ids": ids,
            "before": before,
            "first": first,
            "second": second,
            "third": third,
            "after": await store.claimable(),
            "owned": await store.owned("worker"),
            "counters": await store.counters(),
            "owners": {i: (await store.get_execution(e)).owner for i, e in ids.items()},
        }

    seen = with_store(store_url, body)
    ids = seen["ids"]
    assert seen["before"] == 3
    # oldest first: detached (1.0), orphan (2.0), expired (3.0); each with whom it left
    assert [(c.id, c.previous) for c in seen["first"]] == [
        (ids["detached"], None),
        (ids["orphan"], "gone"),
        (ids["expired"], "expired"),
    ]
    assert all(c.waited >= 0 for c in seen["first"])
    assert seen["second"] == [] and seen["third"] == []  # the worker is alive: all stay its
    assert seen["after"] == 0
    assert seen["owned"] == {ids["detached"], ids["orphan"], ids["expired"]}
    assert seen["owners"] == {
        "expired": "worker",
        "detached": "worker",
        "alive": "alive",
        "orphan": "worker",
        "final": None,  # final: never claimed
    }
    counters = seen["counters"]
    assert counters["claims"] == 1  # the detached one
    assert counters["lease_expiries"] == 2  # taken from an owner gone and one whose lease passed
    assert counters.get("rejected_completions", 0) == 0


def test_claim_open_takes_at_most_its_limit_oldest_first(store_url: str) -> None:
    async def body(store: SqlStore) -> tuple[list[str], list[str], list[str], list[str]]:
        await store.heartbeat(owner("w"), lease=300.0)
        # created newest first, so insertion order (and id order) is not the claim order
        ids = [await created(store, store_url, None, float(at)) for at in (5, 4, 3, 2, 1)]
        oldest_first = ids[::-1]
        first = [c.id for c in await store.claim_open("w", 2)]
        second = [c.id for c in await store.claim_open("w", 2)]
        third = [c.id for c in await store.claim_open("w", 2)]
        return oldest_first, first, second, third

    oldest_first, first, second, third = with_store(store_url, body)
    assert first == oldest_first[:2]
    assert second == oldest_first[2:4]
    assert third == oldest_first[4:]


def test_an_outlook_reads_owners_work_and_claimables_in_one_go(store_url: str) -> None:
    """A claim round's one read: the owners as `owners` reads them, the shared attempts that
    wait, and the claimable executions counted no further than the round's share needs (its
    `at_most` for each owner and one more), none at all when it claims nothing."""

    async def body(store: SqlStore) -> dict[str, Any]:
        await store.heartbeat(owner("w"), lease=300.0)
        held = await created(store, store_url, "w", 0.5)
        await store.apply(Transition(held, "w", shared=[(UnitKey("a", i), 1, 1) for i in (0, 1)]))
        for at in range(9):
            await created(store, store_url, None, float(at + 1))
        return {
            "owners": await store.owners(),
            "none": await store.outlook(at_most=0),
            "one": await store.outlook(at_most=1),
            "all": await store.outlook(at_most=100),
        }

    seen = with_store(store_url, body)
    assert [o.id for o in seen["all"].owners] == [o.id for o in seen["owners"]] == ["w"]
    assert seen["all"].owners[0].alive
    assert [s.ready_work for s in (seen["none"], seen["one"], seen["all"])] == [2, 2, 2]
    assert seen["none"].claimable == 0  # not counted
    assert seen["one"].claimable == 2  # one for the one owner and one more
    assert seen["all"].claimable == 9


@pytest.mark.parametrize("round_", range(3))
def test_claims_race_on_postgres_and_each_execution_is_taken_once(
    fresh_pg_url: str, round_: int
) -> None:
    """Two stores (two connections, two writer threads) claim in small batches at once over
    200 detached executions: FOR UPDATE SKIP LOCKED and the compare-and-swap let each be
    taken by exactly one of them. Before, a row one claimer found locked and the other had
    just claimed was re-checked by PostgreSQL against its new owner but with the owner row
    joined before (none), so both took it (in about two runs of three: three rounds)."""
    total = 200

    async def setup(store: SqlStore) -> list[str]:
        ids = []
        for _ in range(total):
            record, _ = await store.create_execution(new_execution(None))
            ids.append(record.id)
        return ids

    ids = with_store(fresh_pg_url, setup)
    start = threading.Barrier(2)

    async def claimer(name: str) -> list[Claimed]:
        async with opened(fresh_pg_url) as store:
            await store.heartbeat(owner(name), lease=300.0)
            await asyncio.to_thread(start.wait)
            taken: list[Claimed] = []
            while True:
                batch = await store.claim_open(name, 7)
                taken.extend(batch)
                if not batch and not await store.claimable():
                    return taken

    def in_thread(name: str) -> list[Claimed]:
        return asyncio.run(claimer(name))

    results: dict[str, list[Claimed]] = {}
    threads = [
        threading.Thread(target=lambda n=n: results.__setitem__(n, in_thread(n))) for n in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CEILING * 2)
    assert set(results) == {"a", "b"}, "a claimer did not finish"
    a, b = [c.id for c in results["a"]], [c.id for c in results["b"]]
    assert len(a) == len(set(a)) and len(b) == len(set(b))  # no id twice in one claimer
    twice = [(c, d) for c in results["a"] for d in results["b"] if c.id == d.id]
    assert not twice, f"{len(twice)} taken by both, e.g. {twice[:3]}"  # nor in both
    assert sorted(a + b) == sorted(ids)  # and none left
    assert all(c.previous is None for c in results["a"] + results["b"])

    async def after(store: SqlStore) -> tuple[set[str], set[str], dict[str, int]]:
        return await store.owned("a"), await store.owned("b"), await store.counters()

    owned_a, owned_b, counters = with_store(fresh_pg_url, after)
    assert (owned_a, owned_b) == (set(a), set(b))
    assert counters["claims"] == total and counters.get("lease_expiries", 0) == 0


# -- the store: the fence, rejections, release -----------------------------------------------


def test_the_old_owner_is_fenced_after_a_claim_and_its_rejections_are_recorded(
    store_url: str,
) -> None:
    async def body(store: SqlStore) -> dict[str, Any]:
        await store.heartbeat(owner("old"), lease=300.0)
        await store.heartbeat(owner("new"), lease=300.0)
        eid = await created(store, store_url, "old", 1.0)
        await store.apply(succeeded(eid, "first", "old"))  # while it holds: committed
        await asyncio.to_thread(expire, store_url, "old")
        claimed = await store.claim_open("new", 5)
        with pytest.raises(OwnershipLost):
            await store.apply(succeeded(eid, "late", "old"))
        await store.reject(
            eid, [(UnitKey("late"), 1), (UnitKey("other"), 2)], "old-worker", "taken over"
        )
        await store.reject(eid, [], "old-worker", "taken over")  # nothing named: not counted
        await store.apply(succeeded(eid, "on-time", "new"))
        return {
            "eid": eid,
            "claimed": claimed,
            "events": await store.get_events(eid),
            "nodes": await store.get_nodes(eid),
            "counters": await store.counters(),
        }

    seen = with_store(store_url, body)
    assert [(c.id, c.previous) for c in seen["claimed"]] == [(seen["eid"], "old")]
    rejected = [(e.node_id, e.data) for e in seen["events"] if e.type == "completion_rejected"]
    assert rejected == [
        ("late", {"attempt": 1, "worker": "old-worker", "reason": "taken over"}),
        ("other", {"attempt": 2, "worker": "old-worker", "reason": "taken over"}),
    ]
    assert set(seen["nodes"]) == {"first", "on-time"}  # the fenced write left nothing
    assert seen["counters"]["rejected_completions"] == 2  # completions, one per attempt
    assert seen["counters"]["lease_expiries"] == 1


def test_release_leaves_an_execution_for_the_workers(store_url: str) -> None:
    async def body(store: SqlStore) -> dict[str, Any]:
        await store.heartbeat(owner("holder"), lease=300.0)
        await store.heartbeat(owner("worker"), lease=300.0)
        eid = await created(store, store_url, "holder", 1.0)
        kept = await created(store, store_url, "holder", 2.0)
        seen: dict[str, Any] = {"eid": eid, "kept": kept}
        seen["owned_before"] = await store.owned("holder")
        seen["claimable_before"] = await store.claimable()
        seen["by_stranger"] = await store.release(eid, "worker")  # not its to release
        seen["released"] = await store.release(eid, "holder")
        seen["again"] = await store.release(eid, "holder")
        seen["owner_after"] = (await store.get_execution(eid)).owner
        seen["owned_after"] = await store.owned("holder")
        seen["claimable_after"] = await store.claimable()
        seen["claimed"] = await store.claim_open("worker", 5)
        seen["worker_owns"] = await store.owned("worker")
        seen["counters"] = await store.counters()
        return seen

    seen = with_store(store_url, body)
    eid, kept = seen["eid"], seen["kept"]
    assert seen["owned_before"] == {eid, kept} and seen["claimable_before"] == 0
    assert (seen["by_stranger"], seen["released"], seen["again"]) == (False, True, False)
    assert seen["owner_after"] is None
    assert seen["owned_after"] == {kept}
    assert seen["claimable_after"] == 1
    assert [(c.id, c.previous) for c in seen["claimed"]] == [(eid, None)]
    assert seen["worker_owns"] == {eid}
    assert seen["counters"]["claims"] == 1 and seen["counters"].get("lease_expiries", 0) == 0


def test_forgetting_an_owner_makes_its_executions_claimable_at_once(store_url: str) -> None:
    async def body(store: SqlStore) -> tuple[str, int, int, list[Claimed]]:
        await store.heartbeat(owner("leaving"), lease=300.0)
        eid = await created(store, store_url, "leaving", 1.0)
        before = await store.claimable()
        await store.forget_owner("leaving")
        after = await store.claimable()
        return eid, before, after, await store.claim_open("w", 5)

    eid, before, after, claimed = with_store(store_url, body)
    assert (before, after) == (0, 1)
    assert [(c.id, c.previous) for c in claimed] == [(eid, "leaving")]


def test_a_stopped_listener_wakes_no_one(fresh_pg_url: str) -> None:
    """Before, the listening thread called `wake` once connected even when it had been
    stopped meanwhile: an engine closed soon after it opened had its closed event loop
    called from that thread ("Exception in thread fuchsia-listen: Event loop is closed")."""
    stopped = threading.Event()
    late: list[float] = []

    def wake() -> None:
        if stopped.is_set():
            late.append(time.monotonic())
            raise RuntimeError("Event loop is closed")

    async def body(store: SqlStore) -> None:
        assert isinstance(store, PostgresStore)
        before = set(threading.enumerate())
        stop = store.listen(wake, poll=0.05)
        (thread,) = [t for t in threading.enumerate() if t not in before]
        stopped.set()
        stop()
        await asyncio.to_thread(thread.join, CEILING)
        assert not thread.is_alive()

    with_store(fresh_pg_url, body)
    assert late == []


def test_a_listener_is_woken_when_work_is_left_for_workers(fresh_pg_url: str) -> None:
    async def body(store: SqlStore) -> int:
        assert isinstance(store, PostgresStore)
        woken = threading.Semaphore(0)
        stop = store.listen(woken.release, poll=0.05)
        try:
            assert await asyncio.to_thread(woken.acquire, True, CEILING)  # once connected
            await store.heartbeat(owner("holder"), lease=300.0)
            eid = await created(store, fresh_pg_url, "holder", 1.0)
            assert await store.release(eid, "holder")  # NOTIFY fuchsia_work
            assert await asyncio.to_thread(woken.acquire, True, CEILING)
            return await store.claimable()
        finally:
            stop()

    assert with_store(fresh_pg_url, body) == 1


# -- engines ---------------------------------------------------------------------------------


def attempts_by_worker(execution: Any) -> Counter[str | None]:
    return Counter(a.worker for node in execution.nodes for a in node.attempts)


def test_a_worker_drives_what_another_engine_recorded_detached(store_url: str) -> None:
    async def main() -> tuple[Any, Any, list[Any]]:
        async with await Engine.open(store_url, name="recorder") as recorder:
            eid = await recorder.start(TWO_STEPS, detached=True)
            recorded = await recorder.store.get_execution(eid)
            async with await Engine.open(store_url, slots=2, name="w-test") as worker:
                finished = await worker.wait(eid)
                listed = await recorder.workers()
            seen = await recorder.get(eid)
        return recorded, (finished, seen), listed

    recorded, (finished, seen), listed = asyncio.run(main())
    assert (recorded.status, recorded.owner) == ("pending", None)
    assert finished.status == "completed" and finished.result == {"y": 2}
    assert [(n.id, n.status) for n in seen.nodes] == [("a", "succeeded"), ("b", "succeeded")]
    assert attempts_by_worker(seen) == Counter({"w-test": 2})
    worker = [w for w in listed if w.name == "w-test"]
    assert len(worker) == 1 and (worker[0].slots, worker[0].alive) == (2, True)
    assert all(w.name != "recorder" for w in listed)  # an engine lists itself only as a worker


def test_an_engine_that_does_not_drive_leaves_everything_to_the_workers(store_url: str) -> None:
    async def main() -> dict[str, Any]:
        async with await Engine.open(store_url, drives=False, name="recorder") as recorder:
            eid = await recorder.start(TWO_STEPS)
            seen: dict[str, Any] = {"record": await recorder.store.get_execution(eid)}
            seen["resumed"] = await recorder.resume([eid], wait=False)
            seen["resumed_all"] = await recorder.resume(wait=False)
            seen["still"] = await recorder.store.get_execution(eid)
            seen["claimable"] = await recorder.store.claimable()
            seen["owners"] = await recorder.store.owners()
            async with await Engine.open(store_url, slots=1, name="the-worker") as worker:
                seen["finished"] = await worker.wait(eid)
            seen["view"] = await recorder.get(eid)
        return seen

    seen = asyncio.run(main())
    for key in ("record", "still"):
        assert (seen[key].status, seen[key].owner) == ("pending", None)
    assert seen["resumed"] == [] and seen["resumed_all"] == []
    assert seen["claimable"] == 1
    assert [(o.name, o.slots) for o in seen["owners"]] == [("recorder", 0)]
    assert seen["finished"].status == "completed"
    # every attempt ran in the worker, none in the engine that recorded it
    assert attempts_by_worker(seen["view"]) == Counter({"the-worker": 2})


def test_two_workers_in_one_process_complete_twenty_executions_once_each(store_url: str) -> None:
    count = 20

    async def main() -> tuple[list[Any], list[list[Any]]]:
        async with await Engine.open(store_url, drives=False) as recorder:
            ids = [await recorder.start(TWO_STEPS, {"i": i}) for i in range(count)]
            async with (
                await Engine.open(store_url, slots=2, name="w-1") as one,
                await Engine.open(store_url, slots=2, name="w-2"),
            ):
                finished = [await one.wait(eid) for eid in ids]
            events = [await recorder.events(eid) for eid in ids]
            views = [await recorder.get(eid) for eid in ids]
        return list(zip(finished, views, strict=True)), events

    results, events = asyncio.run(main())
    assert len(results) == count
    for (finished, view), history in zip(results, events, strict=True):
        assert finished.status == "completed", finished.error
        succeeded_nodes = Counter(e.node_id for e in history if e.type == "node_succeeded")
        assert succeeded_nodes == Counter({"a": 1, "b": 1})  # no node succeeded twice
        assert [len(n.attempts) for n in view.nodes] == [1, 1]
        assert set(attempts_by_worker(view)) <= {"w-1", "w-2"}


def test_a_commit_after_the_lease_passed_and_another_worker_claimed_is_refused(
    store_url: str, loopback: LoopbackServer
) -> None:
    """Engine A drives an http node held at a barrier. Its lease is put in the past (as if
    it had been stopped) and worker B claims the execution and calls the node again; the
    barrier then lets both calls answer. A's completion reaches the store after B's claim,
    so the fence refuses it: the execution finishes once, under B."""
    key = f"/barrier/fence-{new_id()}"
    workflow = locked(f"""
name: fenced
nodes:
  call:
    http: {{url: "{loopback.url(key)}?n=2&timeout=120"}}
  after:
    after: call
    transform: {{arrived: "{{{{ json.arrived }}}}"}}
""")

    async def main() -> dict[str, Any]:
        async with await Engine.open(store_url, name="engine-a") as a:
            # A renews no more during the test: the lease put in the past stays passed
            a.heartbeat_every = 3600.0
            eid = await a.start(workflow)

            async def calling() -> bool:
                return loopback.count(key) >= 1

            await until("A to call the barrier", calling)
            await asyncio.to_thread(expire, store_url, a.identity.id)
            async with await Engine.open(store_url, slots=1, name="engine-b") as b:

                async def claimed() -> bool:
                    return (await b.store.get_execution(eid)).owner == b.identity.id

                await until("B to claim the execution", claimed)
                finished = await b.wait(eid)

                async def rejected() -> bool:
                    return (await b.store.counters()).get("rejected_completions", 0) >= 1

                await until("A's completion to be refused", rejected)
                return {
                    "finished": finished,
                    "view": await b.get(eid),
                    "events": await b.events(eid),
                    "counters": await b.store.counters(),
                    "a_owns": await b.store.owned(a.identity.id),
                    "b_id": b.identity.id,
                }

    seen = asyncio.run(main())
    assert seen["finished"].status == "completed", seen["finished"].error
    assert loopback.count(key) == 2  # A's call and B's
    events = seen["events"]
    assert Counter(e.node_id for e in events if e.type == "node_succeeded") == Counter(
        {"call": 1, "after": 1}
    )
    rejected = [e for e in events if e.type == "completion_rejected"]
    assert rejected and all(e.data is not None for e in rejected)
    assert {e.data["worker"] for e in rejected if e.data} == {"engine-a"}
    assert {e.node_id for e in rejected} == {"call"}
    assert seen["counters"]["rejected_completions"] >= 1
    assert seen["counters"]["lease_expiries"] >= 1
    assert seen["a_owns"] == set()
    view = seen["view"]
    succeeded_attempts = [
        a for n in view.nodes for a in n.attempts if a.status == AttemptStatus.SUCCEEDED
    ]
    assert {a.worker for a in succeeded_attempts} == {"engine-b"}
    assert [n.id for n in view.nodes if n.status == "succeeded"] == ["call", "after"]
    # the attempt A ran keeps A's name once B records it interrupted (before, B's write of
    # that attempt overwrote it with B's)
    assert [(a.number, a.status, a.worker) for a in view.node("call").attempts] == [
        (1, AttemptStatus.INTERRUPTED, "engine-a"),
        (2, AttemptStatus.SUCCEEDED, "engine-b"),
    ]


def test_a_pause_and_a_retry_from_an_engine_that_does_not_drive_reach_the_worker(
    store_url: str,
) -> None:
    """`serve --no-worker`: a pause of an execution nobody holds returns at once and the
    worker that takes it pauses it before any node runs; a retry is left for the workers."""

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with await Engine.open(store_url, drives=False, name="front") as front:
            eid = await front.start(TWO_STEPS)
            seen["paused_at_once"] = await front.pause(eid)
            async with await Engine.open(store_url, slots=2, name="w-pause") as worker:

                async def paused() -> bool:
                    record = await front.store.get_execution(eid)
                    return (record.status, record.owner) == ("paused", worker.identity.id)

                await until("the worker to take it paused", paused)
                seen["while_paused"] = await front.get(eid)
                await front.resume([eid], wait=False)
                seen["finished"] = await worker.wait(eid)
                retried = await front.retry(eid, from_node="b")
                seen["retried_owner"] = (await front.store.get_execution(retried)).owner
                seen["ids"] = (front.identity.id, worker.identity.id)
                seen["retried"] = await worker.wait(retried)
                seen["retried_view"] = await front.get(retried)
        return seen

    seen = asyncio.run(main())
    assert seen["paused_at_once"].status == "pending"
    assert all(not n.attempts for n in seen["while_paused"].nodes)  # nothing ran while paused
    assert seen["finished"].status == "completed" and seen["finished"].result == {"y": 2}
    _, worker_id = seen["ids"]
    assert seen["retried_owner"] in (None, worker_id)  # released (or claimed since), not kept
    assert seen["retried"].status == "completed" and seen["retried"].result == {"y": 2}
    rerun = seen["retried_view"].node("b")
    assert [a.worker for a in rerun.attempts] == ["w-pause"]


def test_a_worker_never_holds_more_executions_than_its_slots(
    store_url: str, loopback: LoopbackServer
) -> None:
    """Six executions whose http node takes a moment, one worker with two slots: at every
    look it holds at most two, and it runs all six."""
    workflow = locked(f"""
name: slow-ish
nodes:
  call: {{http: {{url: "{loopback.url(f"/ok/slots-{new_id()}")}?delay=0.2"}}}}
""")

    async def main() -> tuple[list[int], list[str]]:
        held: list[int] = []
        async with await Engine.open(store_url, drives=False) as recorder:
            ids = [await recorder.start(workflow) for _ in range(6)]
            async with await Engine.open(store_url, slots=2, name="w-two") as worker:

                async def all_done() -> bool:
                    held.append(len(await recorder.store.owned(worker.identity.id)))
                    statuses = [(await recorder.store.get_execution(i)).status for i in ids]
                    return all(s == "completed" for s in statuses)

                await until("the six to complete", all_done)
        return held, ids

    held, ids = asyncio.run(main())
    assert len(ids) == 6
    assert max(held) <= 2, held


def test_an_engine_that_does_not_drive_does_not_list_itself(store_url: str) -> None:
    async def main() -> list[Any]:
        async with await Engine.open(store_url, slots=64, drives=False) as engine:
            return await engine.workers()

    assert asyncio.run(main()) == []


def test_an_engine_never_claims_back_its_own_executions(store_url: str) -> None:
    """An owner whose lease passed (a stall, a clock step) may still drive what it holds: a
    claim of its own would start a second driver beside the first, both passing the fence."""

    async def body(store: SqlStore) -> tuple[list[Any], list[Any]]:
        await store.heartbeat(owner("stalled"), lease=300.0)
        await created(store, store_url, "stalled", 1.0)
        await asyncio.to_thread(expire, store_url, "stalled")
        own = await store.claim_open("stalled", 10)
        other = await store.claim_open("other", 10)
        return own, other

    own, other = with_store(store_url, body)
    assert own == []
    assert [c.previous for c in other] == ["stalled"]
