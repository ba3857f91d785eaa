"""Transitions (the SQL side): one step of an execution, written under its fence.

A transition (`records.Transition`) is everything one decision of the execution machine
changes: node and attempt rows, the execution row, shared work, consumed signals, kv writes,
artifacts and events. `apply` writes it in one job of the group-committing writer, only if
the execution's owner and claim are still the transition's (`_Fence`); otherwise it raises
`OwnershipLost` or `ExecutionNotFound` and nothing of it is stored. Rows of one kind go in
multi-row INSERTs (`_insert_rows`), and values above the inline limit are stored as
artifacts of the execution in the same transaction (`_spill`).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from fuchsia.errors import ExecutionNotFound
from fuchsia.store.blobs import content_hash
from fuchsia.store.cipher import Keyring, seal_blob, seal_text
from fuchsia.store.records import (
    NODE_ITEM,
    ExecutionUpdate,
    KvChanges,
    Parking,
    Transition,
    dumps,
    new_id,
    stored_label,
)
from fuchsia.store.writer import OwnershipLost

if TYPE_CHECKING:
    from fuchsia.store.writer import Cursor, Row

T = TypeVar("T")
MULTI_ROW = 32  # rows one INSERT of a transition's writes takes at most (`_insert_rows`)
SPILLED_TYPE = "application/json"  # the content type of a value stored as an artifact


class Transitions:
    """The transition statements of `SqlStore` (mixed into it)."""

    q: dict[str, str]
    keyring: Keyring | None
    inline_limit: int
    _multi_rows: dict[tuple[str, int], str]

    if TYPE_CHECKING:

        async def _write(self, job: Callable[[Cursor], T]) -> T: ...
        def _pipeline(self, cur: Cursor) -> contextlib.AbstractContextManager[Any]: ...
        def _notify(self, cur: Cursor) -> None: ...
        def _park(self, cur: Cursor, execution_id: str, park: Parking) -> None: ...
        def _write_kv(self, cur: Cursor, kv: KvChanges, now: float) -> None: ...
        def _apply_shared(self, cur: Cursor, t: Transition, now: float) -> None: ...
        def _seal(self, text: str | None, *where: str) -> str | None: ...

    async def apply(self, transition: Transition) -> None:
        await self._write(lambda cur: self._apply(cur, transition))

    def _apply(self, cur: Cursor, t: Transition) -> None:
        """Store `t` if its fence holds: the execution's owner and claim are the driver's.
        Where the backend pipelines (`_pipeline`), the fence's read is sent first and its
        writes after it without waiting, and the fence is checked once its answer is in:
        a refused transition raises all the same, and its writes go with the job's
        rollback (its row stays locked from the fence's read to the commit either way). A
        step's commit then pays one round trip, not one per statement."""
        now = time.time()
        side = self._side_cursor(cur)
        fence: _Fence | None = None
        try:
            with self._pipeline(cur):
                fence = _Fence(side or cur, t, self.q["select_execution_owner"])
                if side is None:
                    fence.check()  # before any write
                self._apply_fenced(cur, t, now, fence)
        except (OwnershipLost, ExecutionNotFound):
            raise
        except Exception as exc:
            if fence is not None:
                fence.check_after(exc)  # a refused fence is the error to report
            raise
        fence.check()

    def _side_cursor(self, cur: Cursor) -> Cursor | None:
        """A second cursor on `cur`'s connection, whose result stays readable while `cur`
        runs more statements in the same pipeline; None where nothing is pipelined."""
        return None

    def _apply_fenced(self, cur: Cursor, t: Transition, now: float, fence: _Fence) -> None:
        """The writes of a transition (`_apply`); `fence`: its fence, whose row names the
        execution's parent, which its end wakes."""
        q = self.q
        if t.nodes:
            self._insert_rows(
                cur,
                "upsert_node",
                [
                    (
                        t.execution_id,
                        n.node_id,
                        NODE_ITEM if n.item is None else n.item,
                        n.status,
                        n.attempts,
                        n.ready_at,
                        None if n.error is None else dumps(n.error),
                        now,
                    )
                    for n in t.nodes
                ],
                key=3,
            )
        if t.attempts:
            spill = functools.partial(self._spill_attempt, cur, t.execution_id, now)
            self._insert_rows(
                cur,
                "upsert_attempt",
                [
                    (
                        t.execution_id,
                        a.node_id,
                        NODE_ITEM if a.item is None else a.item,
                        a.number,
                        a.status,
                        *spill(stored_label(a.node_id, a.item), a.number, "inputs", a.inputs),
                        *spill(stored_label(a.node_id, a.item), a.number, "output", a.output),
                        None if a.error is None else dumps(a.error),
                        a.started_at if a.started_at is not None else now,
                        a.finished_at,
                        t.worker,
                    )
                    for a in t.attempts
                ],
                key=4,
            )
        if t.shared or t.unshared or t.withdraw_shared:
            self._apply_shared(cur, t, now)
        if t.execution is not None:
            self._update_execution(cur, t.execution_id, t.execution, now, fence)
        for signal_id, unit in t.consumed:
            cur.execute(q["consume_signal"], (f"{t.execution_id}/{unit}", now, signal_id))
        for kv in t.kv:
            self._write_kv(cur, kv, now)
        if t.artifacts:  # their blobs were stored when the attempt put them (`put_blob`)
            self._insert_rows(
                cur,
                "insert_artifact",
                [
                    (
                        a.ref.id,
                        a.execution_id,
                        a.node_id,
                        a.ref.hash,
                        a.ref.name,
                        a.ref.content_type,
                        a.ref.size,
                        a.created_at,
                    )
                    for a in t.artifacts
                ],
            )
        if t.events:
            self._insert_rows(
                cur,
                "insert_event",
                [
                    (
                        t.execution_id,
                        ev.node_id,
                        ev.item,
                        ev.type,
                        None if ev.data is None else dumps(ev.data),
                        now,
                    )
                    for ev in t.events
                ],
            )

    def _insert_rows(
        self, cur: Cursor, name: str, rows: list[tuple[Any, ...]], key: int = 0
    ) -> None:
        """Run the one-row INSERT `name` for each of `rows`, in as few statements as it takes:
        one multi-row VALUES per `MULTI_ROW` rows, in their order (a statement, its round
        trip and its executor start per chunk, not per row). `key`: how many leading
        columns are an upsert's conflict key. Rows that repeat a key are written one at a
        time, in order, each over the last (one statement cannot update a row twice)."""
        if len(rows) == 1:
            cur.execute(self.q[name], rows[0])
        elif key and len({row[:key] for row in rows}) < len(rows):
            cur.executemany(self.q[name], rows)
        else:
            for start in range(0, len(rows), MULTI_ROW):
                chunk = rows[start : start + MULTI_ROW]
                cur.execute(self._multi_row(name, len(chunk)), [v for row in chunk for v in row])

    def _multi_row(self, name: str, count: int) -> str:
        """The INSERT `name` with `count` rows of VALUES (made once per count)."""
        sql = self._multi_rows.get((name, count))
        if sql is None:
            one = self.q[name]
            start = one.index("VALUES (") + len("VALUES ")
            end = one.index(")", start) + 1
            sql = one[:start] + ", ".join([one[start:end]] * count) + one[end:]
            self._multi_rows[(name, count)] = sql
        return sql

    def _update_execution(
        self, cur: Cursor, execution_id: str, e: ExecutionUpdate, now: float, fence: _Fence
    ) -> None:
        """The execution row's part of a transition: its fields, and a park or its end (which
        wakes its parent, when it is a sub-workflow's)."""
        q = self.q
        result, result_artifact = (
            self._spill(cur, execution_id, now, None, "result.json", e.result)
            if e.has_result
            else (None, None)
        )
        context = None if e.context is None else dumps(e.context)
        cur.execute(
            q["update_execution"],
            (
                e.status,
                self._seal(context, "executions", execution_id, "context"),
                e.has_result,
                self._seal(result, "executions", execution_id, "result"),
                e.has_result,
                result_artifact,
                None if e.error is None else dumps(e.error),
                None if e.settled is None else dumps(e.settled),
                e.started,
                now,
                e.finished,
                now if e.finished else None,
                e.unpark or e.finished,
                e.unpark or e.finished,
                now,
                execution_id,
            ),
        )
        if e.park is not None:
            self._park(cur, execution_id, e.park)
        parent = fence.check()[2] if e.finished else None
        if parent is not None:
            cur.execute(q["lock_parent"], (parent,))
            cur.execute(q["wake_parent"], (parent,))
            if cur.fetchone() is not None:
                self._notify(cur)  # its parent was parked on it

    def _spill_attempt(
        self,
        cur: Cursor,
        execution_id: str,
        now: float,
        node_id: str,
        number: int,
        part: str,
        value: Any,
    ) -> tuple[str | None, str | None]:
        """An attempt's inputs or output as `_spill` stores them, sealed when inline."""
        text, artifact = self._spill(
            cur, execution_id, now, node_id, f"{node_id}.{number}.{part}.json", value
        )
        where = ("attempts", execution_id, node_id, str(number), part)
        return seal_text(self.keyring, text, where), artifact

    def _spill(
        self, cur: Cursor, execution_id: str, now: float, node_id: str | None, name: str, value: Any
    ) -> tuple[str | None, str | None]:
        """`(json, None)` for a value to store inline (None stays NULL), or `(None, artifact
        id)` after storing a value above the inline limit as an artifact of the execution."""
        if value is None:
            return None, None
        text = dumps(value)
        if len(text) <= self.inline_limit // 4:  # at most 4 bytes per character
            return text, None
        data = text.encode()
        if len(data) <= self.inline_limit:
            return text, None
        digest = content_hash(data)
        cur.execute(self.q["select_same_artifact"], (execution_id, name, digest))
        row = cur.fetchone()
        if row is not None:  # the same value rewritten (an attempt's start, then its end)
            return None, str(row[0])
        artifact_id = new_id()
        sealed = seal_blob(self.keyring, data, digest)
        cur.execute(self.q["insert_blob"], (digest, len(data), sealed))
        cur.execute(
            self.q["insert_artifact"],
            (artifact_id, execution_id, node_id, digest, name, SPILLED_TYPE, len(data), now),
        )
        return None, artifact_id


class _Fence:
    """A transition's fence: the execution's owner, claim and parent, read (and its row
    locked) by the first statement of its job, checked once its answer is wanted."""

    def __init__(self, cur: Cursor, t: Transition, sql: str) -> None:
        self.cur, self.t = cur, t
        self.row: Row | None = None
        cur.execute(sql, (t.execution_id,))

    def check(self) -> Row:
        """The fence's row; raises when the transition may not apply."""
        if self.row is not None:
            return self.row
        t = self.t
        row: Row | None = self.cur.fetchone()
        if row is None:
            raise ExecutionNotFound(t.execution_id)
        if row[0] != t.owner:
            raise OwnershipLost(f"execution {t.execution_id} is now owned by {row[0]}")
        if t.claim is not None and int(row[1]) != t.claim:
            raise OwnershipLost(
                f"execution {t.execution_id} was claimed again (claim {row[1]}, "
                f"this transition's {t.claim})"
            )
        self.row = row
        return row

    def check_after(self, error: Exception) -> None:
        """After a write of the transition failed: raise the fence's refusal instead, when
        its answer came in and refuses (a write by an owner that lost the execution, of an
        execution that is gone, fails for that reason first)."""
        try:
            self.check()
        except (OwnershipLost, ExecutionNotFound) as refused:
            raise refused from error
        except Exception:  # no answer came in: the write's error is the one to raise
            return
