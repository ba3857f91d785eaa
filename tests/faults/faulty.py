"""Fault injection into a real store's writer, at the statement every write ends with: COMMIT.

`inject(store, mode, seed)` wraps the write connection of an open `SqlStore` (SQLite or
PostgreSQL, as `fuchsia.store.open_store` builds it; no mock) so that a seeded fraction of its
COMMITs fail, in one of three ways:

- `ambiguous`: COMMIT runs, then an error is raised: the caller is told the write failed
  although it is stored (a connection dropped while COMMIT's answer was on its way; on
  PostgreSQL the connection is really closed, on SQLite an I/O error is raised).
- `rolled_back`: an error is raised instead of COMMIT; the store rolls the transaction back.
- `busy`: the backend's busy or connection error instead of COMMIT: SQLite's "database is
  locked" (SQLITE_BUSY), PostgreSQL's `OperationalError` after closing the connection, so the
  store must reconnect.

Connections the store opens later (a reconnect) are wrapped too. With `blind_after`, that many
statements and connects fail after each fault, as while a server is unreachable.
`Faults.injected` counts what was injected, so a test can prove that faults happened.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections import Counter
from typing import Any

import psycopg

from fuchsia.errors import StoreError
from fuchsia.store.base import SqlStore

MODES = ("ambiguous", "rolled_back", "busy")
SQLITE_BUSY, SQLITE_IOERR = 5, 10


class Faults:
    """The decisions (seeded) and the count of faults injected into one store."""

    def __init__(
        self, store: SqlStore, mode: str, seed: int, rate: float, limit: int | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.store = store
        self.mode = mode
        self.rate = rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.commits = 0
        self.limit = limit  # at most this many faults, when given
        # after each fault, this many more statements and connects fail (the server stays
        # unreachable for a while, so the outcome of an ambiguous commit cannot be read back)
        self.blind_after = 0
        self.blind = 0
        self.batch = 0  # writes in the transaction now running (one writer thread)
        self.writes_failed = 0  # writes whose transaction a fault hit
        self.writes = 0  # writes in every transaction run (a retried one counts again)

    def due(self) -> bool:
        with self.lock:
            self.commits += 1
            if self.limit is not None and sum(self.injected.values()) >= self.limit:
                return False
            return self.random.random() < self.rate

    def commit(self, conn: Any, cur: Any, sql: str) -> Any:
        """Run (or fail) one COMMIT on the real connection `conn`."""
        if not self.due():
            return cur.execute(sql)
        with self.lock:
            self.injected[self.mode] += 1
            self.blind = self.blind_after
            self.writes_failed += self.batch
        if self.mode == "ambiguous":
            cur.execute(sql)
            raise self._lost(conn, "the connection was lost while COMMIT was answered")
        if self.mode == "rolled_back":
            raise self._lost(conn, "the transaction failed before COMMIT", close=False)
        if isinstance(conn, sqlite3.Connection):
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = SQLITE_BUSY
            error.sqlite_errorname = "SQLITE_BUSY"
            raise error
        raise self._lost(conn, "server closed the connection unexpectedly")

    def unreachable(self, conn: Any) -> None:
        """Raise while the store is blind after a fault."""
        with self.lock:
            if self.blind <= 0:
                return
            self.blind -= 1
        raise self._lost(conn, "the database is unreachable")

    def _lost(self, conn: Any, message: str, *, close: bool = True) -> Exception:
        """The backend's error for a failed commit (on PostgreSQL the connection is closed
        for real when `close`, as a dropped connection would be)."""
        if isinstance(conn, sqlite3.Connection):
            error = sqlite3.OperationalError(f"disk I/O error (injected: {message})")
            error.sqlite_errorcode = SQLITE_IOERR
            error.sqlite_errorname = "SQLITE_IOERR"
            return error
        if close:
            conn.close()
        return psycopg.OperationalError(f"injected: {message}")


class _Cursor:
    def __init__(self, faults: Faults, conn: Any, cur: Any) -> None:
        self._faults, self._conn, self._cur = faults, conn, cur

    def execute(self, sql: str, params: Any = None) -> Any:
        self._faults.unreachable(self._conn)
        if sql.strip().upper() == "COMMIT":
            return self._faults.commit(self._conn, self._cur, sql)
        return self._cur.execute(sql) if params is None else self._cur.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


class _Connection:
    """A real connection whose cursors fail some COMMITs."""

    def __init__(self, faults: Faults, conn: Any) -> None:
        self._faults, self._conn = faults, conn

    def cursor(self) -> _Cursor:
        return _Cursor(self._faults, self._conn, self._conn.cursor())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def inject(
    store: SqlStore, mode: str, seed: int, rate: float = 0.05, limit: int | None = None
) -> Faults:
    """Make a seeded `rate` of the open `store`'s commits fail as `mode` describes (at most
    `limit` of them)."""
    faults = Faults(store, mode, seed, rate, limit)
    connect = store._connect

    def connect_wrapped() -> Any:
        with faults.lock:
            if faults.blind > 0:
                faults.blind -= 1
                raise StoreError("cannot connect (injected: the database is unreachable)")
        return _Connection(faults, connect())

    run_batch = store._run_batch

    def run_batch_counted(batch: Any, run: Any, *, isolate: bool) -> Any:
        faults.batch = len(batch)
        faults.writes += len(batch)
        return run_batch(batch, run, isolate=isolate)

    store._write_conn = _Connection(faults, store._write_conn)
    store._connect = connect_wrapped  # type: ignore[method-assign]
    store._run_batch = run_batch_counted  # type: ignore[method-assign]
    return faults
