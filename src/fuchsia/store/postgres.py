"""PostgreSQL backend (psycopg 3): the same tables and queries as SQLite.

Commits use PostgreSQL's default durability. Migrations run under an advisory lock, so
several processes opening one database at once apply each migration exactly once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import psycopg
import psycopg.conninfo

from fuchsia.errors import StoreError
from fuchsia.store.base import Cursor, SqlStore, migrations
from fuchsia.store.sqlite import _statements

_MIGRATION_LOCK = 7_402_113_901
WORK_CHANNEL = "fuchsia_work"  # NOTIFY'd when executions are left for workers to claim
# Every connection gives up on a server that stopped answering (a black-holed network, a
# host gone) in seconds, not after the kernel's ~15 minutes of retransmissions: a connect
# times out, an idle connection is probed, and data unacknowledged this long (ms) fails the
# call. A URL may set any of these itself; what it sets wins.
CONNECTION_SETTINGS: dict[str, int] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


class PostgresStore(SqlStore):
    backend = "postgres"
    placeholder = "%s"
    begin = "BEGIN"
    dialect: ClassVar[dict[str, str]] = {
        "now": "extract(epoch from clock_timestamp())::double precision",
        "lock_row": "FOR NO KEY UPDATE",
        "skip_locked": "FOR UPDATE OF e SKIP LOCKED",
        "skip_locked_rows": "FOR UPDATE SKIP LOCKED",
    }
    notify_sql = f"SELECT pg_notify('{WORK_CHANNEL}', '')"

    def __init__(self, url: str) -> None:
        super().__init__(url)

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._conninfo(), autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {_redact(self.url)}: {exc}"
            ) from None

    def _conninfo(self) -> str:
        """The URL with `CONNECTION_SETTINGS` added where it does not set them."""
        given = psycopg.conninfo.conninfo_to_dict(self.url)
        extra = {k: v for k, v in CONNECTION_SETTINGS.items() if k not in given}
        if psycopg.pq.version() < 120000:  # a libpq before 12 refuses the option
            extra.pop("tcp_user_timeout", None)
        return psycopg.conninfo.make_conninfo(self.url, **extra)

    def _is_busy(self, exc: Exception) -> bool:
        return isinstance(
            exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected
        )

    def _is_transient(self, exc: Exception) -> bool:
        """A connection that failed (dropped, server restarting) fails the batch, which is
        retried on a new connection; `DiskFull`, also operational, is not transient."""
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and (
            self._unwritable_reason(exc) is None
        )

    def _broken(self, conn: Any) -> bool:
        return conn is None or bool(conn.closed or conn.broken)

    def _unwritable_reason(self, exc: BaseException) -> str | None:
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            return "the database is read-only (a standby, or default_transaction_read_only)"
        if isinstance(exc, psycopg.errors.DiskFull):
            return "the database server's disk is full"
        return None

    def _where(self) -> str:
        return _redact(self.url)

    def _pipeline(self, cur: Cursor) -> contextlib.AbstractContextManager[Any]:
        """psycopg's pipeline mode on the write connection."""
        pipeline: contextlib.AbstractContextManager[Any] = cur.connection.pipeline()  # type: ignore[attr-defined]
        return pipeline

    def _side_cursor(self, cur: Cursor) -> Cursor:
        side: Cursor = cur.connection.cursor()  # type: ignore[attr-defined]
        return side

    def _connect_read_only(self) -> psycopg.Connection[Any]:
        return self._connect()

    def _pending_migrations(self, conn: Any) -> list[int]:
        try:
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        except psycopg.errors.UndefinedTable:
            done = set()
        except psycopg.Error as exc:
            raise StoreError(f"cannot read the PostgreSQL store: {exc}") from None
        return [version for version, _, _ in migrations(self.backend) if version not in done]

    def _migrate(self, conn: Any) -> None:
        """Apply the migrations not yet applied; a store with none to apply is only read."""
        if not self._pending_migrations(conn):
            return
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
                )
                applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
                for version, name, sql in migrations(self.backend):
                    if version in applied:
                        continue
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                        (version, name, time.time()),
                    )
        except psycopg.Error as exc:
            raise StoreError(f"cannot migrate the PostgreSQL store: {exc}") from None

    def _end_read(self, cur: Cursor) -> None:
        """Reads run in autocommit mode: nothing to end."""

    def listen(self, wake: Callable[[], None], *, poll: float = 1.0) -> Callable[[], None]:
        """Call `wake` (from a thread of its own) whenever work is left for workers, and once
        after each reconnection (notifications sent while disconnected are lost); returns
        the function that stops listening. Polling stays the fallback: this only wakes a
        worker sooner. Once stopped it calls `wake` no more: the thread may still be
        connecting then, and what `wake` wakes (an event loop) may be gone."""
        stop = threading.Event()

        def fire() -> None:
            if stop.is_set():
                return
            try:
                wake()
            except RuntimeError:
                if not stop.is_set():  # stopped meanwhile: its loop may have closed
                    raise

        def run() -> None:
            while not stop.is_set():
                try:
                    with psycopg.connect(self._conninfo(), autocommit=True) as conn:
                        conn.execute(f"LISTEN {WORK_CHANNEL}")
                        fire()
                        while not stop.is_set():
                            for _ in conn.notifies(timeout=poll, stop_after=1):
                                fire()
                except psycopg.Error:
                    stop.wait(poll)

        thread = threading.Thread(target=run, name="fuchsia-listen", daemon=True)
        thread.start()
        return stop.set


def _redact(url: str) -> str:
    """Hide a password in a connection URL before it appears in a message."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
