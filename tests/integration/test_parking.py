"""Parked executions, on SQLite and PostgreSQL alike (the `store_url` fixture): a worker hands
an execution whose only open work is waits back to the store, and any worker takes it again
when its signal, a control request or its timer wakes it. The wait goes on as the same
attempt, so a parked approval costs no memory, no slot and no interrupted attempts.

First the store's side (a park with its signal already sent is woken at once: no lost
wake-up), then engines end to end. Engines park after `park_after=0` seconds here, so every
wait parks at once; waits are on stored state, with a ceiling that only guards a hang.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg

from fuchsia import Engine
from fuchsia.states import ExecutionStatus
from fuchsia.store import SqlStore
from fuchsia.store.records import (
    PARKED_FOREVER,
    ExecutionUpdate,
    KvChanges,
    NewExecution,
    Parking,
    Transition,
    new_id,
)
from support.httpserver import LoopbackServer
from support.stores import opened, with_store
from support.waiting import CEILING, locked, until

APPROVAL = locked("""
name: approval
nodes:
  ask: {wait: {signal: approve}}
  done: {after: ask, transform: {approved: "{{ data.ok }}"}}
""")

TIMER = locked("""
name: timer
nodes:
  nap: {wait: {for: 2s}}
  done: {after: nap, transform: {woke: true}}
