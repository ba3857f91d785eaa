"""Hardened claims, on SQLite and PostgreSQL alike (the `store_url` fixture): the claim number
that fences an owner's first tenure once it claimed an execution back (A, B, then A), the
machine key that decides whose pids may be checked, counters that no two claims share, and
claim rounds that spread a burst over the workers with free slots.

Like test_ownership.py, leases are put in the past with an UPDATE through a connection of
the test's own; waits are on stored (or, for an engine's own bookkeeping, in-process) state,
with a ceiling that only guards against a hang.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from typing import Any

import psycopg
import pytest

from fuchsia import Engine
from fuchsia.definition import LockedWorkflow
from fuchsia.runtime.owner import current_identity, is_dead, machine_key
from fuchsia.states import AttemptStatus
from fuchsia.store import OwnershipLost, SqlStore
from fuchsia.store.memory import MemoryStore
from fuchsia.store.records import OwnerRecord, UnitKey, new_id
from support.httpserver import LoopbackServer
from support.stores import (
    created,
    execute,
    expire,
    new_execution,
    opened,
    owner,
    succeeded,
    with_store,
)
from support.waiting import CEILING, locked, until


def held(loopback: LoopbackServer, gate: str) -> LockedWorkflow:
    """A workflow whose one http call is held until the test releases `gate`."""
    return locked(f"""
name: held
nodes:
  call: {{http: {{url: "{loopback.url(f"/hold/{gate}")}?timeout=120"}}}}
  after: {{after: call, transform: {{done: true}}}}
