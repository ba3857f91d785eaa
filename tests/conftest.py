"""Shared fixtures: a throwaway PostgreSQL server, a store URL for each backend, and a
loopback HTTP server per module (`loopback`).

`postgres_url` starts one PostgreSQL server per test session (`support.postgres.PgServer`:
the installed binaries, 127.0.0.1 only, its data deleted afterwards; without the binaries the
tests that need it fail, they are not skipped).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.httpserver import LoopbackServer
from support.postgres import PgServer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The PostgreSQL server of this test session."""
    with PgServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(pg_server: PgServer) -> str:
    """A `postgresql://` URL to an empty database on the session's server."""
    return pg_server.create_database("fuchsia")


@pytest.fixture
def fresh_pg_url(pg_server: PgServer) -> str:
    """A URL to a new, empty database on the session's server, so tests cannot see each
    other's data. Databases are not dropped: the whole server is discarded at the end."""
    return pg_server.create_database(f"test_{uuid.uuid4().hex}")


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