""")


async def parked(engine: Engine, execution_id: str) -> bool:
    record = await engine.store.get_execution(execution_id)
    return record.parked_until is not None and record.owner is None


# -- the store -------------------------------------------------------------------------------


async def _held(store: SqlStore, owner: str) -> str:
    record, _ = await store.create_execution(
        NewExecution(
            id=new_id(),
            workflow_hash="sha256:" + "2" * 64,
            workflow_name="held",
            workflow_version=1,
            workflow_document='{"name":"held"}',
            payload={},
            context={},
            idempotency_key=None,
            owner=owner,
            status=ExecutionStatus.WAITING,
        )
    )
    return record.id


def _park(execution_id: str, owner: str, *signals: str) -> Transition:
    update = ExecutionUpdate(park=Parking(PARKED_FOREVER, signals))
    return Transition(execution_id, owner, execution=update)


class _SkewedClock:
    """The `time` module as a process whose clock runs an hour ahead sees it."""

    @staticmethod
    def time() -> float:
        return time.time() + 3600.0

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()


def test_a_parked_timer_counts_on_the_database_clock_whatever_the_workers_clock(
    store_url: str, monkeypatch: Any
) -> None:
    """A worker an hour ahead parks a 30 s timer: it wakes 30 s from now on the database's
    clock, as claims read it, not an hour late (nor, for a worker behind, in a loop of
    claims that re-park at once)."""
    import fuchsia.store.ownership

    async def body(store: SqlStore) -> tuple[float, float]:
        eid = await _held(store, "holder")
        monkeypatch.setattr(fuchsia.store.ownership, "time", _SkewedClock)
        update = ExecutionUpdate(park=Parking(_SkewedClock.time() + 30, ("approve",)))
        await store.apply(Transition(eid, "holder", execution=update))
        monkeypatch.undo()
        record = await store.get_execution(eid)
        assert record.parked_until is not None
        return record.parked_until, time.time()

    parked_until, now = with_store(store_url, body)
    assert now < parked_until < now + 600  # about 30 s ahead, not an hour


def test_a_park_releases_the_execution_until_its_signal_arrives(store_url: str) -> None:
    async def body(store: SqlStore) -> list[Any]:
        eid = await _held(store, "holder")
        await store.apply(_park(eid, "holder", "approve"))
        seen: list[Any] = [await store.get_execution(eid), await store.claimable()]
        await store.send_signal(eid, "unrelated", None)  # waited for by nothing parked
        seen.append(await store.claimable())
        await store.send_signal(eid, "approve", {"ok": True})
        seen.append(await store.claimable())
        return seen

    record, before, after_unrelated, after_approve = with_store(store_url, body)
    assert record.owner is None and record.parked_until == PARKED_FOREVER
    assert (before, after_unrelated, after_approve) == (0, 0, 1)


def test_a_park_whose_signal_was_already_sent_is_woken_at_once(store_url: str) -> None:
    """The lost wake-up: the signal arrived after the wait last looked and before the park
    committed. The park sees it under the row lock and leaves the execution claimable."""

    async def body(store: SqlStore) -> int:
        eid = await _held(store, "holder")
        await store.send_signal(eid, "approve", None)
        await store.apply(_park(eid, "holder", "approve"))
        return await store.claimable()

    assert with_store(store_url, body) == 1


def test_a_cancel_wakes_a_parked_execution(store_url: str) -> None:
    async def body(store: SqlStore) -> tuple[int, int]:
        eid = await _held(store, "holder")
        await store.apply(_park(eid, "holder", "approve"))
        before = await store.claimable()
        assert await store.request(eid, "cancel")
        return before, await store.claimable()

    assert with_store(store_url, body) == (0, 1)


# -- engines ---------------------------------------------------------------------------------


def test_a_parked_wait_holds_nothing_and_its_signal_finishes_it_as_one_attempt(
    store_url: str,
) -> None:
    async def main() -> tuple[Any, Any, list[str]]:
        async with await Engine.open(store_url, slots=2, park_after=0, name="w") as worker:
            eid = await worker.start(APPROVAL)
            await until("the execution parked", lambda: parked(worker, eid))
            waiting = await worker.get(eid)
            await worker.signal(eid, "approve", {"ok": True})
            finished = await worker.wait(eid)
            history = [e.type for e in await worker.events(eid)]
        return waiting, finished, history

    waiting, finished, history = asyncio.run(main())
    assert waiting.status == "waiting"
    assert finished.status == "completed" and finished.result == {"approved": True}
    ask = next(n for n in finished.nodes if n.id == "ask")
    assert [(a.number, a.status) for a in ask.attempts] == [(1, "succeeded")]
    assert "node_interrupted" not in history
    assert history.index("execution_parked") < history.index("node_succeeded")


def test_a_parked_execution_is_finished_by_another_worker(store_url: str) -> None:
    """Parked on one worker, signalled by an engine that drives nothing (a server without a
    worker), finished by a second worker: the first is gone by then."""

    async def main() -> tuple[Any, set[str | None]]:
        async with await Engine.open(store_url, drives=False, name="front") as front:
            eid = await front.start(APPROVAL)
            async with await Engine.open(store_url, slots=1, park_after=0, name="w-1") as one:
                await until("the execution parked", lambda: parked(one, eid))
            async with await Engine.open(store_url, slots=1, park_after=0, name="w-2") as two:
                await front.signal(eid, "approve", {"ok": False})
                finished = await two.wait(eid)
            workers = {a.worker for n in finished.nodes for a in n.attempts}
        return finished, workers

    finished, workers = asyncio.run(main())
    assert finished.status == "completed" and finished.result == {"approved": False}
    ask = next(n for n in finished.nodes if n.id == "ask")
    assert [a.status for a in ask.attempts] == ["succeeded"]  # one attempt, across workers
    assert workers == {"w-1", "w-2"}  # the wait started on one, its successor ran on the other


def test_a_parked_timer_wakes_and_finishes(store_url: str) -> None:
    async def main() -> tuple[bool, Any]:
        async with await Engine.open(store_url, slots=1, park_after=0, name="w") as worker:
            eid = await worker.start(TIMER)
            await until("the execution parked", lambda: parked(worker, eid))
            was_parked = True
            finished = await worker.wait(eid)
        return was_parked, finished

    was_parked, finished = asyncio.run(main())
    assert was_parked and finished.status == "completed"
    nap = next(n for n in finished.nodes if n.id == "nap")
    assert [a.status for a in nap.attempts] == ["succeeded"]
    assert nap.output["waited"] >= 2.0


def test_a_parked_execution_is_cancelled(store_url: str) -> None:
    async def main() -> tuple[Any, Any]:
        async with await Engine.open(store_url, slots=1, park_after=0, name="w") as worker:
            eid = await worker.start(APPROVAL)
            await until("the execution parked", lambda: parked(worker, eid))
            return await worker.cancel(eid), await worker.store.get_execution(eid)

    cancelled, record = asyncio.run(main())
    assert cancelled.status == "cancelled" and record.parked_until is None  # parked no more
    ask = next(n for n in cancelled.nodes if n.id == "ask")
    assert ask.status == "cancelled" and [a.status for a in ask.attempts] == ["cancelled"]


def test_an_engine_that_is_not_a_worker_never_parks(store_url: str) -> None:
    async def main() -> tuple[Any, Any]:
        async with await Engine.open(store_url, park_after=0) as engine:
            eid = await engine.start(APPROVAL)
            await until("it waits", lambda: _status(engine, eid, "waiting"))
            record = await engine.store.get_execution(eid)
            await engine.signal(eid, "approve", {"ok": True})
            return record, await engine.wait(eid)

    record, finished = asyncio.run(main())
    assert record.parked_until is None and record.owner is not None
    assert finished.status == "completed"


async def _status(engine: Engine, execution_id: str, status: str) -> bool:
    return (await engine.get(execution_id)).status == status


def test_a_parent_parks_on_its_sub_workflow_and_the_childs_end_wakes_it(
    store_url: str, tmp_path: Path
) -> None:
    (tmp_path / "child.yaml").write_text("""
