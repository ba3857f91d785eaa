"""Handover, on SQLite and PostgreSQL alike (the `store_url` fixture): an execution started on
worker engine A goes on to the right end on worker engine B once A is gone (issue 9: waits,
timers, signals, cancel, pause/resume, sub-workflows, foreach, repeat, hooks, retry-from-node,
hung detection and graceful shutdown keep working when the process that started an execution
is gone).

A goes away in one of three ways: it is killed (`crash`: its drivers stop without writing
anything and its lease is put in the past through a connection of the test's own, as
test_ownership.py's `expire` does), it drains (`close(grace=...)`), or it parks the execution
and closes. What a node did is counted by a real loopback HTTP server, so "a committed node
never runs twice" is a count, not a guess. Waits are on stored state, with a ceiling that only
guards a hang; nothing asserts a timing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from fuchsia import Engine, Execution
from support.httpserver import LoopbackServer
from support.stores import execute
from support.waiting import CEILING, locked, until


@pytest.fixture
def key() -> str:
    """A suffix that keeps this test's loopback paths apart from every other test's."""
    return uuid.uuid4().hex[:10]


# -- helpers ---------------------------------------------------------------------------------


async def crash(engine: Engine, url: str) -> None:
    """`engine` is gone as a killed process is: it claims and renews nothing more, its
    drivers stop without writing anything (their attempts stay `running` in the store), and
    its lease is in the past, so any worker may take what it held."""
    engine.heartbeat_every = 3600.0
    await engine._stop_claiming()
    tasks = list(engine._drivers.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    statement = "UPDATE owners SET lease_expires_at = 0 WHERE id = ?"
    assert await asyncio.to_thread(execute, url, statement, engine.identity.id) == 1


async def owned_by(engine: Engine, execution_id: str) -> bool:
    return (await engine.store.get_execution(execution_id)).owner == engine.identity.id


async def parked(engine: Engine, execution_id: str) -> bool:
    record = await engine.store.get_execution(execution_id)
    return record.parked_until is not None and record.owner is None


async def node_is(engine: Engine, execution_id: str, node_id: str, status: str) -> bool:
    return (await engine.get(execution_id)).node(node_id).status == status


def attempts(execution: Execution, node_id: str) -> list[tuple[str, str | None]]:
    return [(a.status, a.worker) for a in execution.node(node_id).attempts]


def called(loopback: LoopbackServer, path: str, times: int = 1) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return loopback.count(path) >= times

    return check


async def history(engine: Engine, execution_id: str) -> list[str]:
    return [e.type for e in await engine.events(execution_id)]


# -- a killed worker -------------------------------------------------------------------------


def test_a_node_committed_by_a_worker_that_is_gone_never_runs_again(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(f"""
name: chain
nodes:
  first: {{http: {{url: "{loopback.url(f"/ok/first-{key}")}"}}}}
  gate: {{after: first, http: {{url: "{loopback.url(f"/hold/gate-{key}")}"}}}}
  last: {{after: gate, http: {{url: "{loopback.url(f"/ok/last-{key}")}"}}}}
""")

    async def main() -> Execution:
        async with await Engine.open(store_url, slots=1, park_after=None, name="a") as a:
            eid = await a.start(wf)
            await until("A to call the gate", called(loopback, f"/hold/gate-{key}"))
            await crash(a, store_url)
            async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
                await until("B to take the execution", lambda: owned_by(b, eid))
                loopback.release(f"gate-{key}")
                return await b.wait(eid)

    finished = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert loopback.count(f"/ok/first-{key}") == 1  # committed on A: never called again
    assert loopback.count(f"/hold/gate-{key}") == 2  # A's lost call, and B's
    assert loopback.count(f"/ok/last-{key}") == 1
    assert attempts(finished, "first") == [("succeeded", "a")]
    assert attempts(finished, "gate") == [("interrupted", "a"), ("succeeded", "b")]
    assert attempts(finished, "last") == [("succeeded", "b")]


APPROVAL = """
name: approval
nodes:
  first: {{http: {{url: "{first}"}}}}
  ask: {{after: first, wait: {{signal: approve}}}}
  done: {{after: ask, transform: {{approved: "{{{{ data.ok }}}}"}}}}
