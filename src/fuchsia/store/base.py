"""The store interface, and the SQL store both backends share.

`Store` is the protocol the runtime, CLI and tests program against. `SqlStore` implements it
for any DB-API connection, from parts: the group-committing writer and the reads
(`fuchsia.store.writer`), executions and their reads (here), transitions under their fence
(`fuchsia.store.transitions`), ownership, leases and claims (`fuchsia.store.ownership`),
deployments, tokens and trigger records (`fuchsia.store.catalog`), artifacts, blobs and kv
(`fuchsia.store.blobs`), and shared attempts (`fuchsia.store.sharing`). Backends supply the
connections, the migration files and the dialect details. A chain of nodes pays one durable
commit per step, and fifty concurrent executions share one commit per round.

With a keyring (`fuchsia.store.cipher`), every value a user sends or a task produces is sealed
before it is written and opened after it is read, in the store and nowhere else. A store whose
database refuses writes (read-only, disk full) opens for reading and its writes raise
`StoreUnwritable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any, ClassVar, Protocol, TypeVar

from fuchsia.errors import (
    ExecutionNotFound,
    StoreError,
)
from fuchsia.states import AttemptStatus, Control, ExecutionStatus, NodeStatus
from fuchsia.store.blobs import Blobs, content_hash
from fuchsia.store.catalog import Catalog
from fuchsia.store.cipher import Keyring, open_text, seal_text
from fuchsia.store.listing import Listing
from fuchsia.store.ownership import Claimed, Outlook, Ownership
from fuchsia.store.records import (
    ArtifactRef,
    AttemptRecord,
    Deployment,
    EventRecord,
    ExecutionRecord,
    KvChanges,
    NewExecution,
    NodeRecord,
    OpenExecution,
    OwnerRecord,
    SharedAttempt,
    TokenRecord,
    Transition,
    UnitKey,
    dumps,
    nest_items,
    new_id,
    stored_label,
)
from fuchsia.store.sharing import Key as SharedKey
from fuchsia.store.sharing import Sharing
from fuchsia.store.transitions import Transitions
from fuchsia.store.writer import (
    Cursor,
    OwnershipLost,
    Row,
    StoreUnavailable,
    StoreUnwritable,
    Writer,
    _WriteJob,
)

T = TypeVar("T")


def _item(stored: int | None) -> int | None:
    return None if stored is None or stored < 0 else stored


class Store(Protocol):
    """Everything Fuchsia keeps. Both backends pass the same test suite."""

    url: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    def closing(self, within: float) -> None: ...
    async def create_execution(self, new: NewExecution) -> tuple[ExecutionRecord, bool]: ...
    async def apply(self, transition: Transition) -> None: ...
    async def get_execution(self, execution_id: str) -> ExecutionRecord: ...
    async def resolve_id(self, prefix: str) -> str: ...
    async def has_execution(self, execution_id: str) -> bool: ...
    async def list_executions(
        self,
        *,
        limit: int = 50,
        status: str | None = None,
        before: str | None = None,
        workflow: str | None = None,
    ) -> list[ExecutionRecord]: ...
    async def children(self, parent_id: str, limit: int = ...) -> list[ExecutionRecord]: ...
    async def error_counts(self, execution_ids: Iterable[str]) -> dict[str, int]: ...
    async def last_events(
        self, execution_id: str, limit: int, node_logs: str | None = None
    ) -> list[EventRecord]: ...
    async def get_nodes(self, execution_id: str) -> dict[str, NodeRecord]: ...
    async def get_execution_and_nodes(
        self, execution_id: str
    ) -> tuple[ExecutionRecord, dict[str, NodeRecord]]: ...
    async def get_events(self, execution_id: str, after: int = 0) -> list[EventRecord]: ...
    async def get_workflow(self, workflow_hash: str) -> str: ...
    async def heartbeat(self, owner: OwnerRecord, lease: float = ...) -> bool: ...
    async def forget_owner(self, owner_id: str) -> None: ...
    async def forget_stale_owners(self, older_than: float) -> None: ...
    async def owners(self) -> list[OwnerRecord]: ...
    async def outlook(self, at_most: int) -> Outlook: ...
    async def open_executions(self) -> list[OpenExecution]: ...
    async def claim(self, execution_id: str, owner: str, previous: str | None) -> bool: ...
    async def release(self, execution_id: str, owner: str) -> bool: ...
    async def claim_open(self, owner: str, limit: int) -> list[Claimed]: ...
    async def claimable(self) -> int: ...
    async def owned(self, owner: str) -> set[str]: ...
    async def reject(
        self,
        execution_id: str,
        attempts: Iterable[tuple[UnitKey, int]],
        worker: str,
        reason: str,
        owner: str | None = ...,
    ) -> None: ...
    async def counters(self) -> dict[str, int]: ...
    async def claim_work(
        self, worker: str, name: str, limit: int, *, own_after: float | None = None
    ) -> list[SharedAttempt]: ...
    async def finish_work(self, work: SharedAttempt, worker: str, outcome: str) -> bool: ...
    async def finished_work(self, owner: str) -> list[tuple[SharedKey, Any]]: ...
    async def held_work(self, worker: str) -> set[tuple[SharedKey, int]]: ...
    async def release_work(self, worker: str) -> None: ...
    async def release_claims(self, worker: str, claims: list[tuple[SharedKey, int]]) -> None: ...
    async def reclaim_lost(self) -> int: ...
    async def ready_work(self) -> int: ...
    async def request(self, execution_id: str, control: str) -> bool: ...
    async def send_signal(self, execution_id: str, name: str, payload: Any) -> int: ...
    async def open_children(self, parent_id: str) -> list[str]: ...
    async def deploy(self, name: str, version: int, workflow_hash: str, document: str) -> bool: ...
    async def deployments(self, name: str | None = None) -> list[Deployment]: ...
    async def set_active(self, name: str, version: int, active: bool) -> bool: ...
    async def set_pinned(self, name: str, version: int | None) -> bool: ...
    async def add_token(
        self, token_id: str, name: str, token_hash: str, scopes: tuple[str, ...]
    ) -> None: ...
    async def tokens(self) -> list[TokenRecord]: ...
    async def token_by_hash(self, token_hash: str) -> TokenRecord | None: ...
    async def revoke_token(self, token_id: str) -> bool: ...
    async def record_fire(
        self, workflow: str, instant: float, kind: str, execution_id: str | None
    ) -> bool: ...
    async def last_fire(self, workflow: str) -> float | None: ...
    async def metrics(self) -> dict[str, list[Row]]: ...
    async def next_signal(self, execution_id: str, name: str) -> tuple[int, Any] | None: ...
    async def controls(self, owner: str) -> list[tuple[str, str]]: ...
    async def put_artifact(
        self, execution_id: str, node_id: str | None, name: str, content_type: str, data: bytes
    ) -> ArtifactRef: ...
    async def put_blob(self, data: bytes, execution_id: str) -> str: ...
    async def sweep_blobs(self, before: float) -> int: ...
    async def list_artifacts(self, execution_id: str) -> list[ArtifactRef]: ...
    async def get_blob(self, content_hash: str) -> bytes: ...
    async def get_artifact(self, artifact_id: str) -> tuple[ArtifactRef, str, bytes]: ...
    async def load_value(self, artifact_id: str) -> Any: ...
    async def kv_get(self, scope: str, key: str) -> str | None: ...
    async def kv_set(self, scope: str, key: str, value: str) -> None: ...
    async def kv_delete(self, scope: str, key: str) -> None: ...
    async def kv_commit(self, kv: KvChanges) -> None: ...
    async def claim_delivery(self, key: str, body_sha256: str) -> str: ...


def load_queries(placeholder: str, dialect: dict[str, str] | None = None) -> dict[str, str]:
    """Read `queries.sql` into {name: sql}, with `?` replaced by the backend's placeholder and
    each `{token}` by the backend's SQL for it (`{now}`: the database clock in seconds since
    the epoch; `{lock_row}`, `{skip_locked}`, `{skip_locked_rows}`: row locks, where the
    backend has them)."""
    text = resources.files("fuchsia.store").joinpath("queries.sql").read_text()
    queries: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        if line.startswith("-- name:"):
            name = line.split(":", 1)[1].strip()
            queries[name] = ""
        elif name and not line.startswith("--"):
            queries[name] += line + "\n"
    tokens = {"{" + k + "}": v for k, v in (dialect or {}).items()}

    def finish(sql: str) -> str:
        sql = sql.strip().rstrip(";").replace("?", placeholder)
        for token, value in tokens.items():
            sql = sql.replace(token, value)
        return sql

    return {k: finish(v) for k, v in queries.items()}


def migrations(backend: str) -> list[tuple[int, str, str]]:
    """The numbered migration files for a backend: (version, name, sql), in order."""
    folder = resources.files("fuchsia.store").joinpath("migrations", backend)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


# Inputs, outputs and results whose JSON is longer than this many bytes are stored as
# artifacts and the row names the artifact (DESIGN.md §4 "large values"): rows the runtime
# reads on every transition and listing stay small, and equal values share one blob.
DEFAULT_INLINE_LIMIT = 256 * 1024
CLOSE_WAIT = 15.0  # seconds a closing store waits for a read still running to end


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class SqlStore(Writer, Transitions, Catalog, Blobs, Listing, Ownership, Sharing):
    """A `Store` over DB-API connections with a group-committing writer thread."""

    backend = ""
    placeholder = "?"
    begin = "BEGIN"
    dialect: ClassVar[dict[str, str]] = {}  # the SQL of the `{tokens}` in queries.sql
    max_batch = 512
    # seconds a write is retried while the database is busy or unreachable
    retry_for = 60.0

    def __init__(self, url: str) -> None:
        self.url = url
        self.inline_limit = DEFAULT_INLINE_LIMIT
        # With a keyring, payloads, contexts, inputs, outputs, results, signal payloads, kv
        # values and blobs are stored sealed (see `fuchsia.store.cipher`); without one they
        # are stored as they are. Sealed rows need their key to be read either way.
        self.keyring: Keyring | None = None
        self.q = load_queries(self.placeholder, self.dialect)
        self._multi_rows: dict[tuple[str, int], str] = {}  # `_multi_row`'s statements
        self._jobs: queue.SimpleQueue[_WriteJob | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._write_conn: Any = None
        self._read_conn: Any = None
        self._read_lock = threading.Lock()
        self._closed = False
        # this store's row in `write_tokens`: see `_commit`
        self._writer_id = new_id()
        # hashes of the workflows this store has committed (rows never go): not inserted again
        self._stored_workflows: set[str] = set()
        self._write_by: float | None = None
        # Set when the store was opened for reading only: why it cannot be written.
        self.unwritable: str | None = None

    # -- backend hooks -------------------------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def _migrate(self, conn: Any) -> None:
        raise NotImplementedError

    def _is_busy(self, exc: Exception) -> bool:
        return False

    def _is_transient(self, exc: Exception) -> bool:
        """Whether `exc`, raised by a job, is the connection's failure, not the job's."""
        return False

    def _broken(self, conn: Any) -> bool:
        """Whether `conn` can no longer be used (closed, or its server went away)."""
        return False

    def _unwritable_reason(self, exc: BaseException) -> str | None:
        """Why `exc` means the database cannot take writes (read-only, disk full), or None."""
        return None

    def _connect_read_only(self) -> Any:
        """A connection that only reads, for a store that cannot be written."""
        raise NotImplementedError

    def _pending_migrations(self, conn: Any) -> list[int]:
        """Versions of the migrations not applied yet, found by reading only."""
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        self._closed = False
        self._stored_workflows.clear()  # the database may be another one now
        self._write_by = None
        await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> None:
        """Open for writing; when the database is read-only or its disk is full, open for
        reading only, so listing and inspecting runs still work. Opening writes nothing
        unless a migration is due (and a due migration that cannot be written is an error:
        the schema would not match)."""
        try:
            conn = self._connect()
            try:
                self._migrate(conn)
            except BaseException:
                conn.close()
                raise
        except StoreError as exc:
            reason = self._unwritable_reason(exc.__context__ or exc)
            if reason is None:
                raise
            self._open_read_only(reason)
            return
        self._write_conn = conn
        self._read_conn = self._connect()
        self._writer = threading.Thread(
            target=self._write_loop, name="fuchsia-store-writer", daemon=True
        )
        self._writer.start()

    def _open_read_only(self, reason: str) -> None:
        conn = self._connect_read_only()
        try:
            pending = self._pending_migrations(conn)
        except BaseException:
            conn.close()
            raise
        if pending:
            conn.close()
            raise StoreUnwritable(
                f"the store at {self._where()} needs migration {pending[0]} but cannot be "
                f"written ({reason}); nothing was changed"
            )
        self._read_conn = conn
        self.unwritable = reason

    def _where(self) -> str:
        return self.url

    def _unwritable(self, reason: str) -> StoreUnwritable:
        return StoreUnwritable(
            f"cannot write to the store at {self._where()}: {reason}; reads still work and "
            "nothing already stored was changed"
        )

    async def close(self) -> None:
        if self._writer is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
            with contextlib.suppress(Exception):  # a leftover row is harmless
                delete = self.q["delete_write_token"]
                await asyncio.to_thread(self._write_conn.execute, delete, (self._writer_id,))
        await asyncio.to_thread(self._close_connections)

    def _close_connections(self) -> None:
        """Close both connections, the read one once the read running on it ends (its
        caller may have been cancelled, its thread not): a read never sees its connection
        closed under it, and none reconnects afterwards. One that does not end within
        `CLOSE_WAIT` (a server gone silent) has its connection closed all the same."""
        self._closed = True
        waited = self._read_lock.acquire(timeout=CLOSE_WAIT)
        try:
            for conn in (self._write_conn, self._read_conn):
                if conn is not None:
                    conn.close()
            self._write_conn = self._read_conn = None
        finally:
            if waited:
                self._read_lock.release()

    # -- executions ----------------------------------------------------------------------

    async def create_execution(self, new: NewExecution) -> tuple[ExecutionRecord, bool]:
        """Insert an execution, or return the existing one with the same idempotency key."""
        q = self.q
        now = time.time()

        stored = new.workflow_hash in self._stored_workflows
        payload, context = dumps(new.payload), dumps(new.context)

        def job(cur: Cursor) -> tuple[str, bool]:
            if not stored:
                cur.execute(
                    q["insert_workflow"],
                    (
                        new.workflow_hash,
                        new.workflow_name,
                        new.workflow_version,
                        new.workflow_document,
                        now,
                    ),
                )
            if new.idempotency_key is not None:
                cur.execute(q["select_execution_by_key"], (new.idempotency_key,))
                row = cur.fetchone()
                if row is not None:
                    return row[0], False
            cur.execute(
                q["insert_execution"],
                (
                    new.id,
                    new.workflow_hash,
                    new.workflow_name,
                    new.workflow_version,
                    new.status,
                    self._seal(payload, "executions", new.id, "payload"),
                    self._seal(context, "executions", new.id, "context"),
                    new.idempotency_key,
                    new.owner,
                    new.parent_id,
                    now,
                    now,
                    new.trace_id,
                    new.trace_parent,
                    new.trace_link,
                ),
            )
            if cur.rowcount == 1:
                if new.kv is not None:
                    self._write_kv(cur, new.kv, now)
                if new.owner is None:  # recorded for a worker to run
                    self._notify(cur)
                return new.id, True
            cur.execute(q["select_execution"], (new.id,))
            if cur.fetchone() is not None:  # its id is new: this request created it before
                return new.id, True
            # Another process committed the same idempotency key after the look-up above.
            if new.idempotency_key is not None:
                cur.execute(q["select_execution_by_key"], (new.idempotency_key,))
                row = cur.fetchone()
                if row is not None:
                    return row[0], False
            raise StoreError(f"an execution with id {new.id} already exists")

        execution_id, created = await self._write(job)
        self._stored_workflows.add(new.workflow_hash)
        if created:
            return _created(new, json.loads(payload), json.loads(context), now), True
        return await self.get_execution(execution_id), False

    def _seal(self, text: str | None, *where: str) -> str | None:
        return seal_text(self.keyring, text, where)

    def _open(self, text: str | None, *where: str) -> Any:
        """A JSON column's value, decrypted if it was stored sealed."""
        return _loads(open_text(self.keyring, text, where))

    def _execution(self, row: Row) -> ExecutionRecord:
        return _execution(row, self._open)

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        def job(cur: Cursor) -> Row | None:
            cur.execute(self.q["select_execution"], (execution_id,))
            row: Row | None = cur.fetchone()
            return row

        row = await self._read(job)
        if row is None:
            raise ExecutionNotFound(execution_id)
        return self._execution(row)

    async def has_execution(self, execution_id: str) -> bool:
        """Whether an execution of that exact id exists (nothing of it is read)."""

        def job(cur: Cursor) -> bool:
            cur.execute(self.q["select_execution_exists"], (execution_id,))
            return cur.fetchone() is not None

        return await self._read(job)

    async def resolve_id(self, prefix: str) -> str:
        """The full id of the one execution whose id starts with `prefix`."""

        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_execution_ids_by_prefix"], (len(prefix), prefix))
            return cur.fetchall()

        rows = await self._read(job)
        if len(rows) != 1:
            if rows:
                raise StoreError(f"id prefix {prefix!r} matches several executions; give more")
            raise ExecutionNotFound(prefix)
        return str(rows[0][0])

    async def get_nodes(self, execution_id: str) -> dict[str, NodeRecord]:
        return self._nodes(execution_id, *await self._read(self._node_rows(execution_id)))

    async def get_execution_and_nodes(
        self, execution_id: str
    ) -> tuple[ExecutionRecord, dict[str, NodeRecord]]:
        """`get_execution` and `get_nodes` in one read: one trip to the read thread (each
        SELECT still reads the latest committed rows, as the two reads did)."""
        node_rows = self._node_rows(execution_id)

        def job(cur: Cursor) -> tuple[Row | None, list[Row], list[Row]]:
            cur.execute(self.q["select_execution"], (execution_id,))
            row: Row | None = cur.fetchone()
            if row is None:
                return None, [], []
            return row, *node_rows(cur)

        row, nodes, attempts = await self._read(job)
        if row is None:
            raise ExecutionNotFound(execution_id)
        return self._execution(row), self._nodes(execution_id, nodes, attempts)

    def _node_rows(self, execution_id: str) -> Callable[[Cursor], tuple[list[Row], list[Row]]]:
        def job(cur: Cursor) -> tuple[list[Row], list[Row]]:
            cur.execute(self.q["select_nodes"], (execution_id,))
            nodes = cur.fetchall()
            cur.execute(self.q["select_attempts"], (execution_id,))
            return nodes, cur.fetchall()

        return job

    def _nodes(
        self, execution_id: str, node_rows: list[Row], attempt_rows: list[Row]
    ) -> dict[str, NodeRecord]:
        attempts: dict[tuple[str, int], list[AttemptRecord]] = {}
        for r in attempt_rows:
            where = ("attempts", execution_id, stored_label(r[0], r[1]), str(r[2]))
            attempts.setdefault((r[0], r[1]), []).append(
                AttemptRecord(
                    number=r[2],
                    status=AttemptStatus(r[3]),
                    inputs=self._open(r[4], *where, "inputs"),
                    output=self._open(r[5], *where, "output"),
                    error=_loads(r[6]),
                    started_at=r[7],
                    finished_at=r[8],
                    inputs_artifact=r[9],
                    output_artifact=r[10],
                    worker=r[11],
                )
            )
        units = [
            NodeRecord(
                node_id=r[0],
                status=NodeStatus(r[2]),
                attempts=attempts.get((r[0], r[1]), []),
                ready_at=r[4],
                error=_loads(r[5]),
                item=_item(r[1]),
            )
            for r in node_rows
        ]
        return nest_items(units)

    async def get_events(self, execution_id: str, after: int = 0) -> list[EventRecord]:
        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_events"], (execution_id, after))
            return cur.fetchall()

        return [self._event(r) for r in await self._read(job)]

    def _event(self, r: Row) -> EventRecord:
        return EventRecord(
            seq=r[0], execution_id=r[1], node_id=r[2], type=r[3], data=_loads(r[4]), at=r[5],
            item=r[6],
        )  # fmt: skip

    async def get_workflow(self, workflow_hash: str) -> str:
        def job(cur: Cursor) -> Row | None:
            cur.execute(self.q["select_workflow"], (workflow_hash,))
            row: Row | None = cur.fetchone()
            return row

        row = await self._read(job)
        if row is None:
            raise StoreError(f"no locked workflow {workflow_hash} in the store")
        return str(row[0])

    # -- controls and signals ------------------------------------------------------------

    async def request(self, execution_id: str, control: str) -> bool:
        """Ask whoever runs an open execution to act (`cancel`, `pause`, `resume`); False if
        it is not open, or when a cancel is still to be carried out (nothing replaces it)."""

        def job(cur: Cursor) -> bool:
            cur.execute(self.q["set_control"], (control, time.time(), execution_id, control))
            if cur.rowcount != 1:
                return False
            self._notify(cur)  # it may be parked: woken, a worker takes it and acts
            return True

        return await self._write(job)

    async def send_signal(self, execution_id: str, name: str, payload: Any) -> int:
        """Record a signal for an execution; a wait node consumes it (oldest first)."""

        def job(cur: Cursor) -> int:
            q = self.q
            cur.execute(q["select_parked"], (execution_id,))
            parked = cur.fetchone()
            sealed = self._seal(dumps(payload), "signals", execution_id, name, "payload")
            cur.execute(q["insert_signal"], (execution_id, name, sealed, time.time()))
            signal_id = int(cur.fetchone()[0])
            if parked is not None and parked[0] is not None and name in _loads(parked[1] or "[]"):
                cur.execute(q["wake_execution"], (execution_id,))
                self._notify(cur)  # parked for this signal: any worker may take it now
            return signal_id

        return await self._write(job)

    async def next_signal(self, execution_id: str, name: str) -> tuple[int, Any] | None:
        """The oldest signal `name` no wait node has consumed yet."""

        def job(cur: Cursor) -> Row | None:
            cur.execute(self.q["select_signal"], (execution_id, name))
            row: Row | None = cur.fetchone()
            return row

        row = await self._read(job)
        if row is None:
            return None
        return int(row[0]), self._open(row[1], "signals", execution_id, name, "payload")

    async def open_children(self, parent_id: str) -> list[str]:
        """Sub-workflow executions of `parent_id` that have not finished."""

        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_open_children"], (parent_id,))
            return cur.fetchall()

        return [str(r[0]) for r in await self._read(job)]


