"""The SQL machinery both backends share: one writer thread that commits in groups, and reads off
the event loop.

Every write goes through one writer thread that takes all writes queued while the previous
commit was in flight and commits them together (group commit); one job's error is its own (the
batch runs again with a SAVEPOINT per job when one fails). The callers of a batch hear its
outcome with one wake-up of their event loop. A write is applied exactly once whatever its
commit does: a transaction that fails (busy, a dropped connection, an error from COMMIT) is
retried with backoff for `retry_for` seconds on a working connection; each batch writes a token
in its own transaction, so when COMMIT's outcome is unknown the writer reads the token back and
either delivers the results of the transaction that committed or runs the batch again. A write
it cannot settle raises `StoreUnavailable`. Reads use a second connection on a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from fuchsia.errors import FuchsiaError, StoreError
from fuchsia.store.records import new_id

T = TypeVar("T")
CLOSING_RETRY = 2.0  # seconds a write is retried once the engine is closing (`closing`)
Row = Sequence[Any]


class OwnershipLost(StoreError):
    """A transition was refused because another owner has taken the execution over."""


class StoreUnwritable(StoreError):
    """The store cannot be written: its database is read-only or its disk is full. Reads
    still work, and the write that raised this changed nothing."""

    code = "store_unwritable"


class StoreUnavailable(StoreError):
    """The store did not take a write for as long as writes are retried (its server down,
    its file locked). The write was not applied, or, when the message says its outcome is
    unknown, it may have been: the database stopped answering after COMMIT was sent. Either
    way nothing already stored is lost; a retry with the same ids or key is safe."""

    code = "store_unavailable"


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]], /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    @property
    def rowcount(self) -> int: ...


# a write: its job, and the future (of the event loop that awaits it) its outcome settles
_WriteJob = tuple[Callable[[Cursor], Any], asyncio.Future[Any]]
_Outcome = tuple[bool, Any]  # (True, the job's result) or (False, the exception it raises)


@dataclass
class _BatchRun:
    """One batch's token (stored with it, so a commit of unknown outcome can be checked)
    and its jobs' results once they all ran."""

    token: str
    outcomes: list[_Outcome] | None = None