""")


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- 1. the claim number: A, B, then A again --------------------------------------------------


def test_a_first_tenure_write_is_refused_once_the_owner_claimed_the_execution_back(
    store_url: str,
) -> None:
    """A holds an execution (claim 0), lets its lease pass, B claims it (1), lets its lease
    pass, and A claims it back (2). A write A's first tenure still had in flight names the
    right owner, A, but an older claim: refused. Before, the fence compared the owner
    alone and let it through."""

    async def body(store: SqlStore) -> dict[str, Any]:
        await store.heartbeat(owner("a"), lease=300.0)
        await store.heartbeat(owner("b"), lease=300.0)
        eid = await created(store, store_url, "a", 1.0)
        first = (await store.get_execution(eid)).claim
        await asyncio.to_thread(expire, store_url, "a")
        by_b = await store.claim_open("b", 5)
        await store.heartbeat(owner("a"), lease=300.0)
        await asyncio.to_thread(expire, store_url, "b")
        by_a = await store.claim_open("a", 5)
        late = succeeded(eid, "late", "a")
        late.claim = first
        with pytest.raises(OwnershipLost):
            await store.apply(late)
        on_time = succeeded(eid, "on-time", "a")
        on_time.claim = by_a[0].claim
        await store.apply(on_time)
        return {
            "first": first,
            "by_b": [(c.previous, c.claim) for c in by_b],
            "by_a": [(c.previous, c.claim) for c in by_a],
            "record": await store.get_execution(eid),
            "nodes": set(await store.get_nodes(eid)),
        }

    seen = with_store(store_url, body)
    assert seen["first"] == 0
    assert seen["by_b"] == [("a", 1)] and seen["by_a"] == [("b", 2)]
    assert (seen["record"].owner, seen["record"].claim) == ("a", 2)
    assert seen["nodes"] == {"on-time"}  # the refused write left nothing


def test_a_takeover_gives_a_new_claim_number(store_url: str) -> None:
    async def body(store: SqlStore) -> tuple[int, bool, int, bool, int]:
        await store.heartbeat(owner("a"), lease=300.0)
        eid = await created(store, store_url, "a", 1.0)
        before = (await store.get_execution(eid)).claim
        taken = await store.claim(eid, "b", "a")
        after = (await store.get_execution(eid)).claim
        own = await store.claim(eid, "b", "b")  # from itself: its old writes are fenced too
        return before, taken, after, own, (await store.get_execution(eid)).claim

    assert with_store(store_url, body) == (0, True, 1, True, 2)


def test_the_memory_store_fences_by_the_claim_number_too() -> None:
    async def main() -> None:
        store = MemoryStore()
        record, _ = await store.create_execution(new_execution("a"))
        await store.apply(succeeded(record.id, "node-1", "a"))  # the node row exists
        assert await store.claim(record.id, "b", "a") and await store.claim(record.id, "a", "b")
        stale = succeeded(record.id, "node-1", "a")
        stale.claim = record.claim
        with pytest.raises(OwnershipLost):
            await store.apply(stale)
        fresh = succeeded(record.id, "node-1", "a")
        fresh.claim = (await store.get_execution(record.id)).claim
        await store.apply(fresh)
        assert fresh.claim == 2

    asyncio.run(main())


def test_an_engine_that_claimed_an_execution_back_commits_nothing_of_its_first_tenure(
    store_url: str, loopback: LoopbackServer
) -> None:
    """Engine A calls a held http node; its lease passes and worker B claims the execution
    and calls the node again; B's lease passes and A, a worker too, claims it back. Then
    the calls answer. A's first attempt was in flight all along under A's name: before, its
    completion passed the fence (the owner is A again) and the execution finished with
    it. Now A's first tenure is stopped and refused, and A drives the execution anew from
    what is stored: its attempt under the new claim is the one that succeeds."""
    gate = f"claim-back-{new_id()}"
    workflow = held(loopback, gate)
    path = f"/hold/{gate}"

    async def main() -> dict[str, Any]:
        # long leases: nothing here waits for one to pass (`expire` puts them in the past)
        async with await Engine.open(store_url, slots=2, name="engine-a", lease=600.0) as a:
            a.heartbeat_every = 3600.0  # A renews no more until the test says so
            eid = await a.start(workflow)

            async def calls(n: int) -> bool:
                return loopback.count(path) >= n

            await until("A to call", lambda: calls(1))
            await asyncio.to_thread(expire, store_url, a.identity.id)
            async with await Engine.open(store_url, slots=1, name="engine-b", lease=600.0) as b:
                b.heartbeat_every = 3600.0
                await until("B to claim and call", lambda: calls(2))
                await asyncio.to_thread(expire, store_url, b.identity.id)

                async def claimed_back() -> bool:
                    return eid in a._stopped_for_lease

                await until("A to claim it back", claimed_back)
                a.heartbeat_every = 0.2  # the next renewal drives it anew

                async def driven_anew() -> bool:
                    record = await a.store.get_execution(eid)
                    return record.owner == a.identity.id and record.claim >= 3

                await until("A to drive it anew under a new claim", driven_anew)
                loopback.release(gate)
                finished = await a.wait(eid)
                return {
                    "finished": finished,
                    "events": await a.events(eid),
                    "record": await a.store.get_execution(eid),
                    "a": a.identity.id,
                }

    seen = asyncio.run(main())
    call = seen["finished"].node("call")
    assert [(x.number, x.worker) for x in call.attempts if x.status == AttemptStatus.SUCCEEDED] == [
        (3, "engine-a")  # the attempt of A's second tenure
    ]
    assert call.attempts[0].status != AttemptStatus.SUCCEEDED  # A's first: never committed
    assert seen["record"].owner == seen["a"] and seen["record"].claim >= 3
    succeeded_events = [e.node_id for e in seen["events"] if e.type == "node_succeeded"]
    assert succeeded_events == ["call", "after"]
    rejected = {
        (e.node_id, e.data["attempt"], e.data["worker"])
        for e in seen["events"]
        if e.type == "completion_rejected" and e.data is not None
    }
    assert ("call", 1, "engine-a") in rejected  # A's first tenure, recorded as refused


# -- 2. the same machine: boot id and pid namespace, not the hostname -------------------------


def stranger(owner_id: str, machine: str | None) -> OwnerRecord:
    """An owner with this host's name and a pid that has exited, on `machine`."""
    return OwnerRecord(
        owner_id, socket.gethostname(), dead_pid(), 1.0, 0.0, name=owner_id, machine=machine
    )


def test_an_owner_of_our_hostname_on_another_machine_is_not_judged_by_its_pid() -> None:
    me = current_identity()
    assert me.machine is not None and me.machine == machine_key()
    elsewhere = stranger("twin", "another-boot-id/pidns:1")
    here = stranger("here", me.machine)
    unknown = stranger("unknown", None)
    assert not is_dead(elsewhere, me=me)  # alive by its lease: a live owner on its own host
    assert is_dead(here, me=me)  # our kernel and pid namespace: its pid says it is gone
    assert not is_dead(unknown, me=me)
    no_proc = current_identity().__class__(me.id, me.host, me.pid, me.started_at, None)
    assert not is_dead(here, me=no_proc)  # no /proc here: the lease alone says


