"""The memory store keeps what SQLite keeps: the same transitions applied to both give equal
records and events.

Timestamps the stores take from their own clock (creation, start, finish, an event's time,
an attempt started without one) are compared by where they come from: every timestamp the
transitions carry is a small number, every one a store's clock gives is now or later, and
those compare as `CLOCK`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fuchsia.errors import ExecutionNotFound, StoreError
from fuchsia.states import AttemptStatus, Control, ExecutionStatus, NodeStatus
from fuchsia.store import open_store
from fuchsia.store.memory import MemoryStore
from fuchsia.store.records import (
    AttemptWrite,
    Event,
    EventRecord,
    ExecutionRecord,
    ExecutionUpdate,
    NewExecution,
    NodeRecord,
    NodeWrite,
    Transition,
    UnitKey,
)
from support import machine
from support.machine import Machine

OWNER = "owner-a"
WORKFLOW_HASH = "sha256:" + "1" * 64

Stored = tuple[ExecutionRecord, dict[str, NodeRecord], list[EventRecord]]
# a step: a transition, a control request (`("request", id, control)`), a signal
# (`("signal", id, name, payload)`); each gives what the store answered, or the error's type
Step = Transition | tuple[Any, ...]


def new_execution(execution_id: str, **fields: Any) -> NewExecution:
    values: dict[str, Any] = {
        "id": execution_id,
        "workflow_hash": WORKFLOW_HASH,
        "workflow_name": "demo",
        "workflow_version": 1,
        "workflow_document": '{"name":"demo"}',
        "payload": {"n": [1, 2]},
        "context": {"tier": "gold"},
        "idempotency_key": None,
        "owner": OWNER,
    }
    values.update(fields)
    return NewExecution(**values)


async def play(store: Any, news: Sequence[NewExecution], steps: Sequence[Step]) -> list[Any]:
    """Create `news`, then run `steps` against `store`: what each answered."""
    answers: list[Any] = []
    for new in news:
        record, created = await store.create_execution(new)
        answers.append((record.id, created))
    for step in steps:
        try:
            if isinstance(step, Transition):
                answers.append(await store.apply(step))
            elif step[0] == "request":
                answers.append(await store.request(step[1], step[2]))
            elif step[0] == "signal":
                answers.append(await store.send_signal(step[1], step[2], step[3]))
            else:
                answers.append(await store.next_signal(step[1], step[2]))
        except (StoreError, ExecutionNotFound) as exc:
            answers.append(type(exc).__name__)
    return answers


CLOCK = -1.0  # a timestamp a store's clock gave, as compared here


def stamped(since: float) -> Callable[[float | None], Any]:
    """A timestamp as compared here: its value when a transition carried it, `CLOCK` when
    the store's clock gave it."""
    return lambda at: at if at is None or at < since else CLOCK


async def stored(store: Any, execution_id: str, since: float) -> Stored:
    at = stamped(since)
    record = await store.get_execution(execution_id)
    record = replace(
        record,
        created_at=at(record.created_at),
        started_at=at(record.started_at),
        finished_at=at(record.finished_at),
    )

    def unit(node: NodeRecord) -> NodeRecord:
        return replace(
            node,
            attempts=[
                replace(a, started_at=at(a.started_at), finished_at=at(a.finished_at))
                for a in node.attempts
            ],
            items={index: unit(item) for index, item in node.items.items()},
        )

    nodes = {key: unit(node) for key, node in (await store.get_nodes(execution_id)).items()}
    events = [replace(e, at=at(e.at)) for e in await store.get_events(execution_id)]
    return record, nodes, events


def both(
    tmp_path: Path, news: Sequence[NewExecution], steps: Sequence[Step]
) -> tuple[tuple[list[Any], list[Stored]], tuple[list[Any], list[Stored]]]:
    """(answers, stored records of each execution) from SQLite, then from memory."""
    since = time.time()

    def ids(answers: list[Any]) -> list[str]:  # the executions created, once each
        return list(dict.fromkeys(execution_id for execution_id, _ in answers[: len(news)]))

    async def on_sqlite() -> tuple[list[Any], list[Stored]]:
        store = open_store(str(tmp_path / "conformance.db"))
        await store.open()
        try:
            answers = await play(store, news, steps)
            return answers, [await stored(store, i, since) for i in ids(answers)]
        finally:
            await store.close()

    async def in_memory() -> tuple[list[Any], list[Stored]]:
        store = MemoryStore()
        answers = await play(store, news, steps)
        return answers, [await stored(store, i, since) for i in ids(answers)]

    return asyncio.run(on_sqlite()), asyncio.run(in_memory())


