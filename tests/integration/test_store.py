"""The Store interface, run against SQLite and PostgreSQL alike (the `store_url` fixture).

Every test is a plain function that drives the async store with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from fuchsia.errors import ArtifactNotFound, ExecutionNotFound, StoreError
from fuchsia.states import AttemptStatus, ExecutionStatus, NodeStatus
from fuchsia.store import OwnershipLost, SqlStore, open_store
from fuchsia.store.base import migrations
from fuchsia.store.cipher import Keyring
from fuchsia.store.records import (
    ArtifactRef,
    AttemptWrite,
    Event,
    ExecutionUpdate,
    KvChanges,
    NewExecution,
    NodeWrite,
    OwnerRecord,
    PendingArtifact,
    Transition,
    new_id,
)
from support.stores import with_store
from support.waiting import CEILING, until

OWNER = "owner-a"
WORKFLOW_HASH = "sha256:" + "0" * 64


# -- helpers ---------------------------------------------------------------------------------


def new_execution(**fields: Any) -> NewExecution:
    values: dict[str, Any] = {
        "id": new_id(),
        "workflow_hash": WORKFLOW_HASH,
        "workflow_name": "demo",
        "workflow_version": 3,
        "workflow_document": '{"name":"demo"}',
        "payload": {"n": 1},
        "context": {},
        "idempotency_key": None,
        "owner": OWNER,
    }
    values.update(fields)
    return NewExecution(**values)


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one SQL statement on the store's database, outside the store."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as pg:
            return pg.execute(sql).fetchall()
    with closing(sqlite3.connect(url)) as lite:
        return lite.execute(sql).fetchall()


def backend(url: str) -> str:
    return "postgres" if url.startswith("postgresql://") else "sqlite"


def node_transition(execution_id: str, node_id: str, owner: str | None = OWNER) -> Transition:
    """A node that ran and succeeded, with its attempt and an event."""
    return Transition(
        execution_id,
        owner,
        nodes=[NodeWrite(node_id, NodeStatus.SUCCEEDED, 1)],
        attempts=[
            AttemptWrite(
                node_id,
                1,
                AttemptStatus.SUCCEEDED,
                inputs={"node": node_id},
                output={"node": node_id},
                finished_at=time.time(),
            )
        ],
        events=[Event("node_succeeded", node_id)],
    )


@asynccontextmanager
async def writer_held(store: SqlStore) -> AsyncIterator[None]:
    """Keep the store's writer thread busy: the writes queued meanwhile form one batch."""
    started, gate = threading.Event(), threading.Event()

    def block(_: Any) -> None:
        started.set()
        gate.wait()

    blocker = asyncio.ensure_future(store._write(block))
    await asyncio.to_thread(started.wait)
    try:
        yield
        await asyncio.sleep(0)  # let the tasks the body created queue their writes
    finally:
        gate.set()
        await blocker


# -- opening and migrations ------------------------------------------------------------------


