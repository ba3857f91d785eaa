"""A throwaway PostgreSQL server from the binaries installed under /usr/lib/postgresql (the
highest version), on 127.0.0.1 only, with its data and socket in a temporary directory that
is deleted when it stops. As root, its tools run as the `postgres` user (the server refuses
root). Without those binaries a test that needs one fails: it is not skipped, since a
skipped test would pass for one that does not exist."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg
import pytest
from psycopg import sql

from support.ports import free_port

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"  # the superuser initdb creates; the server trusts it on loopback


def _bindir() -> Path:
    """The `bin` folder of the highest installed PostgreSQL version."""

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in bindir.parent.name.split(".") if p.isdigit())

    found = [p.parent for p in PG_ROOT.glob("*/bin/pg_ctl")]
    if not found:
        pytest.fail(
            f"PostgreSQL server binaries not found under {PG_ROOT}/*/bin: install the "
            "postgresql package to run the PostgreSQL store tests",
            pytrace=False,
        )
    return max(found, key=version)


class PgServer:
    """One server: `start` it (or use it as a context manager), `url` a database on it,
    `restart` it as an operator would (`pg_ctl restart -m fast`), `stop` it."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="fuchsia-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, PG_USER, PG_USER)
        self.data = self.root / "data"
        self.log = self.root / "server.log"  # the server's output: never a pipe it would hold
        self.port = 0  # chosen as it starts, so no other program takes it meanwhile
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def start(self) -> None:
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", PG_USER]
        self._run([*initdb, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        self.port = free_port()
        # fsync and friends are off for test speed only: this server's data is thrown away.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._ctl("-l", str(self.log), "-t", "60", "-o", options, "start")
        self.running = True

    def restart(self) -> None:
        """Stop it the way `pg_ctl restart -m fast` does (every connection cut, open
        transactions rolled back) and start it again with the same settings."""
        self._ctl("-l", str(self.log), "-m", "fast", "-t", "60", "restart")

    def stop(self) -> None:
        try:
            if self.running:
                self._ctl("-m", "fast", "stop")
                self.running = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _ctl(self, *args: str) -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", *args])

    def _run(self, cmd: list[str]) -> None:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        result = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = self.log.read_text(errors="replace") if self.log.exists() else ""
            pytest.fail(
                f"{' '.join(cmd)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}{detail}",
                pytrace=False,
            )

    def __enter__(self) -> PgServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