name: child
nodes:
  ask: {wait: {signal: approve}}
  done: {after: ask, transform: {child_ok: "{{ data.ok }}"}}
""")
    (tmp_path / "parent.yaml").write_text("""
name: parent
nodes:
  sub: {workflow: {path: child.yaml, inputs: {}}}
  after_sub: {after: sub, transform: {seen: "{{ data.child_ok }}"}}
""")

    async def main() -> tuple[Any, list[str]]:
        async with await Engine.open(store_url, slots=2, park_after=0, name="w") as worker:
            parent_id = await worker.start(tmp_path / "parent.yaml")
            children: list[Any] = []

            async def child_parked() -> bool:
                children[:] = [e for e in await worker.list() if e.id != parent_id]
                return bool(children) and await parked(worker, children[0].id)

            await until("the child parked", child_parked)
            await until("the parent parked", lambda: parked(worker, parent_id))
            await worker.signal(children[0].id, "approve", {"ok": True})
            finished = await worker.wait(parent_id)
            history = [e.type for e in await worker.events(parent_id)]
        return finished, history

    finished, history = asyncio.run(main())
    assert finished.status == "completed" and finished.result == {"seen": True}
    sub = next(n for n in finished.nodes if n.id == "sub")
    assert [a.status for a in sub.attempts] == ["succeeded"]  # the same attempt, woken
    assert "execution_parked" in history and "node_interrupted" not in history


def test_a_retry_due_later_parks_and_any_worker_runs_it_when_it_is_due(store_url: str) -> None:
    with LoopbackServer() as server:
        flaky = locked(f"""
name: flaky
nodes:
  call:
    http: {{url: "{server.url("/flaky/p?fail=1")}"}}
    retry: {{max_attempts: 2, backoff: fixed, initial_delay: 2s}}
