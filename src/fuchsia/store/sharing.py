"""Shared attempts (the SQL side): attempts an owner started and left for any worker to run.

An owner whose slots are full, while another worker's are not, starts an attempt as usual
(its `attempts` row, `running`) and adds a `work` row for it in the same transition
(`Transition.shared`). Any worker claims ready rows in one transaction (`claim_work`,
skipping rows other claims hold on PostgreSQL, inside `BEGIN IMMEDIATE` on SQLite): each
claim adds one to the row's claim number and names the worker on the attempt's record. The
worker runs the attempt and stores its outcome in the row (`finish_work`), fenced by that
claim number: once a row went back to ready (its worker let its lease pass, `reclaim_lost`)
or was withdrawn (its execution was cancelled, ended, or taken over), a late completion
changes nothing and is counted as rejected. The owner reads the finished rows
(`finished_work`) and folds each outcome into its execution in a transition that deletes
the row (`Transition.unshared`), so an outcome commits once, under the owner's fence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from fuchsia.store.records import NODE_ITEM, SharedAttempt, Transition, UnitKey, dumps

if TYPE_CHECKING:
    from fuchsia.store.base import Cursor, Row

T = TypeVar("T")
# one shared attempt's unit as the SQL keys it: (execution, node, item, attempt)
Key = tuple[str, UnitKey, int]


def _item(stored: int) -> int | None:
    return None if stored == NODE_ITEM else stored


def _stored(unit: UnitKey) -> int:
    return NODE_ITEM if unit.item is None else unit.item


class Sharing:
    """The shared-attempt statements of `SqlStore` (mixed into it)."""

    q: dict[str, str]

    if TYPE_CHECKING:

        async def _write(self, job: Callable[[Cursor], T]) -> T: ...
        async def _read(self, job: Callable[[Cursor], T]) -> T: ...
        def _notify(self, cur: Cursor) -> None: ...
        def _seal(self, text: str | None, *where: str) -> str | None: ...
        def _open(self, text: str | None, *where: str) -> Any: ...
        def _count(self, cur: Cursor, owner: str, amounts: dict[str, int]) -> None: ...

    def _apply_shared(self, cur: Cursor, t: Transition, now: float) -> None:
        """The `work` rows a transition adds and deletes (under its fence, in its
        transaction): withdrawn ones first, so an attempt started again is shared anew."""
        q = self.q
        if t.withdraw_shared:
            cur.execute(q["delete_execution_work"], (t.execution_id,))
        elif t.unshared:
            cur.executemany(
                q["delete_work"],
                [(t.execution_id, u.node, _stored(u), n) for u, n in t.unshared],
            )
        if t.shared:
            assert t.owner is not None
            cur.executemany(
                q["insert_work"],
                [
                    (t.execution_id, u.node, _stored(u), n, t.owner, parent, now)
                    for u, n, parent in t.shared
                ],
            )
            self._notify(cur)  # work for others

    async def claim_work(
        self, worker: str, name: str, limit: int, *, own_after: float | None = None
    ) -> list[SharedAttempt]:
        """Claim up to `limit` ready shared attempts for `worker` (owner id; `name` goes on
        the attempts' records), oldest first, in one transaction. With `own_after`: only
        those `worker` shared itself and nobody took for that many seconds."""
        q = self.q

        def job(cur: Cursor) -> list[SharedAttempt]:
            if own_after is None:
                cur.execute(q["select_ready_work"], (limit,))
            else:
                cur.execute(q["select_own_ready_work"], (worker, own_after, limit))
            taken: list[SharedAttempt] = []
            for execution_id, node_id, item, attempt in cur.fetchall():
                where = (execution_id, node_id, item, attempt)
                cur.execute(q["claim_work"], (worker, *where))
                if cur.rowcount != 1:
                    continue
                cur.execute(q["select_work_claim"], where)
                claim, parent, waited = cur.fetchone()
                cur.execute(q["name_attempt_worker"], (name, *where))
                unit = UnitKey(node_id, _item(item))
                taken.append(
                    SharedAttempt(
                        execution_id,
                        unit,
                        int(attempt),
                        int(claim),
                        int(parent),
                        max(float(waited or 0.0), 0.0),
                    )
                )
            return taken

        return await self._write(job)

    async def finish_work(self, work: SharedAttempt, worker: str, outcome: str) -> bool:
        """Store a claimed attempt's outcome (JSON) for its owner to fold in: only while
        `worker` still holds it under the claim it took (False: it was withdrawn or
        claimed again since, and nothing was stored). Wakes the owner."""
        u = work.unit
        where = (work.execution_id, u.node, _stored(u), work.attempt)
        label = f"{u}/{work.attempt}"

        def job(cur: Cursor) -> bool:
            sealed = self._seal(outcome, "work", work.execution_id, label)
            cur.execute(self.q["finish_work"], (sealed, *where, worker, work.claim))
            done = cur.rowcount == 1
            if done:
                self._notify(cur)
            return bool(done)

        return await self._write(job)

    async def finished_work(self, owner: str) -> list[tuple[Key, Any]]:
        """The shared attempts of executions `owner` holds that a worker finished: each
        attempt's key and its outcome (JSON, opened)."""

        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_finished_work"], (owner,))
            return cur.fetchall()

        found: list[tuple[Key, Any]] = []
        for execution_id, node_id, item, attempt, outcome in await self._read(job):
            unit = UnitKey(node_id, _item(item))
            text = self._open(outcome, "work", execution_id, f"{unit}/{attempt}")
            found.append(((execution_id, unit, int(attempt)), text))
        return found

    async def held_work(self, worker: str) -> set[tuple[Key, int]]:
        """The shared attempts `worker` holds and has not finished, with their claims."""

        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_held_work"], (worker,))
            return cur.fetchall()

        return {
            ((e, UnitKey(n, _item(i)), int(a)), int(c)) for e, n, i, a, c in await self._read(job)
        }

    async def release_work(self, worker: str) -> None:
        """Hand back what `worker` claimed and did not finish (it drains): ready again for
        the others, under new claim numbers."""

        def job(cur: Cursor) -> None:
            cur.execute(self.q["release_work"], (worker,))
            if cur.rowcount:
                self._notify(cur)

        await self._write(job)

    async def release_claims(self, worker: str, claims: list[tuple[Key, int]]) -> None:
        """Hand back claims `worker` took whose attempt stopped here without an outcome
        (it failed to run, or was cancelled): ready again for any worker, under new claim
        numbers. A claim that moved on since (withdrawn, reclaimed) is left as it is."""

        def job(cur: Cursor) -> None:
            cur.executemany(
                self.q["release_claim"],
                [(e, u.node, _stored(u), a, worker, claim) for (e, u, a), claim in claims],
            )
            self._notify(cur)

        await self._write(job)

    async def reclaim_lost(self) -> int:
        """Return shared attempts whose worker is gone or let its lease pass to ready, with
        a `node_reclaimed` event each naming that worker (what it would still commit is
        refused: the claim number moved on); delete the rows nobody would fold in (their
        execution ended, or is held by another owner than the one that shared them). How
        many were returned."""
        q = self.q

        def job(cur: Cursor) -> int:
            cur.execute(q["delete_orphan_work"])
            cur.execute(q["select_lost_work"])
            returned = 0
            for execution_id, node_id, item, attempt, worker in cur.fetchall():
                cur.execute(q["reclaim_work"], (execution_id, node_id, item, attempt, worker))
                if cur.rowcount != 1:
                    continue
                returned += 1
                data = dumps({"attempt": attempt, "worker": worker})
                event = (execution_id, node_id, _item(item), "node_reclaimed", data, time.time())
                cur.execute(q["insert_event"], event)
            if returned:
                self._notify(cur)
            return returned

        return await self._write(job)

    async def ready_work(self) -> int:
        """How many shared attempts wait for a worker."""

        def job(cur: Cursor) -> int:
            cur.execute(self.q["count_work"])
            return int(cur.fetchone()[0])

        return await self._read(job)
