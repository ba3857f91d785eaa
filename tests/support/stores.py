"""Opening a real store for a test: `opened(url)` as an async context, `with_store(url, body)`
to run one coroutine against it and close it; `execute(url, statement)` to write to its
database behind the store's back (a lease put in the past, say), `query(url, statement)` to
read from it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from typing import Any

import psycopg

from fuchsia.store import SqlStore, open_store


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


def query(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows one reading statement returns from the store's database, read through a
    connection of our own (`?` placeholders on both backends)."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as pg:
            return list(pg.execute(statement.replace("?", "%s"), params).fetchall())
    with closing(sqlite3.connect(url, timeout=30)) as lite:
        return list(lite.execute(statement, params).fetchall())
