"""Opening a real store for a test: `opened(url)` as an async context, `with_store(url, body)`
to run one coroutine against it and close it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

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