"""


def test_a_signal_sent_while_nobody_holds_the_execution_is_taken_by_the_next_worker(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(APPROVAL.format(first=loopback.url(f"/ok/first-{key}")))

    async def main() -> tuple[Execution, list[str]]:
        async with await Engine.open(store_url, drives=False, name="front") as front:
            async with await Engine.open(store_url, slots=1, park_after=None, name="a") as a:
                eid = await a.start(wf)
                await until("A to wait", lambda: node_is(a, eid, "ask", "running"))
                await crash(a, store_url)
                await front.signal(eid, "approve", {"ok": True})  # A is gone, B not there
            async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
                return await b.wait(eid), await history(b, eid)

    finished, events = asyncio.run(main())
    assert finished.status == "completed" and finished.result == {"approved": True}
    assert loopback.count(f"/ok/first-{key}") == 1
    assert attempts(finished, "ask") == [("interrupted", "a"), ("succeeded", "b")]
    assert finished.node("ask").output == {"ok": True}
    assert events.count("node_succeeded") == 3


# -- timers ----------------------------------------------------------------------------------


def test_a_parked_timer_wakes_on_another_worker(store_url: str) -> None:
    wf = locked("""
name: timer
nodes:
  nap: {wait: {for: 2s}}
  done: {after: nap, transform: {woke: true}}
""")

    async def main() -> tuple[Execution, list[str]]:
        async with await Engine.open(store_url, slots=1, park_after=0, name="a") as a:
            eid = await a.start(wf)
            await until("A to park it", lambda: parked(a, eid))
        async with await Engine.open(store_url, slots=1, park_after=0, name="b") as b:
            return await b.wait(eid), await history(b, eid)

    finished, events = asyncio.run(main())
    assert finished.status == "completed" and finished.result == {"woke": True}
    assert attempts(finished, "nap") == [("succeeded", "a")]  # one attempt, started on A
    assert attempts(finished, "done") == [("succeeded", "b")]  # and its successor ran on B
    assert finished.node("nap").output["waited"] >= 2.0  # timed from A's start of it
    assert "execution_parked" in events and "node_interrupted" not in events


def test_a_retry_armed_by_a_worker_that_is_gone_is_run_by_the_next_one(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(f"""
name: flaky
nodes:
  call:
    http: {{url: "{loopback.url(f"/flaky/call-{key}")}?fail=1"}}
    retry: {{max_attempts: 2, backoff: fixed, initial_delay: 2s}}
""")

    async def main() -> Execution:
        async with await Engine.open(store_url, slots=1, park_after=None, name="a") as a:
            eid = await a.start(wf)
            await until("A to arm the retry", lambda: node_is(a, eid, "call", "retrying"))
            await crash(a, store_url)
            async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
                return await b.wait(eid)

    finished = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert loopback.count(f"/flaky/call-{key}") == 2
    assert attempts(finished, "call") == [("failed", "a"), ("succeeded", "b")]


def test_a_parked_execution_times_out_on_another_worker_at_its_deadline(store_url: str) -> None:
    wf = locked("""
name: deadline
timeout: 2s
nodes:
  ask: {wait: {signal: approve}}
""")

    async def main() -> Execution:
        async with await Engine.open(store_url, slots=1, park_after=0, name="a") as a:
            eid = await a.start(wf)
            await until("A to park it", lambda: parked(a, eid))
        async with await Engine.open(store_url, slots=1, park_after=0, name="b") as b:
            return await b.wait(eid)

    finished = asyncio.run(main())
    assert finished.status == "timed_out"
    assert [a.status for a in finished.node("ask").attempts] == ["timed_out"]


# -- controls --------------------------------------------------------------------------------


def test_a_cancel_reaches_an_execution_whose_first_worker_is_gone(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    gate = f"/hold/gate-{key}"
    wf = locked(f"""
name: cancelled
nodes:
  first: {{http: {{url: "{loopback.url(f"/ok/first-{key}")}"}}}}
  gate: {{after: first, http: {{url: "{loopback.url(gate)}?timeout=120"}}}}
  last: {{after: gate, http: {{url: "{loopback.url(f"/ok/last-{key}")}"}}}}
