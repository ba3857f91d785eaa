"""Opening a real store for a test: `opened(url)` as an async context, `with_store(url, body)`
to run one coroutine against it and close it; `execute(url, statement)` to write to its
database behind the store's back (a lease put in the past, say, `expire`), `query(url,
statement)` to read from it; records for the ownership tests (`owner`, `new_execution`,
`created`, `succeeded`)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from typing import Any

import psycopg

from fuchsia.states import AttemptStatus, NodeStatus
from fuchsia.store import SqlStore, open_store
from fuchsia.store.records import (
    AttemptWrite,
    Event,
    NewExecution,
    NodeWrite,
    OwnerRecord,
    Transition,
    new_id,
)

WORKFLOW_HASH = "sha256:" + "1" * 64


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[SqlStore]:
    store = open_store(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def with_store(url: str, body: Callable[[SqlStore], Awaitable[Any]]) -> Any:
    """Open a store at `url`, run `await body(store)`, close the store."""

    async def main() -> Any:
        async with opened(url) as store:
            return await body(store)

    return asyncio.run(main())


def execute(url: str, statement: str, *params: Any) -> int:
    """Run one writing statement on the store's database through a connection of our own
    (committed; `?` placeholders on both backends); return the rows it touched."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as pg:
            return pg.execute(statement.replace("?", "%s"), params).rowcount
    with closing(sqlite3.connect(url, timeout=30)) as lite:
        count = lite.execute(statement, params).rowcount
        lite.commit()
        return count


def expire(url: str, owner_id: str) -> None:
    """Put `owner_id`'s lease in the past, as if it had stopped renewing long ago."""
    assert execute(url, "UPDATE owners SET lease_expires_at = 0 WHERE id = ?", owner_id) == 1


def owner(owner_id: str, **fields: Any) -> OwnerRecord:
    return OwnerRecord(owner_id, "test-host", 4242, 1.0, 0.0, name=f"name-{owner_id}", **fields)


def new_execution(owner_id: str | None) -> NewExecution:
    return NewExecution(
        id=new_id(),
        workflow_hash=WORKFLOW_HASH,
        workflow_name="owned",
        workflow_version=1,
        workflow_document='{"name":"owned"}',
        payload={},
        context={},
        idempotency_key=None,
        owner=owner_id,
    )


async def created(store: SqlStore, url: str, owner_id: str | None, created_at: float) -> str:
    """An open execution held by `owner_id` (None: recorded detached), created at
    `created_at` (set directly, so "oldest first" does not hang on clock resolution)."""
    record, _ = await store.create_execution(new_execution(owner_id))
    statement = "UPDATE executions SET created_at = ? WHERE id = ?"
    assert await asyncio.to_thread(execute, url, statement, created_at, record.id) == 1
    return record.id


def succeeded(execution_id: str, node_id: str, owner_id: str | None) -> Transition:
    return Transition(
        execution_id,
        owner_id,
        nodes=[NodeWrite(node_id, NodeStatus.SUCCEEDED, 1)],
        attempts=[
            AttemptWrite(
                node_id, 1, AttemptStatus.SUCCEEDED, inputs={}, output={}, finished_at=time.time()
            )
        ],
        events=[Event("node_succeeded", node_id)],
    )


def query(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows one reading statement returns from the store's database, read through a
    connection of our own (`?` placeholders on both backends)."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as pg:
            return list(pg.execute(statement.replace("?", "%s"), params).fetchall())
    with closing(sqlite3.connect(url, timeout=30)) as lite:
        return list(lite.execute(statement, params).fetchall())
