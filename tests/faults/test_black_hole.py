"""A PostgreSQL that stops answering mid-call (a black-holed network, here a loopback proxy
that stops forwarding): the engine stops its attempts before its lease can have passed,
though every thread of its store is blocked on a call, and once the network forwards again
the execution completes.

And the connections themselves give up on such a server in seconds: connect timeout, TCP
keepalives and `tcp_user_timeout`, as the kernel's defaults would wait ~15 minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fuchsia import Engine
from fuchsia.store.postgres import CONNECTION_SETTINGS, PostgresStore
from fuchsia.store.records import new_id
from support.httpserver import LoopbackServer
from support.proxy import Stall
from support.stores import opened
from support.waiting import locked, until

LEASE = 10.0  # seconds: the watchdog stops attempts a tenth of it before it passes


@pytest.fixture
def proxy(fresh_pg_url: str) -> Iterator[Stall]:
    port = urlsplit(fresh_pg_url).port
    assert port is not None
    with Stall(port) as running:
        yield running


def test_every_connection_times_out_probes_and_gives_up_on_unacknowledged_data(
    fresh_pg_url: str,
) -> None:
    async def main() -> list[dict[str, str]]:
        async with opened(fresh_pg_url) as store:
            assert isinstance(store, PostgresStore)
            return [conn.info.get_parameters() for conn in (store._write_conn, store._read_conn)]

    for parameters in asyncio.run(main()):
        for name, value in CONNECTION_SETTINGS.items():
            assert parameters.get(name) == str(value), (name, parameters)
    assert CONNECTION_SETTINGS["tcp_user_timeout"] > 0 and CONNECTION_SETTINGS["keepalives"] == 1


def test_a_url_keeps_its_own_connection_settings() -> None:
    store = PostgresStore("postgresql://u@127.0.0.1:1/db?connect_timeout=3")
    assert "connect_timeout=3" in store._conninfo()
    assert "tcp_user_timeout=10000" in store._conninfo()


@pytest.mark.slow
def test_attempts_stop_within_the_lease_when_the_network_black_holes_and_go_on_after(
    fresh_pg_url: str, proxy: Stall, tmp_path: Path
) -> None:
    """The engine reaches PostgreSQL through the proxy; an http attempt is held in flight,
    then the proxy stops forwarding. Every call the store makes now hangs (the heartbeat's
    write, the reads for control requests). The attempt is cancelled while the engine's
    lease still holds on the database's clock (read through a connection of the test's
    own, not through the proxy). Before, the heartbeat loop waited on its read of control
    requests forever, and the attempt ran on past the lease, beside whoever took the
    execution. Once the proxy forwards again the execution completes."""
    with LoopbackServer() as web:
        gate = f"black-hole-{new_id()}"
        workflow = locked(
            f"""
name: black-hole
nodes:
  call: {{http: {{url: "{web.url(f"/hold/{gate}")}?timeout=120"}}}}
  after: {{after: call, transform: {{done: true}}}}
""",
            "black-hole.yaml",
        )

        async def main() -> dict[str, Any]:
            seen: dict[str, Any] = {}
            async with (
                opened(fresh_pg_url) as direct,
                await Engine.open(
                    proxy.url(fresh_pg_url), home=tmp_path / "home", lease=LEASE
                ) as engine,
            ):
                eid = await engine.start(workflow)

                async def calling() -> bool:
                    return web.count(f"/hold/{gate}") >= 1

                await until("the attempt to be in flight", calling)
                driver = engine._driving[eid]
                (attempt,) = driver.tasks.values()
                proxy.stall()

                async def cancelled() -> bool:
                    return attempt.done()

                await until("the attempt to be stopped", cancelled)
                owners = {o.id: o.alive for o in await direct.owners()}
                seen["alive_when_stopped"] = owners.get(engine.identity.id)
                seen["cancelled"] = attempt.cancelled()
                proxy.flow()
                web.release(gate)

                async def completed() -> bool:
                    return (await direct.get_execution(eid)).status == "completed"

                await until("the execution to complete", completed)
                seen["view"] = await engine.get(eid)
            return seen

        seen = asyncio.run(main())
    assert seen["cancelled"] is True
    assert seen["alive_when_stopped"] is True  # stopped before the lease passed
    view = seen["view"]
    assert view.status == "completed"
    call = view.node("call")
    assert [a.status for a in call.attempts][-1] == "succeeded"
    assert call.attempts[0].status == "interrupted"
