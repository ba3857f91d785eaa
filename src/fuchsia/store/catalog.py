"""Deployed workflows, API tokens, trigger fires, webhook deliveries and the /metrics
aggregates: the catalog half of `SqlStore` (mixed into it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from fuchsia.errors import DeploymentConflict
from fuchsia.store.records import Deployment, TokenRecord

if TYPE_CHECKING:
    from fuchsia.store.writer import Cursor, Row

T = TypeVar("T")


class Catalog:
    """The catalog statements of `SqlStore` (mixed into it)."""

    q: dict[str, str]

    if TYPE_CHECKING:

        async def _write(self, job: Callable[[Cursor], T]) -> T: ...
        async def _read(self, job: Callable[[Cursor], T]) -> T: ...

    async def deploy(self, name: str, version: int, workflow_hash: str, document: str) -> bool:
        """Store a locked workflow under name and version; True if new, False if that exact
        workflow was already deployed. Another workflow under the same version is an error:
        deployed versions are immutable."""
        q = self.q

        def job(cur: Cursor) -> bool:
            now = time.time()
            cur.execute(q["insert_workflow"], (workflow_hash, name, version, document, now))
            cur.execute(q["select_deployment_hash"], (name, version))
            row = cur.fetchone()
            if row is not None:
                if row[0] != workflow_hash:
                    raise DeploymentConflict(
                        f"{name} version {version} is already deployed as {row[0]}; deployed "
                        "versions do not change: give the workflow a new `version`",
                        name=name,
                        version=version,
                    )
                return False
            cur.execute(q["insert_deployment"], (name, version, workflow_hash, True, now))
            return True

        return await self._write(job)

    async def deployments(self, name: str | None = None) -> list[Deployment]:
        """Deployed workflows by name, newest version first."""

        def job(cur: Cursor) -> list[Row]:
            if name is None:
                cur.execute(self.q["list_deployments"])
            else:
                cur.execute(self.q["select_deployments_named"], (name,))
            return cur.fetchall()

        return [
            Deployment(
                name=r[0],
                version=r[1],
                hash=r[2],
                active=bool(r[3]),
                deployed_at=r[4],
                pinned=bool(r[5]),
            )
            for r in await self._read(job)
        ]

    async def set_active(self, name: str, version: int, active: bool) -> bool:
        def job(cur: Cursor) -> bool:
            cur.execute(self.q["set_deployment_active"], (active, name, version))
            return bool(cur.rowcount == 1)

        return await self._write(job)

    async def set_pinned(self, name: str, version: int | None) -> bool:
        """Pin `version` of `name` (unpinning any other), or unpin `name` (None). False if
        there is no such version."""

        def job(cur: Cursor) -> bool:
            if version is not None:
                cur.execute(self.q["select_deployment_hash"], (name, version))
                if cur.fetchone() is None:
                    return False
            cur.execute(self.q["clear_deployment_pin"], (False, name))
            if version is not None:
                cur.execute(self.q["set_deployment_pin"], (True, name, version))
            return True

        return await self._write(job)

    async def add_token(
        self, token_id: str, name: str, token_hash: str, scopes: tuple[str, ...]
    ) -> None:
        row = (token_id, name, token_hash, ",".join(scopes), time.time())
        await self._write(lambda cur: cur.execute(self.q["insert_token"], row))

    async def tokens(self) -> list[TokenRecord]:
        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["list_tokens"])
            return cur.fetchall()

        return [_token(r) for r in await self._read(job)]

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        def job(cur: Cursor) -> Row | None:
            cur.execute(self.q["select_token_by_hash"], (token_hash,))
            row: Row | None = cur.fetchone()
            return row

        row = await self._read(job)
        return None if row is None else _token(row)

    async def revoke_token(self, token_id: str) -> bool:
        def job(cur: Cursor) -> bool:
            cur.execute(self.q["revoke_token"], (time.time(), token_id))
            return bool(cur.rowcount == 1)

        return await self._write(job)

    async def record_fire(
        self, workflow: str, instant: float, kind: str, execution_id: str | None
    ) -> bool:
        """Record that `workflow`'s trigger fired for `instant` (None: skipped); False if that
        instant was already recorded."""
        row = (workflow, instant, kind, execution_id, time.time())

        def job(cur: Cursor) -> bool:
            cur.execute(self.q["insert_fire"], row)
            return bool(cur.rowcount == 1)

        return await self._write(job)

    async def metrics(self) -> dict[str, list[Row]]:
        """Aggregates for /metrics, by query name (each row: labels..., values...)."""

        def job(cur: Cursor) -> dict[str, list[Row]]:
            found = {}
            for name in ("executions", "open_nodes", "attempts", "fires"):
                cur.execute(self.q[f"metrics_{name}"])
                found[name] = cur.fetchall()
            return found

        return await self._read(job)

    async def last_fire(self, workflow: str) -> float | None:
        def job(cur: Cursor) -> Row | None:
            cur.execute(self.q["select_last_fire"], (workflow,))
            row: Row | None = cur.fetchone()
            return row

        row = await self._read(job)
        return None if row is None or row[0] is None else float(row[0])

    async def claim_delivery(self, key: str, body_sha256: str) -> str:
        """Record `body_sha256` as the body of webhook delivery `key` unless one is recorded;
        return the one recorded first (the caller compares: another body is a conflict)."""
        row = (key, body_sha256, time.time())

        def job(cur: Cursor) -> str:
            cur.execute(self.q["insert_delivery"], row)
            cur.execute(self.q["select_delivery"], (key,))
            return str(cur.fetchone()[0])

        return await self._write(job)


def _token(r: Row) -> TokenRecord:
    return TokenRecord(
        id=r[0], name=r[1], scopes=tuple(str(r[2]).split(",")), created_at=r[3], revoked_at=r[4]
    )
