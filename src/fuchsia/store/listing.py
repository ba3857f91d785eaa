"""Reading executions as lists: the runs list (newest first, by status and workflow, paged
by id), a run's sub-workflows, error counts, and the newest events of a run or of one of its
nodes' log lines. The listing half of `SqlStore` (mixed into it); every read is bounded by
its `limit` and served by an index (migration 0019_listing)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from fuchsia.store.records import EventRecord, ExecutionRecord

if TYPE_CHECKING:
    from fuchsia.store.writer import Cursor, Row

T = TypeVar("T")


class Listing:
    """The listing statements of `SqlStore` (mixed into it)."""

    q: dict[str, str]

    if TYPE_CHECKING:

        async def _read(self, job: Callable[[Cursor], T]) -> T: ...
        def _execution(self, row: Row) -> ExecutionRecord: ...
        def _event(self, row: Row) -> EventRecord: ...

    async def list_executions(
        self,
        *,
        limit: int = 50,
        status: str | None = None,
        before: str | None = None,
        workflow: str | None = None,
    ) -> list[ExecutionRecord]:
        """Newest first; `before` (an execution id) pages on to older ones; `status` and
        `workflow` (a name) keep only those."""
        q = self.q

        def job(cur: Cursor) -> list[Row]:
            if workflow is not None:
                last = "~" if before is None else before  # after every id
                if status is None:
                    cur.execute(q["list_executions_by_workflow_before"], (workflow, last, limit))
                else:
                    query = q["list_executions_by_workflow_status_before"]
                    cur.execute(query, (workflow, status, last, limit))
            elif before is not None and status is not None:
                cur.execute(q["list_executions_by_status_before"], (status, before, limit))
            elif before is not None:
                cur.execute(q["list_executions_before"], (before, limit))
            elif status is None:
                cur.execute(q["list_executions"], (limit,))
            else:
                cur.execute(q["list_executions_by_status"], (status, limit))
            return cur.fetchall()

        return [self._execution(row) for row in await self._read(job)]

    async def children(self, parent_id: str, limit: int = 200) -> list[ExecutionRecord]:
        """Sub-workflow executions of `parent_id`, newest first, finished ones too."""

        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_children"], (parent_id, limit))
            return cur.fetchall()

        return [self._execution(row) for row in await self._read(job)]

    async def error_counts(self, execution_ids: Iterable[str]) -> dict[str, int]:
        """How many nodes and foreach items failed or timed out, by execution, in one read."""
        ids = list(execution_ids)

        def job(cur: Cursor) -> dict[str, int]:
            counts = {}
            for execution_id in ids:
                cur.execute(self.q["count_errored_units"], (execution_id,))
                counts[execution_id] = int(cur.fetchone()[0])
            return counts

        return await self._read(job)

    async def last_events(
        self, execution_id: str, limit: int, node_logs: str | None = None
    ) -> list[EventRecord]:
        """The newest `limit` events of an execution, oldest first; with `node_logs` (a node
        id), that node's newest log lines instead."""

        def job(cur: Cursor) -> list[Row]:
            if node_logs is None:
                cur.execute(self.q["select_last_events"], (execution_id, limit))
            else:
                cur.execute(self.q["select_node_logs"], (execution_id, node_logs, limit))
            return cur.fetchall()

        return [self._event(row) for row in reversed(await self._read(job))]