""")

    async def main() -> Execution:
        async with (
            await Engine.open(store_url, drives=False, name="front") as front,
            await Engine.open(store_url, slots=1, park_after=None, name="a") as a,
        ):
            eid = await a.start(wf)
            await until("A to call the gate", called(loopback, gate))
            await crash(a, store_url)
            async with await Engine.open(store_url, slots=1, name="b"):
                await until("B to call the gate again", called(loopback, gate, 2))
                cancelled = await front.cancel(eid)
        loopback.release(f"gate-{key}")
        return cancelled

    cancelled = asyncio.run(main())
    assert cancelled.status == "cancelled"
    assert attempts(cancelled, "gate") == [("interrupted", "a"), ("cancelled", "b")]
    assert cancelled.node("last").status == "cancelled"
    assert loopback.count(f"/ok/first-{key}") == 1 and loopback.count(f"/ok/last-{key}") == 0


def test_a_parked_execution_is_paused_and_resumed_by_whichever_worker_takes_it(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(APPROVAL.format(first=loopback.url(f"/ok/first-{key}")))

    async def main() -> tuple[Execution, Execution, Execution]:
        async with await Engine.open(store_url, drives=False, name="front") as front:
            async with await Engine.open(store_url, slots=1, park_after=0, name="a") as a:
                eid = await a.start(wf)
                await until("A to park it", lambda: parked(a, eid))
            await front.pause(eid)  # nobody holds it: the worker that takes it pauses
            async with await Engine.open(store_url, slots=1, park_after=0, name="b") as b:
                await until("B to pause it", lambda: _status(b, eid, "paused"))
                paused = await b.get(eid)
                await front.signal(eid, "approve", {"ok": True})
                await until("the wait to end", lambda: node_is(b, eid, "ask", "succeeded"))
                held = await b.get(eid)
                await front.resume([eid], wait=False)
                return paused, held, await b.wait(eid)

    paused, held, finished = asyncio.run(main())
    assert paused.status == "paused"
    assert held.status == "paused" and held.node("done").status == "pending"  # held back
    assert finished.status == "completed" and finished.result == {"approved": True}
    assert attempts(finished, "ask") == [("succeeded", "a")]  # parked on A, ended on B
    assert attempts(finished, "done") == [("succeeded", "b")]
    assert loopback.count(f"/ok/first-{key}") == 1


async def _status(engine: Engine, execution_id: str, status: str) -> bool:
    return (await engine.get(execution_id)).status == status


# -- sub-workflows, foreach, repeat, hooks ---------------------------------------------------


def test_a_sub_workflow_and_its_parent_go_on_on_another_worker(
    store_url: str, loopback: LoopbackServer, key: str, tmp_path: Path
) -> None:
    (tmp_path / "child.yaml").write_text("""
name: child
nodes:
  ask: {wait: {signal: approve}}
  done: {after: ask, transform: {child_ok: "{{ data.ok }}"}}
""")
    (tmp_path / "parent.yaml").write_text(f"""
name: parent
nodes:
  first: {{http: {{url: "{loopback.url(f"/ok/first-{key}")}"}}}}
  sub: {{after: first, workflow: {{path: child.yaml, inputs: {{}}}}}}
  after_sub: {{after: sub, transform: {{seen: "{{{{ data.child_ok }}}}"}}}}