""")

        async def main() -> tuple[Any, list[str]]:
            async with await Engine.open(store_url, slots=1, park_after=0.5, name="w") as worker:
                eid = await worker.start(flaky)
                await until("the execution parked", lambda: parked(worker, eid))
                finished = await worker.wait(eid)
                return finished, [e.type for e in await worker.events(eid)]

        finished, history = asyncio.run(main())
        calls = server.count("/flaky/p")
    assert finished.status == "completed" and calls == 2
    call = next(n for n in finished.nodes if n.id == "call")
    assert [a.status for a in call.attempts] == ["failed", "succeeded"]
    assert history.index("node_retrying") < history.index("execution_parked")


def test_a_pause_left_just_before_the_park_wakes_the_parked_execution(store_url: str) -> None:
    """The pause was stored after the worker last delivered requests to its driver and
    before the park committed, so the driver never acted on it. Before, the park left the
    execution parked (for its signal alone) with the pause unseen: it did not pause, and
    `Engine.pause` from another process waited for a `paused` that never came."""

    async def body(store: SqlStore) -> tuple[int, int]:
        eid = await _held(store, "holder")  # waiting, not paused
        assert await store.request(eid, "pause")
        await store.apply(_park(eid, "holder", "approve"))
        woken = await store.claimable()
        paused = await _held(store, "holder")
        assert await store.request(paused, "pause")
        update = ExecutionUpdate(status=ExecutionStatus.PAUSED, park=Parking(PARKED_FOREVER))
        await store.apply(Transition(paused, "holder", execution=update))
        return woken, await store.claimable() - woken

    woken, paused_and_parked = with_store(store_url, body)
    assert woken == 1
    assert paused_and_parked == 0  # paused already: it sleeps until a resume or its wake-up


def test_a_child_ending_while_its_parent_parks_wakes_the_parent(fresh_pg_url: str) -> None:
    """The child's final commit and its parent's park in flight at once (PostgreSQL, two
    connections). The child's commit is held after it looked for a parked parent (its kv
    write waits on a row this test locks) while the parent's park commits. Before, the
    child's wake-up found the parent not parked yet and took no lock on it, and the park
    found the child not ended yet (uncommitted): the parent stayed parked for good."""
    url = fresh_pg_url

    async def setup(store: SqlStore) -> tuple[str, str]:
        parent = await _held(store, "holder")
        child, _ = await store.create_execution(
            NewExecution(
                id=new_id(),
                workflow_hash="sha256:" + "3" * 64,
                workflow_name="child",
                workflow_version=1,
                workflow_document='{"name":"child"}',
                payload={},
                context={},
                idempotency_key=None,
                owner="child-holder",
                parent_id=parent,
            )
        )
        kv = [KvChanges("child-scope", {"k": "1"})]
        await store.apply(Transition(child.id, "child-holder", kv=kv))
        return parent, child.id

    parent, child = with_store(url, setup)

    def lock_waiters() -> int:
        with psycopg.connect(url) as pg:
            row = pg.execute(
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            assert row is not None
            return int(row[0])

    async def race() -> int:
        ended = Transition(
            child,
            "child-holder",
            execution=ExecutionUpdate(
                ExecutionStatus.COMPLETED, result={}, has_result=True, finished=True
            ),
            kv=[KvChanges("child-scope", {"k": "2"})],
        )
        park = ExecutionUpdate(park=Parking(PARKED_FOREVER, (), (child,)))
        async with opened(url) as child_store, opened(url) as parent_store:
            with psycopg.connect(url) as holder:
                holder.execute("SELECT value FROM kv WHERE scope = 'child-scope' FOR UPDATE")
                ending = asyncio.create_task(child_store.apply(ended))
                await until("the child's commit to wait", lambda: _waiting(lock_waiters, 1))
                parking = asyncio.create_task(
                    parent_store.apply(Transition(parent, "holder", execution=park))
                )
                await until(
                    "the park to commit or wait",
                    lambda: _done_or(parking, lambda: _waiting(lock_waiters, 2)),
                )
                holder.commit()  # the child's commit goes on
            await asyncio.gather(ending, parking)
            return await parent_store.claimable()

    assert asyncio.run(race()) == 1


async def _waiting(count: Callable[[], int], at_least: int) -> bool:
    return await asyncio.to_thread(count) >= at_least


async def _done_or(task: asyncio.Task[None], check: Callable[[], Awaitable[bool]]) -> bool:
    return task.done() or await check()


def test_a_process_that_is_not_a_worker_leaves_parked_executions_to_the_workers(
    store_url: str,
) -> None:
    """`fuchsia runs resume` and `runs pause` open an engine that drives but does not park.
    Before, its take-over claimed parked executions (the claim it uses did not look at
    `parked_until`): `runs resume` drove every parked approval in the CLI process and waited
    for each to be signalled, and `runs pause` took the execution over only to interrupt its
    wait when the CLI exited."""

    async def main() -> tuple[list[str], list[str], Any, list[str]]:
        async with await Engine.open(store_url, slots=1, park_after=0, name="w") as worker:
            eid = await worker.start(APPROVAL)
            await until("the execution parked", lambda: parked(worker, eid))
            async with await Engine.open(store_url, name="cli") as cli:
                resumed_all = await cli.resume(wait=False)
                await cli.pause(eid)
            await until("the worker to pause it", lambda: _status(worker, eid, "paused"))
            async with await Engine.open(store_url, name="cli-2") as cli:
                resumed = await cli.resume([eid], wait=False)
            await until("the worker to resume it", lambda: _status(worker, eid, "waiting"))
            await worker.signal(eid, "approve", {"ok": True})
            finished = await worker.wait(eid)
            history = [e.type for e in await worker.events(eid)]
        return resumed_all, resumed, finished, history

    resumed_all, resumed, finished, history = asyncio.run(main())
    assert resumed_all == [] and resumed == []  # left to the workers
    assert finished.status == "completed" and finished.result == {"approved": True}
    ask = next(n for n in finished.nodes if n.id == "ask")
    assert [(a.number, a.status, a.worker) for a in ask.attempts] == [(1, "succeeded", "w")]
    assert "node_interrupted" not in history and "execution_paused" in history


def test_a_wait_that_parks_while_other_work_runs_still_ends_on_time(store_url: str) -> None:
    """Only a whole execution parks. Before, a wait that parked while another node of its
    execution still ran (here an http call held open) settled nothing and ran no more: its
    timer was not kept and its successor waited for the other node to end."""
    with LoopbackServer() as server:
        wf = locked(f"""
