"""Who drives which execution: owners, their leases, and claims (the SQL side).

An owner (one engine in one process) holds the executions it drives under a lease on the
database's clock, renewed by its heartbeat. An execution whose owner is gone, or let its
lease pass, or that was recorded for others to run (`detached`) is claimable: a worker takes
a batch of them in one transaction, skipping rows other transactions hold on PostgreSQL
(`FOR UPDATE SKIP LOCKED`), inside `BEGIN IMMEDIATE` on SQLite. Every claim (and takeover)
adds one to the execution's claim number, and every transition is fenced by the owner AND
the claim number its driver took (`SqlStore._apply`): once an execution is claimed the
previous owner's late writes are refused, and counted (`reject`), also when that owner has
claimed it back since (A, B, then A again: its first tenure's writes carry an older number).

The counts (claims, lease expiries, rejections, claim latency) go to rows of the counting
owner's own (`owner_counters`), so concurrent claims by several workers share no row; the
totals add them up, with what departed owners counted, folded into `counters` as their row
is deleted.

A parked execution is held by nobody until it is woken (`_park`, in the transition that
parks it): claims take it once its `parked_until` has passed on the database's clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from fuchsia.store.records import (
    PARKED_FOREVER,
    ExecutionRecord,
    OpenExecution,
    OwnerRecord,
    Parking,
    UnitKey,
    dumps,
)

if TYPE_CHECKING:
    from fuchsia.store.base import Cursor, Row

T = TypeVar("T")

# names in the `counters` table
REJECTED_COMPLETIONS = "rejected_completions"
LEASE_EXPIRIES = "lease_expiries"
CLAIMS = "claims"
CLAIM_LATENCY_US = "claim_latency_us"


@dataclass(frozen=True)
class Claimed:
    """An execution a claim took: whom it was taken from (None: nobody held it), how long
    it had been claimable (seconds), and the claim number this claim gave it (what its
    driver's transitions are fenced by). Its `record` as the claim left it, None when this
    worker cannot read it (a key it lacks: that does not fail the claim of the rest; the
    caller reads it again, and leaves it); `nodes`: whether it has node rows to read."""

    id: str
    previous: str | None
    waited: float
    claim: int = 0
    record: ExecutionRecord | None = field(default=None, compare=False, repr=False)
    nodes: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class Outlook:
    """What a worker's claim round reads before it claims, in one read: the registered
    owners, how many shared attempts wait for a worker, and how many open executions
    nobody holds (counted no further than the round asked for)."""

    owners: list[OwnerRecord]
    ready_work: int
    claimable: int


class Ownership:
    """The ownership statements of `SqlStore` (mixed into it)."""

    q: dict[str, str]
    notify_sql: str | None = None  # sent in a transaction that leaves work for others

    if TYPE_CHECKING:

        def _execution(self, row: Row) -> ExecutionRecord: ...
        async def _write(self, job: Callable[[Cursor], T]) -> T: ...
        async def _read(self, job: Callable[[Cursor], T]) -> T: ...

    async def heartbeat(self, owner: OwnerRecord, lease: float = 30.0) -> bool:
        """Renew `owner`'s lease for `lease` seconds (registering it the first time). True
        when its previous lease had not passed: False the first time, and after the owner
        could not renew in time (it was stopped, or cut off), when what it drove may have
        been claimed by others since."""
        row = (
            owner.id,
            owner.host,
            owner.pid,
            owner.started_at,
            owner.name,
            lease,
            owner.slots,
            owner.executions,
            owner.running,
            int(owner.draining),
            owner.machine,
        )

        def job(cur: Cursor) -> bool:
            cur.execute(self.q["select_owner_lease"], (owner.id,))
            held = cur.fetchone()
            cur.execute(self.q["upsert_owner"], row)
            return held is not None and bool(held[0])

        return await self._write(job)

    async def forget_owner(self, owner_id: str) -> None:
        """Unregister an owner: what it still holds is claimable at once. What it counted
        stays in the totals."""

        def job(cur: Cursor) -> None:
            self._delete_owner(cur, owner_id)
            self._notify(cur)

        await self._write(job)

    async def forget_stale_owners(self, older_than: float) -> None:
        """Delete the rows of owners whose lease passed more than `older_than` seconds ago
        (what they counted stays in the totals)."""

        def job(cur: Cursor) -> None:
            cur.execute(self.q["select_stale_owners"], (older_than,))
            for (owner_id,) in cur.fetchall():
                self._delete_owner(cur, owner_id)

        await self._write(job)

    def _delete_owner(self, cur: Cursor, owner_id: str) -> None:
        """An owner's row goes; its counts are folded into the shared totals (one write of
        the shared rows per departure, never one per claim)."""
        cur.execute(self.q["fold_owner_counters"], (owner_id,))
        cur.execute(self.q["delete_owner_counters"], (owner_id,))
        cur.execute(self.q["delete_owner"], (owner_id,))

    async def owners(self) -> list[OwnerRecord]:
        """Every registered owner, oldest first, `alive` by the database's clock."""

        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_owners"])
            return cur.fetchall()

        return [_owner(r) for r in await self._read(job)]

    async def outlook(self, at_most: int) -> Outlook:
        """`owners`, `ready_work` and `claimable` in one read (one trip to the store's
        thread, not three): claimable executions are counted up to `at_most` for each
        owner and one more (a claim round's share needs no more), none when `at_most` is 0."""

        def job(cur: Cursor) -> Outlook:
            cur.execute(self.q["select_owners"])
            owners = [_owner(r) for r in cur.fetchall()]
            cur.execute(self.q["count_work"])
            ready = int(cur.fetchone()[0])
            claimable = 0
            if at_most > 0:
                cur.execute(self.q["count_claimable_at_most"], (at_most * (1 + len(owners)),))
                claimable = int(cur.fetchone()[0])
            return Outlook(owners, ready, claimable)

        return await self._read(job)

    async def open_executions(self) -> list[OpenExecution]:
        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_open_executions"])
            return cur.fetchall()

        return [
            OpenExecution(id=r[0], owner_id=r[1], owner=None if r[2] is None else _owner(r[2:]))
            for r in await self._read(job)
        ]

    async def claim(self, execution_id: str, owner: str, previous: str | None) -> bool:
        """Take an execution over, only if its owner is still `previous` (compare-and-swap),
        with a new claim number (also when `previous` is `owner`: what the owner still had in
        flight for it from before is refused)."""

        def job(cur: Cursor) -> bool:
            cur.execute(self.q["claim_execution"], (owner, time.time(), execution_id, previous))
            return bool(cur.rowcount == 1)

        return await self._write(job)

    async def release(self, execution_id: str, owner: str) -> bool:
        """Leave an execution `owner` holds for the workers to claim."""

        def job(cur: Cursor) -> bool:
            cur.execute(self.q["release_execution"], (time.time(), execution_id, owner))
            released = cur.rowcount == 1
            if released:
                self._notify(cur)
            return released

        return await self._write(job)

    async def claim_open(self, owner: str, limit: int) -> list[Claimed]:
        """Claim up to `limit` claimable executions for `owner`, oldest first, in one
        transaction; count the claims, their latency and the leases that had passed."""

        def job(cur: Cursor) -> list[Claimed]:
            cur.execute(self.q["select_claimable"], (owner, limit))
            taken: list[Claimed] = []
            now = time.time()
            for execution_id, previous, waited, nodes in cur.fetchall():
                cur.execute(self.q["claim_claimable"], (owner, now, execution_id, previous))
                row = cur.fetchone()
                if row is not None:
                    waited = max(float(waited or 0.0), 0.0)
                    record = self._readable(row)
                    taken.append(
                        Claimed(execution_id, previous, waited, int(row[18]), record, bool(nodes))
                    )
            if taken:
                expired = sum(1 for c in taken if c.previous is not None)
                latency = sum(int(c.waited * 1e6) for c in taken if c.previous is None)
                fresh = sum(1 for c in taken if c.previous is None)
                counts = {CLAIMS: fresh, CLAIM_LATENCY_US: latency, LEASE_EXPIRIES: expired}
                self._count(cur, owner, counts)
            return taken

        return await self._write(job)

    def _readable(self, row: Row) -> ExecutionRecord | None:
        """The record of a claimed row, or None when this store cannot open it."""
        try:
            return self._execution(row)
        except Exception:  # a key this worker lacks, a newer format: read (and fail) later
            return None

    async def claimable(self) -> int:
        """How many open executions nobody holds."""

        def job(cur: Cursor) -> int:
            cur.execute(self.q["count_claimable"])
            return int(cur.fetchone()[0])

        return await self._read(job)

    async def owned(self, owner: str) -> set[str]:
        """The open executions `owner` holds."""

        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_owned"], (owner,))
            return cur.fetchall()

        return {str(r[0]) for r in await self._read(job)}

    async def reject(
        self,
        execution_id: str,
        attempts: Iterable[tuple[UnitKey, int]],
        worker: str,
        reason: str,
        owner: str | None = None,
    ) -> None:
        """Record completions that were not committed because `worker` (owner id `owner`)
        no longer held the execution: a `completion_rejected` event per attempt, and the
        counter."""
        rows = [
            (
                execution_id,
                unit.node,
                unit.item,
                "completion_rejected",
                dumps({"attempt": number, "worker": worker, "reason": reason}),
                time.time(),
            )
            for unit, number in attempts
        ]

        def job(cur: Cursor) -> None:
            if rows:
                cur.executemany(self.q["insert_event"], rows)
            self._count(cur, owner or worker, {REJECTED_COMPLETIONS: len(rows)})

        await self._write(job)

    async def counters(self) -> dict[str, int]:
        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_counters"])
            return cur.fetchall()

        return {str(r[0]): int(r[1]) for r in await self._read(job)}

    async def controls(self, owner: str) -> list[tuple[str, str]]:
        """Requests waiting for the open executions `owner` runs."""

        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_controls"], (owner,))
            return cur.fetchall()

        return [(str(r[0]), str(r[1])) for r in await self._read(job)]

    def _count(self, cur: Cursor, owner: str, amounts: dict[str, int]) -> None:
        """Add to `owner`'s own counter rows (no row another worker's claim writes)."""
        for name, amount in amounts.items():
            if amount:
                cur.execute(self.q["add_owner_counter"], (owner, name, amount))

    def _park(self, cur: Cursor, execution_id: str, park: Parking) -> None:
        """Hand a fenced execution back to the store until `park` wakes it. Its row is
        locked (the fence), so a signal sent (or a child ended) before this reads as pending
        here, and one after finds it parked and wakes it: no wake-up is lost in between."""
        q = self.q
        pending = False
        for name in park.signals:
            cur.execute(q["select_signal"], (execution_id, name))
            pending = pending or cur.fetchone() is not None
        for child in park.children:
            cur.execute(q["select_ended"], (child,))
            pending = pending or bool(cur.fetchone()[0])
        signals = dumps(list(park.signals))
        # its timer on the database's clock, as claims read it: a worker whose clock is off
        # wakes it after the delay it meant, never in a loop of claims and parks
        delay = None if park.until >= PARKED_FOREVER else max(0.0, park.until - time.time())
        cur.execute(q["park_execution"], (signals, pending, delay, PARKED_FOREVER, execution_id))
        row = cur.fetchone()
        if row is not None and row[0]:
            self._notify(cur)  # woken already: a signal or a control was waiting

    def _notify(self, cur: Cursor) -> None:
        """Wake the workers listening (PostgreSQL: delivered when the transaction commits)."""
        if self.notify_sql is not None:
            cur.execute(self.notify_sql)


def _owner(r: Row) -> OwnerRecord:
    return OwnerRecord(
        id=r[0],
        host=r[1],
        pid=r[2],
        started_at=r[3],
        heartbeat_at=r[4],
        name=r[5] or r[0],
        lease_expires_at=r[6],
        slots=int(r[7] or 0),
        executions=int(r[8] or 0),
        running=int(r[9] or 0),
        draining=bool(r[10]),
        alive=bool(r[11]),
        machine=r[12],
    )
