"""Artifacts, their content-addressed blobs, and kv: the blob half of `SqlStore` (mixed into
it). Blobs and kv values are sealed with the keyring when the store has one."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from fuchsia.errors import ArtifactNotFound, StoreError
from fuchsia.store.cipher import Keyring, open_blob, open_text, seal_blob
from fuchsia.store.records import ArtifactRef, KvChanges, new_id

if TYPE_CHECKING:
    from fuchsia.store.writer import Cursor, Row

T = TypeVar("T")


class Blobs:
    """The artifact, blob and kv statements of `SqlStore` (mixed into it)."""

    q: dict[str, str]
    keyring: Keyring | None

    if TYPE_CHECKING:

        async def _write(self, job: Callable[[Cursor], T]) -> T: ...
        async def _read(self, job: Callable[[Cursor], T]) -> T: ...
        def _seal(self, text: str | None, *where: str) -> str | None: ...

    async def put_artifact(
        self, execution_id: str, node_id: str | None, name: str, content_type: str, data: bytes
    ) -> ArtifactRef:
        """Store an artifact of an execution: its blob and its row, at once."""
        ref = ArtifactRef(
            id=new_id(),
            hash=content_hash(data),
            name=name,
            content_type=content_type,
            size=len(data),
        )
        sealed = seal_blob(self.keyring, data, ref.hash)
        row = (ref.id, execution_id, node_id, ref.hash, name, content_type, ref.size, time.time())

        def job(cur: Cursor) -> None:
            cur.execute(self.q["insert_blob"], (ref.hash, ref.size, sealed))
            cur.execute(self.q["insert_artifact"], row)

        await self._write(job)
        return ref

    async def put_blob(self, data: bytes, execution_id: str) -> str:
        """Store `data` as a blob no artifact names yet (an artifact of a running attempt of
        `execution_id`, whose row waits for the attempt's success) and return its hash.
        Noted in `blob_writers`, so `sweep_blobs` deletes it if no artifact came to name it
        once it is old and the execution has ended."""
        digest = content_hash(data)
        sealed = seal_blob(self.keyring, data, digest)
        now = time.time()

        def job(cur: Cursor) -> None:
            cur.execute(self.q["insert_blob"], (digest, len(data), sealed))
            cur.execute(self.q["upsert_blob_writer"], (digest, execution_id, now))

        await self._write(job)
        return digest

    async def sweep_blobs(self, before: float) -> int:
        """Delete the blobs stored by `put_blob` that no artifact names (an attempt that
        failed, or was lost, after storing them), once every execution that stored one has
        ended and stored it before `before`; the number deleted. An attempt still running,
        however long, keeps its blobs. Reads only the blobs `put_blob` noted, through
        indexes."""
        q = self.q

        def job(cur: Cursor) -> int:
            cur.execute(q["delete_orphan_blobs"], (before, before))
            deleted = int(cur.rowcount or 0)
            cur.execute(q["delete_old_blob_writers"], (before,))
            return deleted

        return int(await self._write(job))

    async def list_artifacts(self, execution_id: str) -> list[ArtifactRef]:
        def job(cur: Cursor) -> list[Row]:
            cur.execute(self.q["select_artifacts"], (execution_id,))
            return cur.fetchall()

        return [
            ArtifactRef(id=r[0], hash=r[1], name=r[2], content_type=r[3], size=r[4])
            for r in await self._read(job)
        ]

    async def get_blob(self, content_hash: str) -> bytes:
        def job(cur: Cursor) -> Row | None:
            cur.execute(self.q["select_blob"], (content_hash,))
            row: Row | None = cur.fetchone()
            return row

        row = await self._read(job)
        if row is None:
            raise StoreError(f"no blob {content_hash} in the store")
        return open_blob(self.keyring, bytes(row[0]), content_hash)

    async def get_artifact(self, artifact_id: str) -> tuple[ArtifactRef, str, bytes]:
        """An artifact, the execution it belongs to, and its content."""

        def job(cur: Cursor) -> tuple[Row | None, Row | None]:
            cur.execute(self.q["select_artifact"], (artifact_id,))
            row: Row | None = cur.fetchone()
            if row is None:
                return None, None
            cur.execute(self.q["select_blob"], (row[1],))
            return row, cur.fetchone()

        row, blob = await self._read(job)
        if row is None or blob is None:
            raise ArtifactNotFound(artifact_id)
        ref = ArtifactRef(id=row[0], hash=row[1], name=row[2], content_type=row[3], size=row[4])
        return ref, str(row[5]), open_blob(self.keyring, bytes(blob[0]), ref.hash)

    async def load_value(self, artifact_id: str) -> Any:
        """A value stored as an artifact because it was above the inline limit."""
        _, _, data = await self.get_artifact(artifact_id)
        return json.loads(data)

    async def kv_get(self, scope: str, key: str) -> str | None:
        def job(cur: Cursor) -> Row | None:
            cur.execute(self.q["select_kv"], (scope, key))
            row: Row | None = cur.fetchone()
            return row

        row = await self._read(job)
        return None if row is None else open_text(self.keyring, str(row[0]), ("kv", scope, key))

    async def kv_set(self, scope: str, key: str, value: str) -> None:
        params = (scope, key, self._seal(value, "kv", scope, key), time.time())
        await self._write(lambda cur: cur.execute(self.q["upsert_kv"], params))

    async def kv_delete(self, scope: str, key: str) -> None:
        await self._write(lambda cur: cur.execute(self.q["delete_kv"], (scope, key)))

    async def kv_commit(self, kv: KvChanges) -> None:
        """Apply several kv writes in one transaction."""
        now = time.time()
        await self._write(lambda cur: self._write_kv(cur, kv, now))

    def _write_kv(self, cur: Cursor, kv: KvChanges, now: float) -> None:
        for key, value in kv.changes.items():
            if value is None:
                cur.execute(self.q["delete_kv"], (kv.scope, key))
            else:
                sealed = self._seal(value, "kv", kv.scope, key)
                cur.execute(self.q["upsert_kv"], (kv.scope, key, sealed, now))


def content_hash(data: bytes) -> str:
    """The hash a blob is stored under: `sha256:` and the hex digest of its bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