def test_open_applies_every_migration_once_and_reopening_keeps_data(store_url: str) -> None:
    created = with_store(store_url, lambda s: s.create_execution(new_execution()))
    record, _ = created
    again = with_store(store_url, lambda s: s.get_execution(record.id))

    assert again == record
    expected = [(version, name) for version, name, _ in migrations(backend(store_url))]
    assert expected and expected[0][0] == 1
    rows = query(store_url, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert rows == expected


def execute(url: str, *statements: str) -> None:
    """Run SQL statements on the store's database, outside the store, in one transaction."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as pg:
            for sql in statements:
                pg.execute(sql.encode())  # bytes: no placeholders are parsed
        return
    with closing(sqlite3.connect(url)) as lite, lite:
        for sql in statements:
            lite.execute(sql)


def test_migration_0016_splits_item_keys(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store written before items had their own column keyed them `node[3]`: migrating
    splits those rows into (node, item), and the store reads and writes them by item; an
    item's value sealed then (bound to `node[3]`) still opens."""
    import fuchsia.store.postgres
    import fuchsia.store.sqlite

    # every migration but 0016 (the later ones touch other columns, which the store's reads
    # name): the store as it was before items had a column
    for module in (fuchsia.store.sqlite, fuchsia.store.postgres):
        monkeypatch.setattr(
            module, "migrations", lambda b: [m for m in migrations(b) if m[0] != 16]
        )
    assert [m[1] for m in migrations(backend(store_url)) if m[0] == 16] == ["0016_items.sql"]
    record, _ = with_store(store_url, lambda s: s.create_execution(new_execution()))
    monkeypatch.undo()
    eid = record.id
    keys = Keyring((("k1", hashlib.sha256(b"k1").digest()),))
    sealed = keys.seal_text("24", ("attempts", eid, "each[12]", "1", "output"))
    execute(
        store_url,
        "INSERT INTO node_runs (execution_id, node_id, status, attempts, ready_at, error, "
        f"updated_at) VALUES ('{eid}', 'a', 'succeeded', 1, NULL, NULL, 1.0), "
        f"('{eid}', 'each', 'running', 1, NULL, NULL, 1.0), "
        f"""('{eid}', 'each[3]', 'retrying', 1, 99.5, '{{"m": "x"}}', 1.0), """
        f"('{eid}', 'each[12]', 'succeeded', 1, NULL, NULL, 1.0)",
        "INSERT INTO attempts (execution_id, node_id, number, status, inputs, output, "
        f"started_at) VALUES ('{eid}', 'a', 1, 'succeeded', NULL, '[1]', 1.0), "
        f"""('{eid}', 'each', 1, 'running', '{{"items": [1, 2]}}', NULL, 1.0), """
        f"('{eid}', 'each[3]', 1, 'failed', '3', NULL, 1.0), "
        f"('{eid}', 'each[12]', 1, 'succeeded', '12', '{sealed}', 1.0)",
        "INSERT INTO events (execution_id, node_id, type, data, at) VALUES "
        f"('{eid}', NULL, 'execution_running', NULL, 1.0), "
        f"('{eid}', 'each', 'node_running', NULL, 1.0), "
        f"('{eid}', 'each[3]', 'node_retrying', NULL, 1.0)",
    )

    async def body(store: SqlStore) -> Any:
        nodes = await store.get_nodes(eid)
        events = await store.get_events(eid)
        # written by item after the migration: the item's row is updated, not doubled
        await store.apply(
            Transition(
                eid,
                OWNER,
                nodes=[NodeWrite("each", NodeStatus.RUNNING, 2, item=3)],
                attempts=[AttemptWrite("each", 2, AttemptStatus.RUNNING, item=3)],
            )
        )
        return nodes, events, await store.get_nodes(eid)

    async def keyed() -> Any:
        store = open_store(store_url)
        store.keyring = keys
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    nodes, events, after = asyncio.run(keyed())
    assert set(nodes) == {"a", "each"} and nodes["a"].output == [1] and not nodes["a"].items
    each = nodes["each"]
    assert (each.status, each.item, sorted(each.items)) == ("running", None, [3, 12])
    three, twelve = each.items[3], each.items[12]
    assert (three.node_id, three.item, three.status, three.ready_at) == (
        "each",
        3,
        "retrying",
        99.5,
    )
    assert three.error == {"m": "x"} and [a.status for a in three.attempts] == ["failed"]
    assert twelve.output == 24 and twelve.attempts[0].inputs == 12
    assert [(e.node_id, e.item, e.type) for e in events] == [
        (None, None, "execution_running"),
        ("each", None, "node_running"),
        ("each", 3, "node_retrying"),
    ]
    assert [a.number for a in after["each"].items[3].attempts] == [1, 2]
    assert after["each"].items[3].status == "running"
    rows = query(store_url, "SELECT node_id, item FROM node_runs ORDER BY node_id, item")
    assert rows == [("a", -1), ("each", -1), ("each", 3), ("each", 12)]


def test_unsupported_url_scheme_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported store URL"):
        open_store("mysql://localhost/fuchsia")


def test_sqlite_url_accepts_synchronous_normal(tmp_path: Path) -> None:
    path = tmp_path / "normal.db"
    store = open_store(f"sqlite:///{path}?synchronous=normal")  # absolute: sqlite:////...
    assert getattr(store, "synchronous", None) == "normal"

    async def main() -> Any:
        await store.open()
        try:
            record, _ = await store.create_execution(new_execution())
            return await store.get_execution(record.id)
        finally:
            await store.close()

    assert asyncio.run(main()).workflow_name == "demo"
    assert path.exists()


@pytest.mark.parametrize("query_string", ["?journal=delete", "?synchronous=off"])
def test_sqlite_url_rejects_unknown_options_and_values(tmp_path: Path, query_string: str) -> None:
    with pytest.raises(StoreError):
        open_store(f"sqlite:///{tmp_path / 'x.db'}{query_string}")


def test_writing_to_a_closed_store_is_a_store_error(store_url: str) -> None:
    async def main() -> None:
        store = open_store(store_url)
        await store.open()
        await store.close()
        with pytest.raises(StoreError, match="not open"):
            await store.kv_set("s", "k", "v")

    asyncio.run(main())


# -- executions ------------------------------------------------------------------------------


def test_created_execution_round_trips_payload_context_and_workflow(store_url: str) -> None:
    payload = {"text": "grüße ✓", "n": 1.5, "list": [1, None, True], "nested": {"a": {"b": []}}}
    context = {"env": "test", "numbers": [1, 2, 3]}
    new = new_execution(payload=payload, context=context)

    async def body(store: SqlStore) -> Any:
        record, created = await store.create_execution(new)
        return (
            record,
            created,
            await store.get_execution(new.id),
            await store.get_workflow(WORKFLOW_HASH),
        )

    record, created, fetched, document = with_store(store_url, body)
    assert created is True
    assert fetched == record
    assert (record.id, record.payload, record.context) == (new.id, payload, context)
    assert (record.workflow_name, record.workflow_version, record.workflow_hash) == (
        "demo",
        3,
        WORKFLOW_HASH,
    )
    assert (record.status, record.owner, record.idempotency_key) == ("pending", OWNER, None)
    assert record.result is None and record.error is None
    assert record.started_at is None and record.finished_at is None
    assert record.created_at > 0
    assert document == '{"name":"demo"}'


def test_the_record_a_create_returns_is_the_one_a_read_returns(store_url: str) -> None:
    """`create_execution` builds the record it stored rather than reading it back: every
    field is what a read gives, values through their JSON (a tuple is a list, an int key
    a string), the trace and parent as written."""
    new = new_execution(
        payload={"t": (1, 2), 3: "three", "f": 0.1},
        context={"k": [None]},
        parent_id="parent-1",
        idempotency_key="key-1",
        trace_id="0" * 31 + "1",
        trace_parent="0" * 15 + "2",
        trace_link="00-" + "0" * 31 + "1-" + "0" * 15 + "3-01",
    )

    async def body(store: SqlStore) -> Any:
        record, created = await store.create_execution(new)
        return record, created, await store.get_execution(new.id)

    record, created, fetched = with_store(store_url, body)
    assert created is True
    assert record == fetched
    assert record.payload == {"t": [1, 2], "3": "three", "f": 0.1}


def test_unknown_execution_and_workflow_are_errors(store_url: str) -> None:
    async def body(store: SqlStore) -> None:
        with pytest.raises(ExecutionNotFound):
            await store.get_execution("nope")
        with pytest.raises(StoreError, match="no locked workflow"):
            await store.get_workflow("sha256:missing")
        assert await store.get_nodes("nope") == {}
        assert await store.get_events("nope") == []

    with_store(store_url, body)


def test_idempotency_key_returns_the_existing_execution(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        first, created_first = await store.create_execution(
            new_execution(idempotency_key="order-42", payload={"try": 1})
        )
        second, created_second = await store.create_execution(
            new_execution(idempotency_key="order-42", payload={"try": 2})
        )
        # the same key twice in one group-committed batch: still one execution
        racing = await asyncio.gather(
            *(store.create_execution(new_execution(idempotency_key="order-43")) for _ in range(5))
        )
        return first, created_first, second, created_second, racing, await store.list_executions()

    first, created_first, second, created_second, racing, listed = with_store(store_url, body)
    assert created_first is True and created_second is False
    assert second == first and second.payload == {"try": 1}
    assert [created for _, created in racing].count(True) == 1
    assert len({record.id for record, _ in racing}) == 1
    assert len(listed) == 2


def test_idempotency_key_committed_by_another_writer_meanwhile_returns_that_execution(
    fresh_pg_url: str,
) -> None:
    """Another process commits the same key after our look-up but before our insert: we
    must get its execution back, not a 'created' id that was never written."""
    url = fresh_pg_url
    theirs = new_execution(idempotency_key="shared-key")

    async def body(store: SqlStore) -> Any:
        await store.create_execution(new_execution())  # the workflow row exists, committed
        with psycopg.connect(url) as other, psycopg.connect(url, autocommit=True) as watch:
            other.execute(
                "INSERT INTO executions (id, workflow_hash, workflow_name, workflow_version, "
                "status, payload, context, idempotency_key, owner, created_at, updated_at) "
                "VALUES (%s, %s, 'demo', 3, 'pending', '{}', '{}', %s, 'owner-b', 0, 0)",
                (theirs.id, WORKFLOW_HASH, theirs.idempotency_key),
            )
            ours = asyncio.ensure_future(
                store.create_execution(new_execution(idempotency_key="shared-key"))
            )
            deadline = time.monotonic() + 30
            while not watch.execute(  # wait until our insert waits on their row lock
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            ).fetchall():
                assert time.monotonic() < deadline, "our insert never blocked on theirs"
                await asyncio.sleep(0.01)
            other.commit()
        return await ours

    record, created = with_store(url, body)
    assert (record.id, created) == (theirs.id, False)


def test_list_executions_is_newest_first_with_limit_and_status_filter(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        ids = [(await store.create_execution(new_execution()))[0].id for _ in range(4)]
        await store.apply(
            Transition(ids[1], OWNER, execution=ExecutionUpdate(status=ExecutionStatus.RUNNING))
        )
        await store.apply(
            Transition(ids[2], OWNER, execution=ExecutionUpdate(status=ExecutionStatus.RUNNING))
        )
        return (
            ids,
            await store.list_executions(),
            await store.list_executions(limit=2),
            await store.list_executions(status=ExecutionStatus.RUNNING),
            await store.list_executions(status=ExecutionStatus.COMPLETED),
        )

    ids, everything, two, running, completed = with_store(store_url, body)
    assert [r.id for r in everything] == ids[::-1]
    assert [r.id for r in two] == [ids[3], ids[2]]
    assert [r.id for r in running] == [ids[2], ids[1]]
    assert all(r.status == "running" for r in running)
    assert completed == []


def test_resolve_id_by_unique_prefix(store_url: str) -> None:
    ids = ["aaaa1111" + "0" * 18, "aaaa2222" + "0" * 18, "bbbb3333" + "0" * 18]

    async def body(store: SqlStore) -> None:
        for execution_id in ids:
            await store.create_execution(new_execution(id=execution_id))
        assert await store.resolve_id("aaaa1") == ids[0]
        assert await store.resolve_id("b") == ids[2]
        assert await store.resolve_id(ids[1]) == ids[1]
        with pytest.raises(StoreError, match="several executions"):
            await store.resolve_id("aaaa")
        with pytest.raises(ExecutionNotFound):
            await store.resolve_id("cccc")
        with pytest.raises(ExecutionNotFound):
            await store.resolve_id(ids[0] + "0")

    with_store(store_url, body)


# -- transitions -----------------------------------------------------------------------------


def test_apply_writes_nodes_attempts_events_and_execution_state(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution())
        eid = record.id
        await store.apply(
            Transition(
                eid,
                OWNER,
                execution=ExecutionUpdate(
                    status=ExecutionStatus.RUNNING, started=True, context={"step": 1}
                ),
                nodes=[
                    NodeWrite("fetch", NodeStatus.RUNNING, 1),
                    NodeWrite("parse", NodeStatus.PENDING, 0),
                ],
                attempts=[
                    AttemptWrite(
                        "fetch", 1, AttemptStatus.RUNNING, inputs={"url": "https://x.test"}
                    )
                ],
                events=[Event("execution_started"), Event("node_started", "fetch", {"attempt": 1})],
            )
        )
        running = await store.get_execution(eid)
        await store.apply(
            Transition(
                eid,
                OWNER,
                nodes=[
                    NodeWrite("fetch", NodeStatus.SUCCEEDED, 1),
                    NodeWrite("parse", NodeStatus.READY, 0, ready_at=5.0),
                ],
                attempts=[
                    AttemptWrite(
                        "fetch",
                        1,
                        AttemptStatus.SUCCEEDED,
                        output={"body": "ok"},
                        finished_at=time.time(),
                    )
                ],
                events=[Event("node_succeeded", "fetch")],
            )
        )
        await store.apply(
            Transition(
                eid,
                OWNER,
                execution=ExecutionUpdate(
                    status=ExecutionStatus.COMPLETED,
                    has_result=True,
                    result=[1, "two"],
                    finished=True,
                ),
                nodes=[NodeWrite("parse", NodeStatus.FAILED, 1, error={"type": "boom"})],
                attempts=[
                    AttemptWrite(
                        "parse",
                        1,
                        AttemptStatus.FAILED,
                        inputs={"body": "ok"},
                        error={"type": "boom"},
                        finished_at=time.time(),
                    )
                ],
                events=[
                    Event("node_failed", "parse", {"type": "boom"}),
                    Event("execution_completed"),
                ],
            )
        )
        return (
            running,
            await store.get_execution(eid),
            await store.get_nodes(eid),
            await store.get_events(eid),
        )

    running, done, nodes, events = with_store(store_url, body)
    assert running.status == "running" and running.started_at is not None
    assert running.context == {"step": 1} and running.finished_at is None

    assert done.status == "completed" and done.result == [1, "two"]
    assert done.context == {"step": 1}  # an update without a context keeps it
    assert done.started_at == running.started_at
    assert done.finished_at is not None and done.finished_at >= done.started_at

    assert set(nodes) == {"fetch", "parse"}
    fetch, parse = nodes["fetch"], nodes["parse"]
    assert (fetch.status, fetch.error, len(fetch.attempts)) == ("succeeded", None, 1)
    attempt = fetch.attempts[0]
    assert attempt.number == 1 and attempt.status == "succeeded"
    assert attempt.inputs == {"url": "https://x.test"}  # kept when the finish omits them
    assert attempt.output == {"body": "ok"} and attempt.error is None
    assert attempt.finished_at is not None and attempt.finished_at >= attempt.started_at
    assert fetch.output == {"body": "ok"}
    assert (parse.status, parse.error, parse.ready_at) == ("failed", {"type": "boom"}, None)
    assert parse.attempts[0].error == {"type": "boom"} and parse.output is None
    # read back as the states' enums, not bare strings
    assert type(done.status) is ExecutionStatus and done.status is ExecutionStatus.COMPLETED
    assert type(fetch.status) is NodeStatus and type(attempt.status) is AttemptStatus

    assert [(e.type, e.node_id) for e in events] == [
        ("execution_started", None),
        ("node_started", "fetch"),
        ("node_succeeded", "fetch"),
        ("node_failed", "parse"),
        ("execution_completed", None),
    ]
    assert events[1].data == {"attempt": 1} and events[0].data is None
    assert [e.seq for e in events] == sorted({e.seq for e in events})
    assert {e.execution_id for e in events} == {done.id}


def test_list_executions_by_workflow_pages_by_id_with_or_without_a_status(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        ids = []
        for n in range(5):
            name = "orders" if n % 2 == 0 else "other"
            ids.append((await store.create_execution(new_execution(workflow_name=name)))[0].id)
        await store.apply(
            Transition(ids[2], OWNER, execution=ExecutionUpdate(status=ExecutionStatus.RUNNING))
        )
        first = await store.list_executions(workflow="orders", limit=2)
        rest = await store.list_executions(workflow="orders", limit=2, before=first[-1].id)
        running = await store.list_executions(workflow="orders", status="running")
        return ids, first, rest, running, await store.list_executions(workflow="nobody")

    ids, first, rest, running, nobody = with_store(store_url, body)
    assert [r.id for r in first] == [ids[4], ids[2]]
    assert [r.id for r in rest] == [ids[0]]
    assert [r.id for r in running] == [ids[2]]
    assert nobody == []


def test_children_error_counts_and_the_newest_events_and_log_lines(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        parent, _ = await store.create_execution(new_execution())
        kids = [
            (await store.create_execution(new_execution(parent_id=parent.id)))[0].id
            for _ in range(3)
        ]
        await store.apply(
            Transition(kids[0], OWNER, execution=ExecutionUpdate(status=ExecutionStatus.FAILED))
        )
        failed = Transition(
            parent.id,
            OWNER,
            nodes=[
                NodeWrite("a", NodeStatus.FAILED, 1),
                NodeWrite("each", NodeStatus.RUNNING, 1),
                NodeWrite("each", NodeStatus.TIMED_OUT, 1, item=3),
                NodeWrite("each", NodeStatus.SUCCEEDED, 1, item=4),
            ],
        )
        await store.apply(failed)
        # a log line of node `a`, then more events of the run than a page lists
        await store.apply(Transition(parent.id, OWNER, events=[Event("log", "a", {"n": 0})]))
        await store.apply(
            Transition(parent.id, OWNER, events=[Event(f"e{n}", "b") for n in range(10)])
        )
        return (
            parent.id,
            kids,
            await store.children(parent.id),
            await store.children(parent.id, limit=1),
            await store.error_counts([parent.id, kids[1]]),
            await store.last_events(parent.id, 3),
            await store.last_events(parent.id, 5, node_logs="a"),
        )

    parent, kids, children, one, counts, last, logs = with_store(store_url, body)
    # newest (greatest id) first, finished ones too; ids made within one millisecond order
    # by their random part, so the expectation sorts them the same way
    assert [c.id for c in children] == sorted(kids, reverse=True)
    assert {c.id: c.status for c in children}[kids[0]] == "failed"
    assert [c.id for c in one] == [max(kids)]
    assert counts == {parent: 2, kids[1]: 0}  # node a and item 3; not the running parent
    assert [e.type for e in last] == ["e7", "e8", "e9"]  # the newest, oldest first
    assert [(e.type, e.node_id, e.data) for e in logs] == [("log", "a", {"n": 0})]


def test_get_events_after_a_sequence_number_returns_only_later_events(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution())
        other, _ = await store.create_execution(new_execution())
        for n in range(3):
            await store.apply(Transition(record.id, OWNER, events=[Event(f"e{n}")]))
            await store.apply(Transition(other.id, OWNER, events=[Event(f"other{n}")]))
        events = await store.get_events(record.id)
        return events, await store.get_events(record.id, after=events[0].seq)

    events, later = with_store(store_url, body)
    assert [e.type for e in events] == ["e0", "e1", "e2"]
    assert later == events[1:]


def test_node_output_is_the_succeeded_attempts_output(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution())
        await store.apply(
            Transition(
                record.id,
                OWNER,
                nodes=[
                    NodeWrite("flaky", NodeStatus.SUCCEEDED, 2),
                    NodeWrite("broken", NodeStatus.FAILED, 1),
                ],
                attempts=[
                    AttemptWrite(
                        "flaky",
                        1,
                        AttemptStatus.FAILED,
                        output={"partial": True},
                        error={"type": "http"},
                    ),
                    AttemptWrite("flaky", 2, AttemptStatus.SUCCEEDED, output={"value": 42}),
                    AttemptWrite(
                        "broken",
                        1,
                        AttemptStatus.FAILED,
                        output={"partial": True},
                        error={"type": "http"},
                    ),
                ],
            )
        )
        return await store.get_nodes(record.id)

    nodes = with_store(store_url, body)
    assert [a.number for a in nodes["flaky"].attempts] == [1, 2]
    assert nodes["flaky"].output == {"value": 42}
    assert nodes["broken"].output is None


def test_transition_fenced_by_a_stale_owner_raises_and_writes_nothing(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution(owner="owner-b"))
        with pytest.raises(OwnershipLost):
            await store.apply(
                Transition(
                    record.id,
                    OWNER,
                    execution=ExecutionUpdate(status=ExecutionStatus.COMPLETED, finished=True),
                    nodes=[NodeWrite("a", NodeStatus.SUCCEEDED, 1)],
                    attempts=[AttemptWrite("a", 1, AttemptStatus.SUCCEEDED, output=1)],
                    events=[Event("node_succeeded", "a")],
                )
            )
        with pytest.raises(ExecutionNotFound):
            await store.apply(node_transition("no-such-execution", "a"))
        return (
            record,
            await store.get_execution(record.id),
            await store.get_nodes(record.id),
            await store.get_events(record.id),
        )

    before, after, nodes, events = with_store(store_url, body)
    assert after == before
    assert nodes == {} and events == []


def test_many_concurrent_applies_all_land(store_url: str) -> None:
    count = 300

    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution())
        results = await asyncio.gather(
            *(store.apply(node_transition(record.id, f"n{i}")) for i in range(count))
        )
        return results, await store.get_nodes(record.id), await store.get_events(record.id)

    results, nodes, events = with_store(store_url, body)
    assert results == [None] * count
    assert set(nodes) == {f"n{i}" for i in range(count)}
    assert all(node.output == {"node": node.node_id} for node in nodes.values())
    assert sorted(e.node_id or "" for e in events) == sorted(f"n{i}" for i in range(count))
    assert len({e.seq for e in events}) == count


def test_a_failing_write_does_not_lose_the_other_writes_of_its_batch(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution())
        stale, _ = await store.create_execution(new_execution(owner="owner-b"))
        async with writer_held(store):
            good = [
                asyncio.ensure_future(store.apply(node_transition(record.id, f"n{i}")))
                for i in range(20)
            ]
            unknown = asyncio.ensure_future(store.apply(node_transition("missing", "x")))
            fenced = asyncio.ensure_future(store.apply(node_transition(stale.id, "x")))
            # an attempt of a node that has no node row violates a foreign key in the database
            # after the transition's event was written: the event must be rolled back with it
            broken = asyncio.ensure_future(
                store.apply(
                    Transition(
                        record.id,
                        OWNER,
                        events=[Event("orphan")],
                        attempts=[AttemptWrite("orphan", 1, AttemptStatus.RUNNING)],
                    )
                )
            )
            more = [
                asyncio.ensure_future(store.apply(node_transition(record.id, f"m{i}")))
                for i in range(20)
            ]
        outcomes = await asyncio.gather(
            *good, unknown, fenced, broken, *more, return_exceptions=True
        )
        return (
            outcomes,
            await store.get_nodes(record.id),
            await store.get_events(record.id),
            await store.get_nodes(stale.id),
        )

    outcomes, nodes, events, stale_nodes = with_store(store_url, body)
    assert outcomes[:20] == [None] * 20 and outcomes[23:] == [None] * 20
    unknown, fenced, broken = outcomes[20:23]
    assert isinstance(unknown, ExecutionNotFound)
    assert isinstance(fenced, OwnershipLost)
    assert isinstance(broken, StoreError) and not isinstance(broken, OwnershipLost)
    assert set(nodes) == {f"n{i}" for i in range(20)} | {f"m{i}" for i in range(20)}
    assert "orphan" not in {e.type for e in events} and len(events) == 40
    assert stale_nodes == {}


def test_a_cancelled_write_does_not_stop_the_store(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        async with writer_held(store):
            cancelled = asyncio.ensure_future(store.kv_set("s", "cancelled", "1"))
            await asyncio.sleep(0)  # its write is queued
            cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        # the writer is still alive: later writes complete (the timeout only guards a hang)
        async with asyncio.timeout(30):
            await store.kv_set("s", "after", "2")
        return await store.kv_get("s", "cancelled"), await store.kv_get("s", "after")

    assert with_store(store_url, body) == (None, "2")


class WatchedLock:
    """A lock that tells when someone had to wait for it (the store's read lock, watched)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waited = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self.lock.locked():
            self.waited.set()
        return self.lock.acquire(blocking, timeout)

    def release(self) -> None:
        self.lock.release()

    def locked(self) -> bool:
        return self.lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_a_read_running_as_the_store_closes_leaves_no_connection_open(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read whose caller was cancelled runs on in its thread. The closing store waits for
    it (a read never has its connection closed under it), and it reconnects nowhere after:
    before, on PostgreSQL, the read found its connection closed, opened a new one and ran
    again, and the closed store held that connection, never closed (a ResourceWarning)."""

    async def main() -> tuple[int, Any, Any]:
        store = open_store(store_url)
        await store.open()
        lock = WatchedLock()
        monkeypatch.setattr(store, "_read_lock", lock)
        entered, go = threading.Event(), threading.Event()
        runs = 0

        def job(cur: Any) -> Any:
            nonlocal runs
            runs += 1
            entered.set()
            go.wait(CEILING)
            cur.execute("SELECT 1")
            return cur.fetchone()

        reading = asyncio.create_task(store._read(job))
        await asyncio.to_thread(entered.wait, CEILING)
        reading.cancel()  # its thread runs on
        closing = asyncio.create_task(store.close())

        async def begun() -> bool:
            return closing.done() or lock.waited.is_set()

        await until("the close to end or to wait for the read", begun)
        go.set()
        await closing

        async def read_ended() -> bool:
            return not lock.locked()

        await until("the read to end", read_ended)
        return runs, store._read_conn, store._write_conn

    runs, read_conn, write_conn = asyncio.run(main())
    assert (read_conn, write_conn) == (None, None)
    assert runs == 1  # not run again on a connection of its own


# -- ownership -------------------------------------------------------------------------------


def test_claim_is_a_compare_and_swap_on_the_owner(store_url: str) -> None:
    async def body(store: SqlStore) -> None:
        owned, _ = await store.create_execution(new_execution(owner="owner-a"))
        unowned, _ = await store.create_execution(new_execution(owner=None))
        finished, _ = await store.create_execution(new_execution(owner="owner-a"))
        await store.apply(
            Transition(
                finished.id,
                "owner-a",
                execution=ExecutionUpdate(status=ExecutionStatus.COMPLETED, finished=True),
            )
        )

        assert await store.claim(owned.id, "owner-b", "owner-a") is True
        assert await store.claim(owned.id, "owner-c", "owner-a") is False  # stale previous
        assert (await store.get_execution(owned.id)).owner == "owner-b"
        with pytest.raises(OwnershipLost):
            await store.apply(node_transition(owned.id, "late", owner="owner-a"))
        await store.apply(node_transition(owned.id, "on-time", owner="owner-b"))
        assert set(await store.get_nodes(owned.id)) == {"on-time"}

        assert await store.claim(unowned.id, "owner-b", "owner-a") is False
        assert await store.claim(unowned.id, "owner-b", None) is True
        assert (await store.get_execution(unowned.id)).owner == "owner-b"

        assert await store.claim(finished.id, "owner-b", "owner-a") is False
        assert await store.claim("missing", "owner-b", None) is False

    with_store(store_url, body)


def test_an_attempt_keeps_the_name_of_the_worker_that_ran_it(store_url: str) -> None:
    """The worker that takes an execution over records the attempt it found running as
    interrupted: the attempt still names the worker that ran it, not the one that wrote last."""

    async def body(store: SqlStore) -> list[tuple[int, str, str | None]]:
        record, _ = await store.create_execution(new_execution(owner="owner-a"))
        await store.apply(
            Transition(
                record.id,
                "owner-a",
                worker="a",
                nodes=[NodeWrite("n", NodeStatus.RUNNING, 1)],
                attempts=[AttemptWrite("n", 1, AttemptStatus.RUNNING, inputs={"x": 1})],
            )
        )
        assert await store.claim(record.id, "owner-b", "owner-a") is True
        await store.apply(
            Transition(
                record.id,
                "owner-b",
                worker="b",
                nodes=[NodeWrite("n", NodeStatus.SUCCEEDED, 2)],
                attempts=[
                    AttemptWrite("n", 1, AttemptStatus.INTERRUPTED, finished_at=time.time()),
                    AttemptWrite("n", 2, AttemptStatus.SUCCEEDED, inputs={"x": 1}, output=2),
                ],
            )
        )
        nodes = await store.get_nodes(record.id)
        return [(a.number, a.status, a.worker) for a in nodes["n"].attempts]

    assert with_store(store_url, body) == [(1, "interrupted", "a"), (2, "succeeded", "b")]


def test_a_cancel_request_is_never_replaced_by_a_later_one(store_url: str) -> None:
    """Controls share one column: before, a pause sent before the owner acted on a cancel
    replaced it, and the cancel was never carried out (`Engine.cancel` waited for good)."""

    async def body(store: SqlStore) -> None:
        execution, _ = await store.create_execution(new_execution(owner="owner-a"))
        assert await store.request(execution.id, "pause") is True
        assert await store.request(execution.id, "cancel") is True
        assert await store.request(execution.id, "pause") is False
        assert await store.request(execution.id, "resume") is False
        assert await store.request(execution.id, "cancel") is True  # asking again is fine
        assert (await store.get_execution(execution.id)).control == "cancel"

    with_store(store_url, body)


def test_open_executions_report_owners_joined_from_heartbeats(store_url: str) -> None:
    alive = OwnerRecord(id="owner-a", host="host-1", pid=101, started_at=10.0, heartbeat_at=20.0)

    async def body(store: SqlStore) -> Any:
        await store.heartbeat(alive)
        await store.heartbeat(OwnerRecord("owner-a", "ignored", 0, 0.0, heartbeat_at=30.0))
        live, _ = await store.create_execution(new_execution(owner="owner-a"))
        orphan, _ = await store.create_execution(new_execution(owner="owner-gone"))
        unowned, _ = await store.create_execution(new_execution(owner=None))
        done, _ = await store.create_execution(new_execution(owner="owner-a"))
        await store.apply(
            Transition(
                done.id,
                "owner-a",
                execution=ExecutionUpdate(status=ExecutionStatus.FAILED, finished=True),
            )
        )
        await store.apply(
            Transition(
                live.id,
                "owner-a",
                execution=ExecutionUpdate(status=ExecutionStatus.RUNNING, started=True),
            )
        )
        first = await store.open_executions()
        await store.forget_owner("owner-a")
        return [live.id, orphan.id, unowned.id], first, await store.open_executions()

    ids, first, after_forget = with_store(store_url, body)
    assert [o.id for o in first] == ids
    live, orphan, unowned = first
    assert live.owner_id == "owner-a"
    owner = live.owner
    assert owner is not None
    # the first row stays (host, pid, start); the store stamps beats on its own clock
    assert (owner.id, owner.host, owner.pid, owner.started_at) == ("owner-a", "host-1", 101, 10.0)
    assert owner.alive and owner.heartbeat_at > 30.0
    assert owner.lease_expires_at == pytest.approx(owner.heartbeat_at + 30.0, abs=0.01)
    assert (orphan.owner_id, orphan.owner) == ("owner-gone", None)
    assert (unowned.owner_id, unowned.owner) == (None, None)
    assert [(o.id, o.owner_id, o.owner) for o in after_forget] == [
        (ids[0], "owner-a", None),
        (ids[1], "owner-gone", None),
        (ids[2], None, None),
    ]


# -- artifacts and kv ------------------------------------------------------------------------


def test_artifacts_round_trip_and_identical_blobs_are_stored_once(store_url: str) -> None:
    data = b"\x00binary\xffdata" * 100

    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution())
        other, _ = await store.create_execution(new_execution())
        first = await store.put_artifact(record.id, "render", "page.html", "text/html", data)
        copy = await store.put_artifact(record.id, None, "copy.html", "text/html", data)
        small = await store.put_artifact(other.id, "x", "note.txt", "text/plain", b"hi")
        with pytest.raises(StoreError, match="no blob"):
            await store.get_blob("sha256:" + "f" * 64)
        return (
            first,
            copy,
            small,
            await store.list_artifacts(record.id),
            await store.list_artifacts(other.id),
            await store.get_blob(first.hash),
            await store.get_blob(small.hash),
        )

    first, copy, small, listed, other_listed, blob, small_blob = with_store(store_url, body)
    assert first.hash == copy.hash == "sha256:" + hashlib.sha256(data).hexdigest()
    assert first.id != copy.id
    assert (first.name, first.content_type, first.size) == ("page.html", "text/html", len(data))
    assert listed == [first, copy]
    assert other_listed == [small]
    assert blob == data and small_blob == b"hi"
    assert query(store_url, "SELECT count(*) FROM blobs") == [(2,)]


def test_values_above_the_inline_limit_are_stored_as_artifacts_and_load_back(
    store_url: str,
) -> None:
    big = {"rows": [{"n": i, "text": "é" * 40} for i in range(200)]}  # ~17 KB of JSON
    small = {"n": 1}

    async def body(store: SqlStore) -> Any:
        store.inline_limit = 4096
        record, _ = await store.create_execution(new_execution())
        t = Transition(record.id, OWNER)
        t.nodes.append(NodeWrite("fetch", NodeStatus.SUCCEEDED, 1))
        t.attempts.append(
            AttemptWrite("fetch", 1, AttemptStatus.SUCCEEDED, inputs=small, output=big)
        )
        t.nodes.append(NodeWrite("copy", NodeStatus.SUCCEEDED, 1))
        t.attempts.append(
            AttemptWrite("copy", 1, AttemptStatus.SUCCEEDED, inputs=big, output=small)
        )
        t.execution = ExecutionUpdate(status=ExecutionStatus.COMPLETED, result=big, has_result=True)
        await store.apply(t)
        # the finish of an attempt started with spilled inputs keeps them
        t = Transition(record.id, OWNER)
        t.attempts.append(AttemptWrite("copy", 2, AttemptStatus.RUNNING, inputs=big))
        await store.apply(t)
        t = Transition(record.id, OWNER)
        t.attempts.append(AttemptWrite("copy", 2, AttemptStatus.SUCCEEDED, output=small))
        await store.apply(t)
        nodes = await store.get_nodes(record.id)
        execution = await store.get_execution(record.id)
        fetch, copy = nodes["fetch"].attempts[0], nodes["copy"].attempts
        assert fetch.output_artifact is not None and copy[0].inputs_artifact is not None
        assert copy[1].inputs_artifact is not None and execution.result_artifact is not None
        return (
            nodes,
            execution,
            await store.load_value(fetch.output_artifact),
            await store.load_value(copy[1].inputs_artifact),
            await store.load_value(execution.result_artifact),
            await store.list_artifacts(record.id),
            await store.get_artifact(execution.result_artifact),
        )

    nodes, execution, output, inputs, result, listed, (ref, owner, data) = with_store(
        store_url, body
    )
    fetch, copy = nodes["fetch"].attempts[0], nodes["copy"].attempts
    assert (fetch.inputs, fetch.output, fetch.inputs_artifact) == (small, None, None)
    assert (copy[0].inputs, copy[0].output, copy[0].output_artifact) == (None, small, None)
    assert execution.result is None
    assert output == inputs == result == big
    assert sorted(a.name for a in listed) == [
        "copy.1.inputs.json",
        "copy.2.inputs.json",
        "fetch.1.output.json",
        "result.json",
    ]
    assert {a.content_type for a in listed} == {"application/json"}
    assert ref in listed and ref.name == "result.json" and owner == execution.id
    assert json.loads(data) == big and ref.size == len(data)
    assert query(store_url, "SELECT count(*) FROM blobs") == [(1,)]  # one value, one blob


def test_an_unknown_artifact_is_a_clear_error(store_url: str) -> None:
    async def body(store: SqlStore) -> None:
        with pytest.raises(ArtifactNotFound, match="no artifact with id 'nope'"):
            await store.get_artifact("nope")

    with_store(store_url, body)


def test_kv_get_set_overwrite_delete(store_url: str) -> None:
    async def body(store: SqlStore) -> list[str | None]:
        seen = [await store.kv_get("scope", "key")]
        await store.kv_set("scope", "key", "one")
        await store.kv_set("other", "key", "elsewhere")
        seen.append(await store.kv_get("scope", "key"))
        await store.kv_set("scope", "key", "two")
        seen.append(await store.kv_get("scope", "key"))
        await store.kv_delete("scope", "key")
        await store.kv_delete("scope", "never-set")
        seen.append(await store.kv_get("scope", "key"))
        seen.append(await store.kv_get("other", "key"))
        return seen

    assert with_store(store_url, body) == [None, "one", "two", None, "elsewhere"]


def test_kv_changes_commit_with_the_execution_they_start_and_only_then(store_url: str) -> None:
    async def body(store: SqlStore) -> list[str | None]:
        await store.kv_set("trigger:t", "gone", "soon")
        first = new_execution(idempotency_key="fire-1")
        first.kv = KvChanges("trigger:t", {"cursor": "1", "gone": None})
        _, created = await store.create_execution(first)
        assert created
        seen = [await store.kv_get("trigger:t", "cursor"), await store.kv_get("trigger:t", "gone")]
        again = new_execution(idempotency_key="fire-1")  # the same fire asked twice
        again.kv = KvChanges("trigger:t", {"cursor": "2"})
        _, created = await store.create_execution(again)
        assert not created
        seen.append(await store.kv_get("trigger:t", "cursor"))
        await store.kv_commit(KvChanges("trigger:t", {"cursor": "3", "other": "x"}))
        seen += [
            await store.kv_get("trigger:t", "cursor"),
            await store.kv_get("trigger:t", "other"),
        ]
        return seen

    assert with_store(store_url, body) == ["1", None, "1", "3", "x"]


def test_one_version_per_workflow_is_pinned_at_a_time(store_url: str) -> None:
    async def main(store: SqlStore) -> list[tuple[str, int, bool]]:
        for version in (1, 2):
            document = f'{{"name": "w", "version": {version}}}'
            digest = "sha256:" + hashlib.sha256(document.encode()).hexdigest()
            await store.deploy("w", version, digest, document)
        assert await store.set_pinned("w", 1)
        assert await store.set_pinned("w", 2)  # moves the pin
        assert not await store.set_pinned("w", 9)  # no such version: the pin stays
        pinned = [("w", d.version, d.pinned) for d in await store.deployments("w")]
        assert await store.set_pinned("w", None)
        return pinned + [("after", d.version, d.pinned) for d in await store.deployments()]

    assert with_store(store_url, main) == [
        ("w", 2, True),
        ("w", 1, False),
        ("after", 2, False),
        ("after", 1, False),
    ]


# -- an attempt's kv writes and artifacts, committed with its success ---------------------------


def pending(execution_id: str, data: bytes, digest: str, name: str) -> PendingArtifact:
    ref = ArtifactRef(new_id(), digest, name, "text/plain", len(data))
    return PendingArtifact(execution_id, "a", ref, time.time())


def test_kv_and_artifacts_commit_with_their_transition_under_its_fence(store_url: str) -> None:
    """A transition's kv writes and artifact rows (their blob stored beforehand) are written
    with it, and not at all when its fence refuses it."""

    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution())
        scope = f"execution:{record.id}"
        await store.kv_set(scope, "old", "gone soon")
        digest = await store.put_blob(b"report", record.id)
        artifact = pending(record.id, b"report", digest, "report.txt")
        kv = KvChanges(scope, {"new": "1", "old": None})

        def success(owner: str) -> Transition:
            t = node_transition(record.id, "a", owner)
            t.kv, t.artifacts = [kv], [artifact]
            return t

        with pytest.raises(OwnershipLost):
            await store.apply(success("owner-b"))
        refused = (
            await store.kv_get(scope, "new"),
            await store.kv_get(scope, "old"),
            await store.list_artifacts(record.id),
            await store.get_nodes(record.id),
        )
        await store.apply(success(OWNER))
        committed = (
            await store.kv_get(scope, "new"),
            await store.kv_get(scope, "old"),
            await store.list_artifacts(record.id),
            await store.get_blob(digest),
        )
        return artifact, refused, committed, await store.sweep_blobs(time.time() + 1)

    artifact, refused, committed, swept = with_store(store_url, body)
    assert refused == (None, "gone soon", [], {})
    assert committed == ("1", None, [artifact.ref], b"report")
    assert swept == 0  # an artifact names it


def test_the_sweep_deletes_only_old_blobs_no_artifact_names(store_url: str) -> None:
    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution())
        orphan = await store.put_blob(b"lost attempt", record.id)
        named = await store.put_blob(b"kept attempt", record.id)
        t = node_transition(record.id, "a")
        t.artifacts = [pending(record.id, b"kept attempt", named, "kept.txt")]
        await store.apply(t)
        stored = await store.put_artifact(record.id, "a", "direct.txt", "text/plain", b"direct")
        again = await store.put_blob(b"direct", record.id)  # the same content, put by an attempt
        await store.apply(finished(record.id))
        young = await store.sweep_blobs(time.time() - 24 * 3600)
        old = await store.sweep_blobs(time.time() + 1)
        left: list[bytes | None] = []
        for digest in (orphan, named, stored.hash, again):
            left.append(await blob_or_none(store, digest))
        return young, old, left, await store.sweep_blobs(time.time() + 1)

    young, old, left, later = with_store(store_url, body)
    assert (young, old, later) == (0, 1, 0)
    assert left == [None, b"kept attempt", b"direct", b"direct"]
    assert query(store_url, "SELECT count(*) FROM blob_writers") == [(0,)]


def test_the_sweep_keeps_the_blobs_of_open_executions_however_old(store_url: str) -> None:
    """An attempt that runs for longer than the sweep's age still finds the blob it stored
    when its success commits the artifact naming it: a blob is kept while any execution that
    stored it is open, and while any note of it is younger than the cutoff."""

    async def body(store: SqlStore) -> Any:
        running, _ = await store.create_execution(new_execution())
        ended, _ = await store.create_execution(new_execution())
        await store.apply(finished(ended.id))
        slow = await store.put_blob(b"a day's work", running.id)
        shared = await store.put_blob(b"both", ended.id)
        await store.put_blob(b"both", running.id)
        every_blob_old = time.time() + 1
        kept = await store.sweep_blobs(every_blob_old)
        t = node_transition(running.id, "a")
        t.artifacts = [pending(running.id, b"a day's work", slow, "slow.txt")]
        await store.apply(t)  # the artifact's row commits: its blob is there
        committed = await store.get_blob(slow)
        await store.apply(finished(running.id))
        swept = await store.sweep_blobs(every_blob_old)
        return kept, committed, swept, await blob_or_none(store, shared)

    kept, committed, swept, shared = with_store(store_url, body)
    assert kept == 0
    assert committed == b"a day's work"
    assert (swept, shared) == (1, None)  # "both", once neither execution is open


def finished(execution_id: str) -> Transition:
    """The execution ends."""
    return Transition(
        execution_id, OWNER, execution=ExecutionUpdate(status=ExecutionStatus.COMPLETED)
    )


async def blob_or_none(store: SqlStore, digest: str) -> bytes | None:
    try:
        return await store.get_blob(digest)
    except StoreError:
        return None


def test_a_transition_of_many_rows_and_repeated_keys_stores_each_row_in_order(
    store_url: str,
) -> None:
    """A transition's rows go in multi-row statements of `MULTI_ROW` rows: more than one
    chunk's worth are all stored, and rows that repeat a key are applied in order (the last
    one wins), as one statement per row would."""
    from fuchsia.store.transitions import MULTI_ROW

    many = MULTI_ROW * 2 + 3

    async def body(store: SqlStore) -> Any:
        record, _ = await store.create_execution(new_execution())
        eid = record.id
        await store.apply(
            Transition(
                eid,
                OWNER,
                nodes=[NodeWrite(f"n{i}", NodeStatus.SUCCEEDED, 1) for i in range(many)]
                + [NodeWrite("each", NodeStatus.RUNNING, 1, item=i) for i in range(many)],
                attempts=[
                    AttemptWrite(f"n{i}", 1, AttemptStatus.SUCCEEDED, output={"i": i})
                    for i in range(many)
                ],
                events=[Event("node_succeeded", f"n{i}") for i in range(many)],
            )
        )
        await store.apply(
            Transition(
                eid,
                OWNER,
                nodes=[
                    NodeWrite("again", NodeStatus.RUNNING, 1),
                    NodeWrite("again", NodeStatus.FAILED, 1, error={"type": "boom"}),
                    NodeWrite("again", NodeStatus.SUCCEEDED, 2),
                ],
                attempts=[
                    AttemptWrite("again", 1, AttemptStatus.RUNNING),
                    AttemptWrite("again", 1, AttemptStatus.FAILED, error={"type": "boom"}),
                    AttemptWrite("again", 2, AttemptStatus.SUCCEEDED, output="ok"),
                ],
            )
        )
        return await store.get_nodes(eid), await store.get_events(eid)

    nodes, events = with_store(store_url, body)
    assert all(nodes[f"n{i}"].status == "succeeded" for i in range(many))
    assert [nodes[f"n{i}"].attempts[0].output for i in range(many)] == [
        {"i": i} for i in range(many)
    ]
    assert sorted(nodes["each"].items) == list(range(many))
    assert [e.node_id for e in events] == [f"n{i}" for i in range(many)]  # in order
    again = nodes["again"]
    assert again.status == "succeeded" and again.error is None
    assert [(a.number, a.status) for a in again.attempts] == [(1, "failed"), (2, "succeeded")]


def test_a_refused_fence_is_the_error_even_when_a_write_of_it_also_fails(store_url: str) -> None:
    """A transition refused by its fence (another owner's execution, or none at all) whose
    writes would also fail (an attempt without its node row breaks a foreign key) fails as
    refused, whichever the database reports first: the caller learns it lost the execution,
    and nothing of it is stored."""

    def orphan(execution_id: str) -> Transition:
        return Transition(
            execution_id,
            OWNER,
            events=[Event("orphan")],
            attempts=[AttemptWrite("orphan", 1, AttemptStatus.RUNNING)],
        )

    async def body(store: SqlStore) -> Any:
        stale, _ = await store.create_execution(new_execution(owner="owner-b"))
        outcomes = []
        for execution_id in (stale.id, "missing"):
            try:
                await store.apply(orphan(execution_id))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes, await store.get_events(stale.id)

    (fenced, unknown), events = with_store(store_url, body)
    assert isinstance(fenced, OwnershipLost)
    assert isinstance(unknown, ExecutionNotFound)
    assert "orphan" not in {e.type for e in events}