def _created(new: NewExecution, payload: Any, context: Any, now: float) -> ExecutionRecord:
    """The record `create_execution` stored, as reading it back returns it (its values
    through their JSON, as they were written), without the read: a start pays one trip to
    the database, not two. (A control request that comes just after is seen by the driver
    as one that comes later.)"""
    return ExecutionRecord(
        id=new.id,
        workflow_name=new.workflow_name,
        workflow_version=new.workflow_version,
        workflow_hash=new.workflow_hash,
        status=ExecutionStatus(new.status),
        payload=payload,
        context=context,
        idempotency_key=new.idempotency_key,
        result=None,
        error=None,
        owner=new.owner,
        created_at=now,
        started_at=None,
        finished_at=None,
        parent_id=new.parent_id,
        trace_id=new.trace_id,
        trace_parent=new.trace_parent,
        trace_link=new.trace_link,
    )


def _execution(r: Row, open_json: Callable[..., Any]) -> ExecutionRecord:
    return ExecutionRecord(
        id=r[0],
        workflow_name=r[1],
        workflow_version=r[2],
        workflow_hash=r[3],
        status=ExecutionStatus(r[4]),
        payload=open_json(r[5], "executions", r[0], "payload"),
        context=open_json(r[6], "executions", r[0], "context"),
        idempotency_key=r[7],
        result=open_json(r[8], "executions", r[0], "result"),
        error=_loads(r[9]),
        owner=r[10],
        created_at=r[11],
        started_at=r[12],
        finished_at=r[13],
        parent_id=r[14],
        control=None if r[15] is None else Control(r[15]),
        result_artifact=r[16],
        settled=_loads(r[17]),
        claim=int(r[18]),
        parked_until=r[19],
        trace_id=r[20],
        trace_parent=r[21],
        trace_link=r[22],
    )


__all__ = [
    "Cursor",
    "OwnershipLost",
    "Row",
    "SqlStore",
    "Store",
    "StoreUnavailable",
    "StoreUnwritable",
    "content_hash",
    "dumps",
    "load_queries",
    "migrations",
]