def test_a_machine_key_is_unknown_without_proc(tmp_path: Any) -> None:
    assert machine_key(tmp_path) is None


def test_a_worker_forgets_only_owners_on_its_own_machine_whose_process_is_gone(
    store_url: str,
) -> None:
    """Two owners with this host's name and an exited pid, both within their lease, each
    holding an execution: one on another machine (another boot id and pid namespace, as a
    host of the same name or a container on the host network), one on ours. A worker
    forgets ours and runs its execution at once; the other stays held until its lease
    passes. Before, both were forgotten by their hostname."""
    flow = locked("""
name: quick
nodes:
  a: {transform: {x: 1}}
""")

    async def main() -> dict[str, Any]:
        async with await Engine.open(store_url, name="recorder", drives=False) as recorder:
            store = recorder.store
            me = recorder.identity
            twin, here = stranger("twin", "another-boot/pidns:1"), stranger("here", me.machine)
            ids: dict[str, str] = {}
            for record in (twin, here):
                await store.heartbeat(record, lease=300.0)
                ids[record.id] = await recorder.start(flow)
                await asyncio.to_thread(
                    execute, store_url, "UPDATE executions SET owner = ? WHERE id = ?",
                    record.id, ids[record.id],
                )  # fmt: skip
            async with await Engine.open(store_url, slots=4, name="w") as worker:
                done_here = await worker.wait(ids["here"])
                later = await recorder.start(flow)  # claimed in a later round still
                done_later = await worker.wait(later)
                twin_record = await store.get_execution(ids["twin"])
                owners = {o.id for o in await store.owners()}
        return {
            "here": done_here.status,
            "later": done_later.status,
            "twin": (twin_record.status, twin_record.owner),
            "owners": owners,
        }

    seen = asyncio.run(main())
    assert seen["here"] == "completed" and seen["later"] == "completed"
    assert seen["twin"] == ("pending", "twin")  # held: its owner is alive by its lease
    assert "twin" in seen["owners"] and "here" not in seen["owners"]


# -- 4. counters without a shared row ---------------------------------------------------------


def test_counts_survive_their_owner_and_claims_write_no_shared_row(store_url: str) -> None:
    async def body(store: SqlStore) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for name in ("w-1", "w-2"):
            await store.heartbeat(owner(name), lease=300.0)
        await store.heartbeat(owner("old"), lease=300.0)
        stale = await created(store, store_url, "old", 0.5)
        await asyncio.to_thread(expire, store_url, "old")
        for at in (1.0, 2.0, 3.0):
            await created(store, store_url, None, at)
        await store.claim_open("w-1", 2)  # the one of "old" (an expiry) and one detached
        await store.claim_open("w-2", 5)
        await store.reject(stale, [(UnitKey("n"), 1)], "w-1-name", "taken over", owner="w-1")
        seen["shared"] = await asyncio.to_thread(rows, store_url, "counters")
        seen["totals"] = await store.counters()
        await store.forget_owner("w-1")
        await asyncio.to_thread(
            execute, store_url, "UPDATE owners SET lease_expires_at = ? WHERE id = ?", -1e6, "w-2"
        )
        await store.forget_stale_owners(1000.0)
        seen["after"] = await store.counters()
        seen["owners"] = {o.id for o in await store.owners()}
        seen["left"] = await asyncio.to_thread(rows, store_url, "owner_counters")
        return seen

    seen = with_store(store_url, body)
    assert seen["shared"] == 0  # every claim counted in rows of its own owner's
    expected = {"claims": 3, "lease_expiries": 1, "rejected_completions": 1}
    totals = {k: v for k, v in seen["totals"].items() if k != "claim_latency_us"}
    assert totals == expected
    after = {k: v for k, v in seen["after"].items() if k != "claim_latency_us"}
    assert after == expected  # what the departed owners counted is still counted
    assert seen["after"]["claim_latency_us"] == seen["totals"]["claim_latency_us"]
    assert "w-1" not in seen["owners"] and "w-2" not in seen["owners"]
    assert seen["left"] == 0