class Writer:
    """The writer thread and the read connection of `SqlStore` (its base)."""

    begin: str
    max_batch: int
    retry_for: float
    q: dict[str, str]
    unwritable: str | None
    _jobs: queue.SimpleQueue[_WriteJob | None]
    _writer: threading.Thread | None
    _write_conn: Any
    _read_conn: Any
    _read_lock: threading.Lock
    _closed: bool  # `close` began: no read runs, and none reconnects, from then on
    _writer_id: str
    _write_by: float | None  # `closing` was called: no write is retried past this (monotonic)

    # -- backend hooks -------------------------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def _is_busy(self, exc: Exception) -> bool:
        raise NotImplementedError

    def _is_transient(self, exc: Exception) -> bool:
        raise NotImplementedError

    def _broken(self, conn: Any) -> bool:
        raise NotImplementedError

    def _unwritable_reason(self, exc: BaseException) -> str | None:
        raise NotImplementedError

    def _where(self) -> str:
        raise NotImplementedError

    def _unwritable(self, reason: str) -> StoreUnwritable:
        raise NotImplementedError

    def _pipeline(self, cur: Cursor) -> contextlib.AbstractContextManager[Any]:
        """Where the statements run by `cur` inside it may be sent without waiting for each
        one's answer (a fetch waits for what it reads; an error is raised by the statement
        after it, or at the end: inside the same job either way). `rowcount` is unknown
        inside it: what counts rows uses RETURNING."""
        return contextlib.nullcontext()

    def closing(self, within: float) -> None:
        """The engine is closing: from now on a write is retried for at most
        `CLOSING_RETRY` seconds, and none past `within` seconds from now. A closing
        engine's last writes (its drain, its leave) then give up on a store that does not
        answer, rather than holding the process for `retry_for` each."""
        self._write_by = time.monotonic() + within

    def _retry_until(self, started: float) -> float:
        """Until when (monotonic) a write that began at `started` is retried."""
        if self._write_by is None:
            return started + self.retry_for
        return min(started + self.retry_for, started + CLOSING_RETRY, self._write_by)

    async def _write(self, job: Callable[[Cursor], T]) -> T:
        if self.unwritable is not None:
            raise self._unwritable(self.unwritable)
        if self._writer is None:
            raise StoreError("the store is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((job, future))
        return await future

    def _write_loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._commit(batch)
                    return
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_WriteJob]) -> None:
        """Run a batch in one transaction, exactly once; a job that raises is rolled back
        alone. A failure of the transaction itself (busy, a dropped connection, an error
        from COMMIT) is retried with backoff for up to `retry_for` seconds, on a new
        connection when the old one broke. When COMMIT's outcome is unknown, the batch's
        token (written in the same transaction) says whether it committed: if it did, its
        jobs' results are delivered and nothing runs again; if not, the batch runs again."""
        # A write whose caller was cancelled while it waited in the queue is dropped; one
        # cancelled later runs all the same (its outcome then goes to nobody).
        batch = [item for item in batch if not item[1].cancelled()]
        if not batch:
            return
        run = _BatchRun(new_id())
        started = time.monotonic()
        delay = 0.01
        isolate = False  # each job in a SAVEPOINT: only once one of them failed
        while True:
            try:
                ran = self._run_batch(batch, run, isolate=isolate)
                if ran is None:
                    isolate = True
                    continue
                outcomes = ran
                break
            except Exception as exc:
                self._rollback_quietly()
                reason = self._unwritable_reason(exc)
                if reason is not None:
                    self._fail(batch, self._unwritable(reason))
                    return
                recovered = self._recover(run, started)
                if recovered is not None:
                    outcomes = recovered
                    break
                unknown = run.outcomes is not None  # it may have committed: never run it again
                if unknown or time.monotonic() + delay > self._retry_until(started):
                    self._fail(batch, self._unavailable(exc, started, unknown=unknown))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        _deliver(batch, outcomes)

    def _recover(self, run: _BatchRun, started: float) -> list[_Outcome] | None:
        """After a failed transaction: the jobs' results if it committed after all (its
        token is stored), else None, with a working write connection. Waits (as long as
        the write that began at `started` is retried) for a connection that can tell; when
        none can, `run.outcomes` is left set: the outcome is unknown, and the batch must
        not run again."""
        delay = 0.01
        while True:
            try:
                self._ensure_write_conn()
                if run.outcomes is None:
                    return None  # the jobs had not all run: nothing was committed
                cur = self._write_conn.cursor()
                cur.execute(self.q["select_write_token"], (self._writer_id,))
                row = cur.fetchone()
                if row is not None and row[0] == run.token:
                    return run.outcomes
                run.outcomes = None
                return None
            except Exception:
                self._rollback_quietly()
                if time.monotonic() + delay > self._retry_until(started):
                    return None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _ensure_write_conn(self) -> None:
        """Replace a write connection that broke (a backend whose connection can drop)."""
        if self._broken(self._write_conn):
            with contextlib.suppress(Exception):
                self._write_conn.close()
            self._write_conn = self._connect()

    def _fail(self, batch: list[_WriteJob], error: Exception) -> None:
        _deliver(batch, [(False, error)] * len(batch))

    def _unavailable(self, exc: Exception, started: float, *, unknown: bool) -> StoreUnavailable:
        outcome = "whether it was applied is unknown" if unknown else "it was not applied"
        waited = time.monotonic() - started
        error = StoreUnavailable(
            f"the store at {self._where()} did not take a write in {waited:.1f}s ({exc}); {outcome}"
        )
        error.__cause__ = exc
        return error

    def _run_batch(
        self, batch: list[_WriteJob], run: _BatchRun, *, isolate: bool
    ) -> list[_Outcome] | None:
        """BEGIN, the batch's token, the jobs, COMMIT. `run.outcomes` holds the jobs' results
        from just before COMMIT, for `_recover` to deliver if COMMIT raised after storing.

        A job's error is its own. Jobs rarely fail, so a batch first runs them as they are,
        and only when one raises is the batch rolled back and returned None, to be run
        again with each job in a SAVEPOINT (`isolate`), so the others commit without it: two
        round trips per job fewer on the hot path, the same outcome either way (a rolled
        back transaction stored nothing, and jobs are run again on retries anyway)."""
        run.outcomes = None
        cur = self._write_conn.cursor()
        with self._pipeline(cur):  # one round trip: the token is stored iff the batch is
            cur.execute(self.begin)
            cur.execute(self.q["upsert_write_token"], (self._writer_id, run.token, time.time()))
        outcomes: list[_Outcome] = []
        isolate = isolate and len(batch) > 1
        for job, _ in batch:
            if isolate:
                cur.execute("SAVEPOINT job")
            try:
                outcomes.append((True, job(cur)))
            except Exception as exc:
                if self._is_busy(exc) or self._is_transient(exc):
                    raise
                if self._unwritable_reason(exc) is not None:
                    raise  # the whole batch fails alike, rolled back by `_commit`
                if not isolate:
                    cur.execute("ROLLBACK")
                    return None if len(batch) > 1 else [(False, _job_error(exc))]
                cur.execute("ROLLBACK TO SAVEPOINT job")
                outcomes.append((False, _job_error(exc)))
            if isolate:
                cur.execute("RELEASE SAVEPOINT job")
        run.outcomes = outcomes
        cur.execute("COMMIT")
        return outcomes

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(Exception):  # nothing may be open to roll back
            self._write_conn.cursor().execute("ROLLBACK")

    async def _read(self, job: Callable[[Cursor], T]) -> T:
        """Run a read on the read connection; once more on a new connection when it broke
        (its server restarted, say): a read changes nothing, so running it again is safe.
        Never once the store is closing: a read whose caller was cancelled runs on in its
        thread, and a connection it opened after the close would be held by nobody."""

        def run() -> T:
            with self._read_lock:
                if self._closed:
                    raise StoreError("the store is closed")
                try:
                    return self._read_once(job)
                except Exception:
                    if self._closed or not self._broken(self._read_conn):
                        raise
                with contextlib.suppress(Exception):
                    self._read_conn.close()
                self._read_conn = self._connect()
                return self._read_once(job)

        return await asyncio.to_thread(run)

    def _read_once(self, job: Callable[[Cursor], T]) -> T:
        cur = self._read_conn.cursor()
        try:
            return job(cur)
        finally:
            self._end_read(cur)

    def _end_read(self, cur: Cursor) -> None:
        """Backends whose reads open a transaction end it here."""


def _deliver(batch: list[_WriteJob], outcomes: list[_Outcome]) -> None:
    """Settle a batch's futures from the writer thread: one wake-up of each event loop for
    the whole batch, not one per write."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(future.get_loop(), []).append((future, outcome))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # its loop closed: nobody awaits them
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Any], _Outcome]]) -> None:
    """On the loop: each future's outcome, unless its caller was cancelled meanwhile."""
    for future, (ok, value) in settled:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _job_error(exc: Exception) -> Exception:
    """What a failed write raises: Fuchsia's own errors as they are, and a database error
    (a constraint violation, say) as a `StoreError`, the same for both backends."""
    if isinstance(exc, FuchsiaError):
        return exc
    error = StoreError(f"store write failed: {exc}")
    error.__cause__ = exc
    return error
