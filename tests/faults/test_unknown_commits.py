"""Writes whose COMMIT failed in each way, one store call at a time: the caller gets the
result of the one transaction that committed, and nothing is stored twice or lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from faults.faulty import MODES, inject
from fuchsia.store import open_store
from fuchsia.store.records import NewExecution, new_id


def new_execution() -> NewExecution:
    return NewExecution(
        id=new_id(),
        workflow_hash="sha256:x",
        workflow_name="w",
        workflow_version=1,
        workflow_document="{}",
        payload={"n": 1},
        context={},
        idempotency_key="key-1",
        owner=None,
    )


@pytest.mark.parametrize("mode", MODES)
def test_each_write_is_applied_once_whatever_its_commit_did(store_url: str, mode: str) -> None:
    async def main() -> None:
        store = open_store(store_url)
        await store.open()
        try:
            faults = inject(store, mode, seed=0, rate=1.0, limit=1)
            new = new_execution()
            record, created = await store.create_execution(new)
            assert (record.id, created) == (new.id, True)
            assert faults.injected[mode] == 1

            faults.limit = 2
            assert await store.claim(new.id, "me", None) is True
            assert (await store.get_execution(new.id)).owner == "me"

            faults.limit = 3
            signal_id = await store.send_signal(new.id, "go", {"by": "ada"})
            assert await store.next_signal(new.id, "go") == (signal_id, {"by": "ada"})
            assert await store.send_signal(new.id, "go", 2) == signal_id + 1  # no twin row
            assert faults.injected[mode] == 3
            listed = await store.list_executions()
            assert [r.id for r in listed] == [new.id]
        finally:
            await store.close()

    asyncio.run(main())


def test_a_store_closed_after_an_unknown_commit_leaves_no_writer_row(tmp_path: Path) -> None:
    async def main() -> list[tuple[str]]:
        import sqlite3

        store = open_store(str(tmp_path / "f.db"))
        await store.open()
        inject(store, "ambiguous", seed=0, rate=1.0, limit=1)
        await store.kv_set("s", "k", "v")
        assert await store.kv_get("s", "k") == "v"
        await store.close()
        with sqlite3.connect(tmp_path / "f.db") as conn:
            return conn.execute("SELECT writer FROM write_tokens").fetchall()

    assert asyncio.run(main()) == []