""")

    async def main() -> tuple[Execution, list[Execution]]:
        async with await Engine.open(store_url, slots=2, park_after=None, name="a") as a:
            parent_id = await a.start(tmp_path / "parent.yaml")
            children: list[str] = []

            async def child_waits() -> bool:
                children[:] = [e.id for e in await a.list() if e.id != parent_id]
                return bool(children) and await node_is(a, children[0], "ask", "running")

            await until("the child to wait", child_waits)
            await crash(a, store_url)
            async with await Engine.open(store_url, slots=2, park_after=None, name="b") as b:
                await until("B to take the child", lambda: owned_by(b, children[0]))
                await b.signal(children[0], "approve", {"ok": True})
                finished = await b.wait(parent_id)
                listed = [await b.get(e.id) for e in await b.list() if e.id != parent_id]
        return finished, listed

    finished, children = asyncio.run(main())
    assert finished.status == "completed" and finished.result == {"seen": True}
    assert loopback.count(f"/ok/first-{key}") == 1
    assert [c.status for c in children] == ["completed"]  # the same child, not a second one
    assert attempts(finished, "sub") == [("interrupted", "a"), ("succeeded", "b")]
    assert attempts(children[0], "ask") == [("interrupted", "a"), ("succeeded", "b")]


def test_a_foreach_keeps_the_items_committed_before_its_worker_went(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(f"""
name: fan
nodes:
  each:
    foreach: {{items: "{{{{ ['a', 'b', 'c'] }}}}", concurrency: 3}}
    http:
      url: "{loopback.base_url}/{{{{ 'hold' if item == 'b' else 'ok' }}}}/i{{{{ item }}}}-{key}"
  total: {{after: each, transform: {{names: "{{{{ data | map(attribute='json') | map(attribute='name') | list }}}}"}}}}
""")  # noqa: E501

    async def main() -> tuple[Execution, list[tuple[str, str | None, int | None]]]:
        async with await Engine.open(store_url, slots=1, park_after=None, name="a") as a:
            eid = await a.start(wf)

            async def two_items_committed() -> bool:
                return (await history(a, eid)).count("node_succeeded") >= 2

            await until("A to call item b", called(loopback, f"/hold/ib-{key}"))
            await until("items a and c to commit", two_items_committed)
            await crash(a, store_url)
            async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
                await until("B to take it", lambda: owned_by(b, eid))
                loopback.release(f"ib-{key}")
                return await b.wait(eid), [(e.type, e.node_id, e.item) for e in await b.events(eid)]

    finished, events = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert finished.result == {"names": [f"ia-{key}", f"ib-{key}", f"ic-{key}"]}  # item order
    assert loopback.count(f"/ok/ia-{key}") == 1 and loopback.count(f"/ok/ic-{key}") == 1
    assert loopback.count(f"/hold/ib-{key}") == 2  # only the item in flight ran again
    interrupted = [(node, item) for kind, node, item in events if kind == "node_interrupted"]
    assert [u for u in interrupted if u[1] is not None] == [("each", 1)]  # of the items, b


def test_a_repeat_parked_between_iterations_keeps_its_count_on_another_worker(
    store_url: str,
) -> None:
    wf = locked("""
name: count
nodes:
  count:
    repeat: {until: "data.n >= 3", max_iterations: 10, delay: 2s}
    transform:
      n: "{{ (loop.previous.n if loop.previous else 0) + 1 }}"
      iteration: "{{ loop.iteration }}"
""")

    async def main() -> tuple[Execution, list[str]]:
        async with await Engine.open(store_url, slots=1, park_after=0.5, name="a") as a:
            eid = await a.start(wf)
            await until("A to park it after the first iteration", lambda: parked(a, eid))
        async with await Engine.open(store_url, slots=1, park_after=0.5, name="b") as b:
            return await b.wait(eid), await history(b, eid)

    finished, events = asyncio.run(main())
    assert finished.status == "completed", finished.error
    count = finished.node("count")
    assert count.output == {"n": 3, "iteration": 3}
    assert [(a.status, a.output["iteration"]) for a in count.attempts] == [
        ("succeeded", 1),
        ("succeeded", 2),
        ("succeeded", 3),
    ]
    assert count.attempts[0].worker == "a" and count.attempts[-1].worker == "b"
    assert "execution_parked" in events


def test_a_repeat_interrupted_mid_iteration_goes_on_from_that_iteration(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(f"""
name: poll
nodes:
  poll:
    repeat: {{until: "data.json.name == 'r3-{key}'", max_iterations: 10}}
    http:
      url: "{loopback.base_url}/{{{{ 'hold' if loop.iteration == 2 else 'ok' }}}}/r{{{{ loop.iteration }}}}-{key}"
