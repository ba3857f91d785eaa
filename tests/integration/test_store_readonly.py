"""A store that cannot be written still serves reads (issue 8, C16).

The failures are real, produced by the operating system or the database server, not by a
flag in Fuchsia: the tests run as root, where `chmod` does not stop a write, so the SQLite
store lives on a small tmpfs mounted for the test, which is then remounted read-only
(`mount -o remount,ro`: every write gets EROFS) or filled to the last byte by a filler file
(every write that needs space gets ENOSPC). PostgreSQL is made read-only the way a standby
or a maintenance window makes it: `default_transaction_read_only = on` for the database.

Reading (`runs list`, `runs show`) works in each case; a write fails with a message saying
why; and once the store is writable again, everything stored before is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from fuchsia.runtime.engine import Engine
from fuchsia.store import StoreUnwritable

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello.yaml"
CLI_TIMEOUT = 120.0


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(
            f"mount {' '.join(args)} failed ({result.stderr.strip()}): these tests need to "
            "mount a tmpfs (root with CAP_SYS_ADMIN)",
            pytrace=False,
        )


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A fresh 16 MiB tmpfs, unmounted afterwards."""
    point = tmp_path / "fs"
    point.mkdir()
    _mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(point))
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


class Cli:
    """`fuchsia` in a subprocess with its home and store on the given directory."""

    def __init__(self, home: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
        self.env.update(FUCHSIA_HOME=str(home), FUCHSIA_DB=str(home / "fuchsia.db"))
        if cache := os.environ.get("FUCHSIA_TEST_CACHE"):
            self.env["FUCHSIA_CACHE"] = cache

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fuchsia", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def run_hello(self, name: str) -> subprocess.CompletedProcess[str]:
        return self("run", str(HELLO), "--input", json.dumps({"name": name}))

    def listed(self) -> list[dict[str, Any]]:
        result = self("runs", "list", "--json")
        assert result.returncode == 0, result.stderr
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows


def assert_reads_work(cli: Cli, execution_id: str) -> None:
    assert [row["id"] for row in cli.listed()] == [execution_id]
    shown = cli("runs", "show", execution_id)
    assert shown.returncode == 0, shown.stderr
    assert "HELLO, ADA!" in shown.stdout


def assert_write_refused(cli: Cli, reason: str) -> None:
    refused = cli.run_hello("Bo")
    assert refused.returncode == 1
    assert "cannot write to the store" in refused.stderr and reason in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_store_on_a_read_only_file_system_still_lists_and_shows_runs(tmpfs: Path) -> None:
    cli = Cli(tmpfs / "home")
    assert cli.run_hello("Ada").returncode == 0
    (execution,) = cli.listed()
    _mount("-o", "remount,ro", str(tmpfs))
    try:
        assert_reads_work(cli, execution["id"])
        assert_write_refused(cli, "read-only")
    finally:
        _mount("-o", "remount,rw", str(tmpfs))
    assert cli.listed() == [execution]


def test_a_store_on_a_full_disk_still_lists_and_shows_runs(tmpfs: Path) -> None:
    cli = Cli(tmpfs / "home")
    assert cli.run_hello("Ada").returncode == 0
    (execution,) = cli.listed()
    filler = tmpfs / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):  # ENOSPC ends the loop
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    assert os.statvfs(tmpfs).f_bavail == 0
    assert_reads_work(cli, execution["id"])
    assert_write_refused(cli, "the disk is full")
    filler.unlink()
    assert cli.listed() == [execution]
    assert cli.run_hello("Cy").returncode == 0
    assert len(cli.listed()) == 2


def test_a_read_only_postgresql_database_still_serves_reads(fresh_pg_url: str) -> None:
    async def start() -> str:
        async with await Engine.open(fresh_pg_url) as engine:
            return (await engine.run(HELLO, {"name": "Ada"})).id

    async def read_then_write(execution_id: str) -> tuple[Any, str]:
        async with await Engine.open(fresh_pg_url) as engine:
            listed = [e.id for e in await engine.list()]
            result = (await engine.get(execution_id)).result
            assert listed == [execution_id]
            with pytest.raises(StoreUnwritable, match="read-only") as caught:
                await engine.start(HELLO, {"name": "Bo"})
            return result, str(caught.value)

    execution_id = asyncio.run(start())
    name = fresh_pg_url.rsplit("/", 1)[1]
    alter = sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}")
    with psycopg.connect(fresh_pg_url, autocommit=True) as pg:
        pg.execute(alter.format(sql.Identifier(name), sql.SQL("on")))
    result, message = asyncio.run(read_then_write(execution_id))
    assert "HELLO, ADA!" in result["message"]
    assert "nothing already stored was changed" in message
    writable = "-c default_transaction_read_only=off"
    with psycopg.connect(fresh_pg_url, autocommit=True, options=writable) as pg:
        pg.execute(alter.format(sql.Identifier(name), sql.SQL("off")))
        count = pg.execute("SELECT COUNT(*) FROM executions").fetchone()
    assert count == (1,)