name: beside
nodes:
  nap: {{wait: {{for: 1s}}}}
  after_nap: {{after: nap, http: {{url: "{server.url("/ok/after-nap")}"}}}}
  held: {{http: {{url: "{server.url("/hold/held")}"}}}}
""")

        async def main() -> Any:
            async with await Engine.open(store_url, slots=1, park_after=0, name="w") as worker:
                eid = await worker.start(wf)

                async def successor_ran() -> bool:
                    return server.count("/ok/after-nap") == 1

                await until("the wait's successor, while `held` still runs", successor_ran)
                server.release("held")
                return await worker.wait(eid)

        finished = asyncio.run(main())
    assert finished.status == "completed", finished.error
    nap = next(n for n in finished.nodes if n.id == "nap")
    assert [a.status for a in nap.attempts] == ["succeeded"]


def test_a_foreach_of_waits_finishes_on_a_worker_that_parks(store_url: str) -> None:
    """A foreach's items never let their execution park (the fan-out is open). Before, each
    item's wait parked in the process and ran no more, and the execution hung for good."""
    wf = locked("""
name: fan
nodes:
  each: {foreach: {items: "{{ [1, 2] }}"}, wait: {for: 1s}}
""")

    async def main() -> Any:
        async with await Engine.open(store_url, slots=1, park_after=0, name="w") as worker:
            eid = await worker.start(wf)
            async with asyncio.timeout(CEILING):
                return await worker.wait(eid)

    finished = asyncio.run(main())
    assert finished.status == "completed", finished.error