""")  # noqa: E501

    async def main() -> Execution:
        async with await Engine.open(store_url, slots=1, park_after=None, name="a") as a:
            eid = await a.start(wf)
            await until("A to run iteration 2", called(loopback, f"/hold/r2-{key}"))
            await crash(a, store_url)
            async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
                await until("B to take it", lambda: owned_by(b, eid))
                loopback.release(f"r2-{key}")
                return await b.wait(eid)

    finished = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert loopback.counts(f"/ok/r1-{key}") == {f"/ok/r1-{key}": 1}  # not run again on B
    assert loopback.count(f"/hold/r2-{key}") == 2 and loopback.count(f"/ok/r3-{key}") == 1
    assert loopback.count(f"/ok/r4-{key}") == 0
    assert [a.status for a in finished.node("poll").attempts] == [
        "succeeded",
        "interrupted",
        "succeeded",
        "succeeded",
    ]


def test_a_hook_interrupted_with_its_worker_runs_once_more_for_the_stored_verdict(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(f"""
name: hooked
on_success: celebrate
on_failure: alert
nodes:
  work: {{http: {{url: "{loopback.url(f"/flaky/work-{key}")}?fail=9"}}}}
  celebrate: {{transform: {{said: yes}}}}
  alert:
    http: {{url: "{loopback.base_url}/hold/alert-{{{{ status }}}}-{key}?gate=alert-{key}"}}
""")

    async def main() -> Execution:
        async with await Engine.open(store_url, slots=1, park_after=None, name="a") as a:
            eid = await a.start(wf)
            await until("A to run the hook", called(loopback, f"/hold/alert-failed-{key}"))
            await crash(a, store_url)
            async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
                await until("B to take it", lambda: owned_by(b, eid))
                loopback.release(f"alert-{key}")
                return await b.wait(eid)

    finished = asyncio.run(main())
    assert finished.status == "failed"
    assert finished.error is not None and finished.error["node"] == "work"
    assert loopback.count(f"/flaky/work-{key}") == 1  # the failed node is not run again
    assert attempts(finished, "alert") == [("interrupted", "a"), ("succeeded", "b")]
    assert finished.node("alert").output["json"]["name"] == f"alert-failed-{key}"
    assert finished.node("celebrate").status == "skipped"


# -- retry from a node, hung detection, graceful shutdown ------------------------------------


def test_retry_from_a_node_on_another_worker_reuses_the_first_workers_outputs(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(f"""
name: again
nodes:
  first: {{http: {{url: "{loopback.url(f"/ok/first-{key}")}"}}}}
  second:
    after: first
    http: {{url: "{loopback.url(f"/flaky/second-{key}")}?fail=1"}}
""")

    async def main() -> tuple[Execution, Execution, list[str]]:
        async with await Engine.open(store_url, slots=1, park_after=None, name="a") as a:
            eid = await a.start(wf)
            failed = await a.wait(eid)
        async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
            again = await b.retry(eid, from_node="second")
            return failed, await b.wait(again), await history(b, again)

    failed, finished, events = asyncio.run(main())
    assert failed.status == "failed"
    assert finished.status == "completed", finished.error
    assert loopback.count(f"/ok/first-{key}") == 1  # reused, not called again
    assert loopback.count(f"/flaky/second-{key}") == 2
    assert finished.node("first").output == failed.node("first").output
    assert "node_reused" in events
    assert attempts(finished, "second") == [("succeeded", "b")]


def test_an_execution_stuck_after_its_worker_went_is_failed_as_hung_by_the_next(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    stuck = f"/hold/stuck-{key}"
    wf = locked(f"""
name: stuck
nodes:
  stuck: {{http: {{url: "{loopback.url(stuck)}?timeout=120"}}}}
""")

    async def main() -> Execution:
        async with await Engine.open(store_url, slots=1, park_after=None, name="a") as a:
            eid = await a.start(wf)
            await until("A to call", called(loopback, stuck))
            await crash(a, store_url)
            async with await Engine.open(store_url, slots=1, hung_after=0.5, name="b") as b:
                return await b.wait(eid)

    try:
        finished = asyncio.run(main())
    finally:
        loopback.release(f"stuck-{key}")
    assert finished.status == "failed"
    assert finished.error is not None and finished.error["type"] == "hung"
    assert loopback.count(stuck) == 2  # A's call, then B's, which never answered
    assert [a.worker for a in finished.node("stuck").attempts] == ["a", "b"]


def test_a_graceful_shutdown_finishes_running_nodes_and_leaves_the_rest_to_the_next_worker(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    gate = f"/hold/gate-{key}"
    wf = locked(f"""
