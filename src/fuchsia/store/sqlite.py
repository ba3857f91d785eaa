"""SQLite backend: WAL mode, durable against power loss by default (`synchronous=FULL`).

`synchronous=normal` (in the URL: `sqlite:///path?synchronous=normal`) keeps every committed
transition across a crash of the process but may lose the last commits on power loss; it makes
each commit about ten times cheaper. Several processes may share one file: writers take the
lock with `BEGIN IMMEDIATE` and wait for each other (`busy_timeout`) instead of failing.

Opening an existing, migrated store writes nothing. When the file or its file system is
read-only, or the disk is full, the store opens for reading only (`mode=ro`, or `immutable=1`
when SQLite cannot create the WAL index and no WAL content is pending), and every write
raises `StoreUnwritable` saying why.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from fuchsia.errors import StoreError
from fuchsia.store.base import SqlStore, migrations

SYNCHRONOUS = ("full", "normal")
BUSY_TIMEOUT_MS = 60_000
# Primary result codes that a read-only or full file system produces.
_READONLY, _FULL, _IOERR, _CANTOPEN, _PERM = 8, 13, 10, 14, 3


class SqliteStore(SqlStore):
    backend = "sqlite"
    placeholder = "?"
    begin = "BEGIN IMMEDIATE"
    # julianday gives milliseconds (`unixepoch('subsec')` needs SQLite 3.42); writes take the
    # whole database, so rows need no locks of their own
    dialect: ClassVar[dict[str, str]] = {
        "now": "((julianday('now') - 2440587.5) * 86400.0)",
        "lock_row": "",
        "skip_locked": "",
        "skip_locked_rows": "",
    }

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
            # The journal mode is kept in the file: set it only on a new store, since
            # setting it writes, and a read must not need to write.
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal" and (
                conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal"
            ):
                raise StoreError(f"{self.path}: could not switch the database to WAL mode")
            conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            conn.execute("PRAGMA foreign_keys = ON")
            if self.keyring is not None:
                # what a rotation or an overwrite frees is zeroed, not left in free pages
                conn.execute("PRAGMA secure_delete = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _is_busy(self, exc: Exception) -> bool:
        if not isinstance(exc, sqlite3.OperationalError):
            return False
        code: int = getattr(exc, "sqlite_errorcode", 0)  # the low byte is the primary code
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

    def _where(self) -> str:
        return str(self.path)

    def _unwritable_reason(self, exc: BaseException) -> str | None:
        """SQLite's read-only and disk-full codes, and the I/O and open errors a read-only or
        full file system causes (checked on the file system itself)."""
        code = getattr(exc, "sqlite_errorcode", None)
        if not isinstance(exc, sqlite3.Error) or code is None:
            return None
        if code & 0xFF not in (_READONLY, _FULL, _IOERR, _CANTOPEN, _PERM):
            return None
        try:
            fs = os.statvfs(self.path.parent)
        except OSError:
            fs = None
        if fs is not None and fs.f_flag & os.ST_RDONLY:
            return "its file system is read-only"
        if (fs is not None and fs.f_bavail == 0) or code & 0xFF == _FULL:
            return "the disk is full"
        if code & 0xFF == _READONLY or not os.access(self.path, os.W_OK):
            return "the database file is read-only"
        return None

    def _connect_read_only(self) -> sqlite3.Connection:
        """`mode=ro` (sees the WAL other processes write); `immutable=1` when the WAL index
        cannot be created on this file system and there is no WAL content it would miss."""
        try:
            return self._connect_uri("mode=ro")
        except sqlite3.Error as exc:
            wal = Path(f"{self.path}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise StoreError(
                    f"cannot open the SQLite store at {self.path} for reading: {exc}"
                ) from None
        try:
            return self._connect_uri("immutable=1")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store at {self.path}: {exc}") from None

    def _connect_uri(self, options: str) -> sqlite3.Connection:
        if not self.path.exists():
            raise sqlite3.OperationalError(os.strerror(errno.ENOENT))
        uri = f"file:{quote(str(self.path.absolute()))}?{options}"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _pending_migrations(self, conn: Any) -> list[int]:
        try:
            listed = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                ("schema_migrations",),
            ).fetchone()[0]
            rows = conn.execute("SELECT version FROM schema_migrations") if listed else []
            done = {r[0] for r in rows}
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the SQLite store at {self.path}: {exc}") from None
        return [version for version, _, _ in migrations(self.backend) if version not in done]

    def _migrate(self, conn: Any) -> None:
        """Apply numbered migrations not yet applied, each in its own transaction. A store
        with none to apply is only read."""
        if not self._pending_migrations(conn):
            return
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