def test_every_write_of_a_transition_is_stored_as_sqlite_stores_it(tmp_path: Path) -> None:
    x, y = "exec-x", "exec-y"
    steps: list[Step] = [
        Transition(
            x,
            OWNER,
            ExecutionUpdate(status=ExecutionStatus.RUNNING, started=True, context={"a": 1}),
            nodes=[
                NodeWrite("a", NodeStatus.RUNNING, 1),
                NodeWrite("b", NodeStatus.RUNNING, 1, item=0),
            ],
            attempts=[
                AttemptWrite("a", 1, AttemptStatus.RUNNING, inputs={"q": "x"}, started_at=10.0),
                AttemptWrite("b", 1, AttemptStatus.RUNNING, item=0),  # started on the store's clock
            ],
            events=[Event("execution_running"), Event("node_running", "a", {"attempt": 1})],
            worker="w1",
        ),
        # the signal a wait consumes, and another execution's events in between
        ("signal", x, "go", {"ok": True}),
        ("signal", x, "go", None),
        Transition(y, OWNER, events=[Event("execution_running")]),
        # a finish without inputs keeps the stored ones; the start time stays the first one
        Transition(
            x,
            OWNER,
            ExecutionUpdate(context={"a": 2}, settled={"status": "completed", "error": None}),
            nodes=[
                NodeWrite("a", NodeStatus.SUCCEEDED, 1),
                NodeWrite("b", NodeStatus.RETRYING, 1, ready_at=15.0, error={"m": "x"}, item=0),
            ],
            attempts=[
                AttemptWrite(
                    "a",
                    1,
                    AttemptStatus.SUCCEEDED,
                    output=[1, "two"],
                    started_at=99.0,
                    finished_at=11.0,
                ),
                AttemptWrite(
                    "b",
                    1,
                    AttemptStatus.FAILED,
                    inputs={"i": 0},
                    error={"m": "x"},
                    finished_at=12.0,
                    item=0,
                ),
            ],
            events=[
                Event("node_succeeded", "a", {"attempt": 1}),
                Event("node_retrying", "b", item=0),
            ],
            consumed=[(1, UnitKey("a"))],
            worker="w2",  # finishing them: they stay w1's
        ),
        ("next", x, "go"),
        # a status left as it is, an error kept when the update carries none
        Transition(x, OWNER, ExecutionUpdate(error={"type": "e", "message": "m"})),
        Transition(x, OWNER, ExecutionUpdate(started=True, result={"r": 1})),  # no has_result
        # refused whole: another owner, no such execution, an attempt without a node run, a
        # value that is not JSON
        Transition(x, "owner-b", events=[Event("lost")]),
        Transition("exec-none", OWNER),
        Transition(
            x,
            OWNER,
            ExecutionUpdate(status=ExecutionStatus.FAILED),
            nodes=[NodeWrite("a", NodeStatus.FAILED, 1)],
            attempts=[AttemptWrite("ghost", 1, AttemptStatus.RUNNING, started_at=1.0)],
            events=[Event("never")],
        ),
        Transition(
            x,
            OWNER,
            nodes=[NodeWrite("a", NodeStatus.FAILED, 1)],
            events=[Event("bad", data={"value": object()})],
        ),
        # controls: a cancel stays until it is carried out; a finished execution takes none
        ("request", x, Control.PAUSE),
        ("request", x, Control.CANCEL),
        ("request", x, Control.RESUME),
        ("request", "exec-none", Control.CANCEL),
        Transition(
            x,
            OWNER,
            ExecutionUpdate(
                status=ExecutionStatus.COMPLETED,
                result={"sum": 3},
                has_result=True,
                finished=True,
            ),
            nodes=[NodeWrite("b", NodeStatus.SUCCEEDED, 2, item=0)],
            attempts=[
                AttemptWrite("b", 2, AttemptStatus.SUCCEEDED, started_at=13.0, item=0),
                AttemptWrite("b", 2, AttemptStatus.SUCCEEDED, output=7, finished_at=14.0, item=0),
            ],
            events=[Event("execution_completed", data=None)],
        ),
        ("request", x, Control.CANCEL),
        # a result written as None (has_result) clears it
        Transition(y, OWNER, ExecutionUpdate(result=None, has_result=True, finished=True)),
    ]
    news = [
        new_execution(x),
        new_execution(y, payload=None, context={}, idempotency_key="k"),
        new_execution("exec-z", idempotency_key="k"),  # the same key: y, not created
        new_execution(x),  # the same id again: the request that created it
    ]
    sqlite, memory = both(tmp_path, news, steps)
    assert memory == sqlite
    answers, ((record, nodes, events), (other, _, _)) = memory
    # what the sequence was built to reach, so that the comparison above covers it
    assert answers[:4] == [(x, True), (y, True), (y, False), (x, True)]
    assert answers[4:] == [
        *(None, 1, 2, None, None, (2, None), None, None),
        *("OwnershipLost", "ExecutionNotFound", "StoreError", "StoreError"),
        *(True, True, False, False),  # the resume does not replace the cancel
        *(None, False, None),  # a finished execution takes no request
    ]
    assert record.status == ExecutionStatus.COMPLETED and record.control == Control.CANCEL
    assert record.result == {"sum": 3} and record.error == {"type": "e", "message": "m"}
    assert record.context == {"a": 2} and record.started_at == CLOCK
    assert nodes["a"].attempts[0].inputs == {"q": "x"} and nodes["a"].output == [1, "two"]
    assert nodes["a"].attempts[0].started_at == 10.0
    item = nodes["b"].items[0]  # its node has no row of its own here
    assert [a.status for a in item.attempts] == ["failed", "succeeded"]
    assert item.attempts[0].started_at == CLOCK and item.output == 7
    assert [e.seq for e in events] == [1, 2, 4, 5, 6]  # seq 3 is the other execution's
    assert other.result is None and other.finished_at == CLOCK