name: drained
nodes:
  first: {{http: {{url: "{loopback.url(gate)}"}}}}
  second: {{after: first, http: {{url: "{loopback.url(f"/ok/second-{key}")}"}}}}
""")

    async def main() -> tuple[Execution, list[str]]:
        a = await Engine.open(store_url, slots=1, park_after=None, name="a")
        eid = await a.start(wf)
        await until("A to call the gate", called(loopback, gate))
        closing_a = asyncio.create_task(a.close(grace=CEILING))

        async def draining() -> bool:
            return bool(a._driving) and all(d.draining for d in a._driving.values())

        await until("A to drain", draining)
        loopback.release(f"gate-{key}")
        await closing_a
        async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
            return await b.wait(eid), await history(b, eid)

    finished, events = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert attempts(finished, "first") == [("succeeded", "a")]  # finished within the grace
    assert attempts(finished, "second") == [("succeeded", "b")]  # not started by a drain
    assert loopback.count(gate) == 1 and loopback.count(f"/ok/second-{key}") == 1
    assert "node_interrupted" not in events


def test_a_wait_left_by_a_draining_worker_is_finished_by_the_next_one(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    wf = locked(APPROVAL.format(first=loopback.url(f"/ok/first-{key}")))

    async def main() -> Execution:
        a = await Engine.open(store_url, slots=1, park_after=None, name="a")
        eid = await a.start(wf)
        await until("A to wait", lambda: node_is(a, eid, "ask", "running"))
        await a.close(grace=0.2)  # a wait does not end within a grace: it is stopped
        async with await Engine.open(store_url, slots=1, park_after=None, name="b") as b:
            await until("B to take it", lambda: owned_by(b, eid))
            await b.signal(eid, "approve", {"ok": False})
            return await b.wait(eid)

    finished = asyncio.run(main())
    assert finished.status == "completed" and finished.result == {"approved": False}
    assert loopback.count(f"/ok/first-{key}") == 1
    assert [a.status for a in finished.node("ask").attempts] == ["interrupted", "succeeded"]


def test_a_draining_worker_parks_a_wait_once_its_running_nodes_end(
    store_url: str, loopback: LoopbackServer, key: str
) -> None:
    """The drain lets the http call finish; the wait beside it then parks (nothing else is
    open), so the next worker finishes it as the same attempt, not an interrupted one."""
    gate = f"/hold/gate-{key}"
    wf = locked(f"""
name: drained
nodes:
  call: {{http: {{url: "{loopback.url(gate)}"}}}}
  ask: {{wait: {{signal: approve}}}}
  done: {{after: ask, transform: {{approved: "{{{{ data.ok }}}}"}}}}
""")

    async def main() -> tuple[Execution, list[str]]:
        a = await Engine.open(store_url, slots=1, park_after=0.2, name="a")
        eid = await a.start(wf)
        await until("A to call", called(loopback, gate))
        closing_a = asyncio.create_task(a.close(grace=CEILING))

        async def draining() -> bool:
            return bool(a._driving) and all(d.draining for d in a._driving.values())

        await until("A to drain", draining)
        loopback.release(f"gate-{key}")
        await closing_a
        async with await Engine.open(store_url, slots=1, park_after=0.2, name="b") as b:
            await b.signal(eid, "approve", {"ok": True})
            return await b.wait(eid), await history(b, eid)

    finished, events = asyncio.run(main())
    assert finished.status == "completed", finished.error
    assert finished.node("done").output == {"approved": True}
    assert attempts(finished, "call") == [("succeeded", "a")]
    assert attempts(finished, "ask") == [("succeeded", "a")]  # one attempt, ended on B
    assert attempts(finished, "done") == [("succeeded", "b")]
    assert "execution_parked" in events and "node_interrupted" not in events
