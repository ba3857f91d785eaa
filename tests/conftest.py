"""Shared fixtures: a throwaway PostgreSQL server, a store URL for each backend, and a
loopback HTTP server per module (`loopback`).

`postgres_url` starts one PostgreSQL server per test session from the binaries installed under
/usr/lib/postgresql (the highest version), listening on 127.0.0.1 only, with its data and socket
in a temporary directory that is deleted afterwards. Without those binaries the tests that need
the server fail (they are not skipped: a skipped test would pass for one that does not exist).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from support.httpserver import LoopbackServer

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"  # the superuser initdb creates; the server trusts it on loopback


def _pg_bindir() -> Path:
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(cmd: list[str], cwd: Path) -> None:
    """Run a PostgreSQL tool; as root, as the `postgres` user, since the server refuses root."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", PG_USER, "--", *cmd]
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log = cwd / "server.log"
        detail = log.read_text(errors="replace") if log.exists() else ""
        pytest.fail(
            f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}{result.stderr}{detail}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A `postgresql://` URL to an empty database on a PostgreSQL server for this session."""
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="fuchsia-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER, PG_USER)
    data = root / "data"
    started = False
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            root,
        )
        port = _free_port()
        # fsync and friends are off for test speed only: this server's data is thrown away.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            root,
        )
        started = True
        with psycopg.connect(
            f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE fuchsia")
        yield f"postgresql://{PG_USER}@127.0.0.1:{port}/fuchsia"
    finally:
        if started:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_pg_url(postgres_url: str) -> str:
    """A URL to a new, empty database on the session's server, so tests cannot see each
    other's data. Databases are not dropped: the whole server is discarded at the end."""
    server, _ = postgres_url.rsplit("/", 1)
    name = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where to open a fresh, empty store, once for each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "fuchsia.db")
    url: str = request.getfixturevalue("fresh_pg_url")
    return url


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    """One real loopback HTTP server per module; tests keep their paths apart by name."""
    with LoopbackServer() as server:
        yield server
