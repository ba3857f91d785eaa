"""SQLite backend: WAL mode, durable against power loss by default (`synchronous=FULL`).

`synchronous=normal` (in the URL: `sqlite:///path?synchronous=normal`) keeps every committed
transition across a crash of the process but may lose the last commits on power loss; it makes
each commit about ten times cheaper. Several processes may share one file: writers take the
lock with `BEGIN IMMEDIATE` and wait for each other (`busy_timeout`) instead of failing.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from fuchsia.errors import StoreError
from fuchsia.store.base import SqlStore, migrations

SYNCHRONOUS = ("full", "normal")
BUSY_TIMEOUT_MS = 60_000


class SqliteStore(SqlStore):
    backend = "sqlite"
    placeholder = "?"
    begin = "BEGIN IMMEDIATE"

    def __init__(self, path: str | Path, *, synchronous: str = "full") -> None:
        if synchronous not in SYNCHRONOUS:
            raise StoreError(
                f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}"
            )
        self.path = Path(path)
        self.synchronous = synchronous
        super().__init__(f"sqlite:///{self.path}")

    def _connect(self) -> sqlite3.Connection:
        """Open a connection in WAL mode. Switching a new file to WAL needs a moment of
        exclusive access and SQLite does not wait for it, so several processes opening one
        new store at once retry here instead of failing."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.01
        while True:
            try:
                return self._connect_once()
            except sqlite3.OperationalError as exc:
                if not self._is_busy(exc) or time.monotonic() > deadline:
                    raise StoreError(
                        f"cannot open the SQLite store at {self.path}: {exc}"
                    ) from None
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(f"cannot open the SQLite store at {self.path}: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _connect_once(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise StoreError(f"{self.path}: could not switch the database to WAL mode")
            conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _is_busy(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()

    def _migrate(self, conn: Any) -> None:
        """Apply numbered migrations not yet applied, each in its own transaction."""
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            for version, name, sql in migrations(self.backend):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    done = conn.execute(
                        "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
                    ).fetchone()
                    if done is None:
                        for statement in _statements(sql):
                            conn.execute(statement)
                        conn.execute(
                            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                            (version, name, time.time()),
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot migrate the SQLite store at {self.path}: {exc}") from None


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