def test_a_claim_committed_with_the_park_of_an_execution_driven_here_drives_it_again(
    tmp_path: Path,
) -> None:
    """The store commits writes in batches: a worker's park of an execution (woken at once,
    its signal already sent) and its own claim round's `claim_open` can share a transaction,
    so the claim takes the execution it just parked, and resumes before the ended driver is
    forgotten. Before, the round skipped it as "driven here already": owned by a live
    worker, driven by none, it stayed so for good. SQLite: a lock held by the test's own
    connection makes the park and the claim queue up behind a write in flight."""
    url = str(tmp_path / "fuchsia.db")

    async def main() -> Any:
        async with (
            await Engine.open(url, drives=False, name="front") as front,
            await Engine.open(url, slots=1, park_after=3.0, name="w") as worker,
        ):
            assert worker._claiming is not None
            worker._claiming.cancel()  # claim rounds run when the test says
            worker.heartbeat_every = 3600.0
            eid = await worker.start(APPROVAL)
            other = await front.start(APPROVAL)  # claimable: claim rounds call claim_open
            await until("the wait to start", lambda: _running(worker, eid))
            lite = sqlite3.connect(url, timeout=30, isolation_level=None)
            try:
                lite.execute("BEGIN IMMEDIATE")
                lite.execute(
                    "INSERT INTO signals (execution_id, name, payload, created_at) "
                    "VALUES (?, 'approve', '{\"ok\": true}', 0)",
                    (eid,),
                )
                jobs = worker.store._jobs  # type: ignore[attr-defined]
                blocked = asyncio.create_task(worker.store.send_signal(other, "noop", None))
                await asyncio.sleep(0)  # its job is queued
                await until("a write to wait for the lock", lambda: _queued(jobs, 0))
                driver = worker._driving[eid]
                await until("the park to queue up", lambda: _true(driver.busy))
                claiming = asyncio.create_task(worker._claim_round())
                await until("the claim to queue up", lambda: _queued(jobs, 2))
                delivered = _on_batch_of(worker.store, 2)
                lite.execute("COMMIT")
                # hold the event loop (no await) until the writer committed the park and the
                # claim together and answered both, so both answers reach the loop in one
                # turn, as they may
                assert delivered.wait(CEILING), "gave up waiting for the park and the claim"
            finally:
                lite.close()
            await asyncio.gather(blocked, claiming)
            async with asyncio.timeout(CEILING):
                return await worker.wait(eid)

    finished = asyncio.run(main())
    assert finished.status == "completed" and finished.result == {"approved": True}
    ask = next(n for n in finished.nodes if n.id == "ask")
    assert [a.status for a in ask.attempts] == ["succeeded"]


def _on_batch_of(store: Any, size: int) -> threading.Event:
    """An event the store's writer sets once it has committed a batch of `size` jobs or
    more and handed their answers to the event loop."""
    delivered = threading.Event()
    commit = store._commit

    def commit_and_tell(batch: list[Any]) -> None:
        commit(batch)
        if len(batch) >= size:
            delivered.set()

    store._commit = commit_and_tell
    return delivered


async def _running(engine: Engine, execution_id: str) -> bool:
    nodes = (await engine.get(execution_id)).nodes
    return any(n.id == "ask" and n.status == "running" for n in nodes)


async def _queued(jobs: Any, size: int) -> bool:
    return bool(jobs.qsize() == size)


async def _true(value: bool) -> bool:
    return value


def test_a_wait_going_on_beside_a_stuck_node_does_not_hide_it_from_hung_detection(
    store_url: str,
) -> None:
    """A wait launched again beside a node that never answers commits nothing new: the
    execution still made no progress, and is failed as hung."""
    with LoopbackServer() as server:
        wf = locked(f"""
name: stuck
nodes:
  stuck: {{http: {{url: "{server.url("/hold/stuck")}?timeout=120"}}}}
  ask: {{wait: {{signal: approve}}}}
""")

        async def main() -> Any:
            async with await Engine.open(
                store_url, slots=1, park_after=0, hung_after=1.0, name="w"
            ) as worker:
                eid = await worker.start(wf)
                async with asyncio.timeout(CEILING):
                    return await worker.wait(eid)

        try:
            finished = asyncio.run(main())
        finally:
            server.release("stuck")
    assert finished.status == "failed"
    assert finished.error is not None and finished.error["type"] == "hung"