def test_the_memory_store_stores_what_its_clock_reads() -> None:
    now = [50.0]
    store = MemoryStore(clock=lambda: now[0])

    async def main() -> tuple[ExecutionRecord, dict[str, NodeRecord], list[EventRecord]]:
        await store.create_execution(new_execution("e"))
        now[0] = 60.0
        await store.apply(
            Transition(
                "e",
                OWNER,
                ExecutionUpdate(started=True),
                nodes=[NodeWrite("a", NodeStatus.RUNNING, 1)],
                attempts=[AttemptWrite("a", 1, AttemptStatus.RUNNING)],
                events=[Event("execution_running")],
            )
        )
        now[0] = 70.0
        await store.apply(Transition("e", OWNER, ExecutionUpdate(started=True, finished=True)))
        return (
            await store.get_execution("e"),
            await store.get_nodes("e"),
            await store.get_events("e"),
        )

    record, nodes, events = asyncio.run(main())
    assert (record.created_at, record.started_at, record.finished_at) == (50.0, 60.0, 70.0)
    assert nodes["a"].attempts[0].started_at == 60.0
    assert [e.at for e in events] == [60.0]


def test_a_read_is_a_copy_never_the_stored_value() -> None:
    store = MemoryStore()
    output = {"list": [1]}

    async def main() -> dict[str, NodeRecord]:
        await store.create_execution(new_execution("e"))
        await store.apply(
            Transition(
                "e",
                OWNER,
                nodes=[NodeWrite("a", NodeStatus.SUCCEEDED, 1)],
                attempts=[AttemptWrite("a", 1, AttemptStatus.SUCCEEDED, output=output)],
            )
        )
        output["list"].append(2)
        (await store.get_nodes("e"))["a"].output["list"].append(3)
        return await store.get_nodes("e")

    assert asyncio.run(main())["a"].output == {"list": [1]}


def test_a_missing_execution_is_not_found() -> None:
    with pytest.raises(ExecutionNotFound):
        asyncio.run(MemoryStore().get_execution("nope"))


RETRIED = """\
    name: retried
    on_failure: alert
    nodes:
      a: {transform: 1}
      b: {after: a, transform: 2, retry: {max_attempts: 3, initial_delay: 2s}}
      alert: {transform: 3}
    """
MAPPED = """\
    name: mapped
    nodes:
      each:
        foreach: {items: "{{ [1, 2, 3] }}", concurrency: 2}
        transform: 1
        on_error: continue
      done: {after: each, transform: 2}
    """


def test_the_machines_transitions_store_the_same_in_both(tmp_path: Path) -> None:
    """What the execution machine commits for a retry, a hook and a foreach, applied to
    SQLite and to memory alike."""
    retried = Machine.of(RETRIED, {"x": 1})
    retried.begin()
    retried.succeed("a", {"a": 1}, logs=[{"stream": "stdout", "line": "hi"}])
    retried.fail("b")
    retried.due("b")
    retried.fail("b", retryable=False)
    retried.succeed("alert", {"alerted": True})
    mapped = Machine.of(MAPPED)
    mapped.render["each"] = [1, 2, 3]
    mapped.begin()
    mapped.succeed("each[0]", 10)
    mapped.fail("each[1]", retryable=False)
    mapped.succeed("each[2]", 30)
    mapped.succeed("done", "ok")
    runs = [("exec-r", retried), ("exec-m", mapped)]
    news = [new_execution(i, context={}, owner=machine.OWNER) for i, _ in runs]
    steps = [replace(entry.decision.commit, execution_id=i) for i, m in runs for entry in m.journal]
    sqlite, memory = both(tmp_path, news, steps)
    assert memory == sqlite
    answers, ((r, r_nodes, _), (m, m_nodes, _)) = memory
    assert answers[2:] == [None] * len(steps)
    assert (r.status, m.status) == ("failed", "completed_with_errors")
    assert r_nodes["alert"].output == {"alerted": True} and m_nodes["each"].output[0] == 10