def rows(url: str, table: str) -> int:
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as pg:
            row = pg.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    else:
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(url, timeout=30)) as lite:
            row = lite.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_a_claim_does_not_wait_for_another_workers_open_claim(fresh_pg_url: str) -> None:
    """Worker X's claim transaction stays open (its commit is slow, say) while worker Y
    claims: Y skips X's rows and counts in its own rows, so it does not wait. Before, both
    added to the one shared `claims` row, and Y waited for X's commit."""

    async def setup(store: SqlStore) -> None:
        for name in ("x", "y"):
            await store.heartbeat(owner(name), lease=300.0)
        for _ in range(2):
            await store.create_execution(new_execution(None))

    with_store(fresh_pg_url, setup)

    async def main() -> tuple[int, int]:
        async with opened(fresh_pg_url) as x, opened(fresh_pg_url) as y:
            held_open: psycopg.Connection[Any] = psycopg.connect(fresh_pg_url, autocommit=True)
            try:
                held_open.execute("BEGIN")

                async def in_the_open_transaction(job: Any) -> Any:
                    return job(held_open.cursor())

                setattr(x, "_write", in_the_open_transaction)  # noqa: B010
                by_x = await x.claim_open("x", 1)
                async with asyncio.timeout(CEILING / 2):
                    by_y = await y.claim_open("y", 1)
                held_open.execute("COMMIT")
            finally:
                held_open.close()
        return len(by_x), len(by_y)

    assert asyncio.run(main()) == (1, 1)


# -- 5. fair claims ---------------------------------------------------------------------------


def test_a_burst_is_spread_over_the_workers_with_free_slots(
    store_url: str, loopback: LoopbackServer
) -> None:
    """Eight executions become claimable at once (their owner leaves) while two workers with
    eight free slots each are idle: each round takes an even split of what is claimable,
    so both get some. Before, whichever claimed first took all eight."""
    gate = f"burst-{new_id()}"
    workflow = held(loopback, gate)
    count = 8

    async def main() -> dict[str, Any]:
        holder = await Engine.open(store_url, name="holder")
        try:
            ids = [await holder.start(workflow) for _ in range(count)]

            async def all_calling() -> bool:
                return loopback.count(f"/hold/{gate}") >= count

            await until("the holder to run all eight", all_calling)
        except BaseException:
            await holder.close()
            raise
        async with (
            await Engine.open(store_url, slots=count, name="w-1") as one,
            await Engine.open(store_url, slots=count, name="w-2") as two,
        ):
            await holder.close()  # its eight are claimable at once

            async def all_claimed() -> bool:
                owners = [(await one.store.get_execution(i)).owner for i in ids]
                return all(o in (one.identity.id, two.identity.id) for o in owners)

            await until("the workers to claim all eight", all_claimed)
            by_owner = [(await one.store.get_execution(i)).owner for i in ids]
            loopback.release(gate)
            finished = [await one.wait(i) for i in ids]
            return {
                "one": by_owner.count(one.identity.id),
                "two": by_owner.count(two.identity.id),
                "statuses": {f.status for f in finished},
            }

    seen = asyncio.run(main())
    assert seen["one"] + seen["two"] == count
    assert seen["one"] >= 1 and seen["two"] >= 1, seen
    assert seen["statuses"] == {"completed"}


def test_a_worker_alone_takes_the_whole_burst(store_url: str) -> None:
    async def body(store: SqlStore) -> int:
        from fuchsia.runtime.leases import fair_share

        await store.heartbeat(owner("alone", slots=8), lease=300.0)
        await store.heartbeat(owner("full", slots=2, executions=2), lease=300.0)
        await store.heartbeat(owner("draining", slots=4, draining=True), lease=300.0)
        live = [o for o in await store.owners() if o.alive]
        assert fair_share(8, 5, live, "alone") == 5  # the others have no free slot
        assert fair_share(3, 5, live, "alone") == 3  # never more than its free slots
        await store.heartbeat(owner("idle", slots=4), lease=300.0)
        live = [o for o in await store.owners() if o.alive]
        return fair_share(8, 5, live, "alone")

    assert with_store(store_url, body) == 3  # ceil(5 / 2): "idle" takes the rest
