"""PostgreSQL's connections cut by the server itself (`pg_terminate_backend`, as a restart or
a failover does) while executions run: the store reconnects for writes and reads, a commit cut
mid-flight is settled by its token, and every execution completes with each output once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from faults.test_store_faults import CHILD, FLOW, check, settle
from fuchsia import Engine
from support.httpserver import LoopbackServer

EXECUTIONS = 60
CUTS = 6
TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


async def terminate(admin: psycopg.Connection[tuple[int]]) -> int:
    """Cut every other connection to the database; wait (bounded) for one to be there."""
    async with asyncio.timeout(30):
        while True:
            row = admin.execute(TERMINATE).fetchone()
            if row is not None and row[0] > 0:
                return int(row[0])
            await asyncio.sleep(0.01)


@pytest.mark.slow
def test_executions_complete_once_while_the_server_cuts_connections(
    fresh_pg_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    (tmp_path / "child.yaml").write_text(CHILD)
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace("BASE", server.base_url))

    async def main() -> None:
        async with await Engine.open(fresh_pg_url, home=tmp_path / "home") as engine:
            locked = await engine.lock(flow)
            ids = [await engine.start(locked, {"n": n}) for n in range(EXECUTIONS)]
            cut = 0
            with psycopg.connect(fresh_pg_url, autocommit=True) as admin:
                for step in range(CUTS):
                    # cut again once more executions have finished: cuts land mid-run
                    async with asyncio.timeout(60):
                        while len(await engine.list(status="completed")) < step * 5:
                            await asyncio.sleep(0.01)
                    cut += await terminate(admin)
            assert cut >= CUTS  # the engine's connections were cut each time
            await settle(engine, ids)
            await check(engine, ids, server)

    asyncio.run(main())
