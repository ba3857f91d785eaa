"""Re-encrypt everything a store keeps under the keyring's first key (`fuchsia keys rotate`).

Rows are visited table by table in primary-key order, a page per transaction, so a rotation
of a large store holds the write lock only briefly at a time and engines keep running beside
it. A row is rewritten when one of its values is plaintext or sealed under another key; each
update is a compare-and-set on the old values, so a value an engine wrote meanwhile is left
as it is (it was written under the current key anyway). Stopped at any point (a crash, a
missing key), a rotation loses nothing: committed pages are done, and running it again skips
what is already current and carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fuchsia.errors import StoreError
from fuchsia.store.base import Cursor, SqlStore
from fuchsia.store.cipher import (
    Keyring,
    Where,
    open_blob,
    open_text,
    seal_blob,
    seal_text,
    sealed_key_id,
)
from fuchsia.store.records import stored_label

Row = Sequence[Any]
BLOB_PAGE = 16  # blobs are large: fewer per transaction


@dataclass(frozen=True)
class _Table:
    """How to page through one table: its key columns lead each row, then `extra` columns
    the values' identities need, then the sealed values."""

    name: str
    first: tuple[Any, ...]  # placeholder key for the first page (ignored by the query)
    values: tuple[str, ...]
    where: Callable[[Row, str], Where]
    extra: int = 0
    binary: bool = False

    def split(self, row: Row) -> tuple[tuple[Any, ...], list[Any]]:
        keys = len(self.first)
        return tuple(row[:keys]), list(row[keys + self.extra :])


TABLES = (
    _Table(
        "executions", ("",), ("payload", "context", "result"), lambda r, c: ("executions", r[0], c)
    ),
    _Table(
        "attempts",
        ("", "", 0, 0),
        ("inputs", "output"),
        lambda r, c: ("attempts", r[0], stored_label(r[1], r[2]), str(r[3]), c),
    ),
    _Table("signals", (0,), ("payload",), lambda r, c: ("signals", r[1], r[2], c), extra=2),
    _Table("kv", ("", ""), ("value",), lambda r, c: ("kv", r[0], r[1])),
    _Table("blobs", ("",), ("data",), lambda r, c: ("blobs", r[0], "data"), binary=True),
)


@dataclass
class TableCount:
    checked: int = 0
    rewritten: int = 0
    changed_meanwhile: int = 0  # written by an engine during the rotation: already current


async def rotate(
    store: SqlStore,
    *,
    batch: int = 200,
    progress: Callable[[str, TableCount], None] | None = None,
) -> dict[str, TableCount]:
    """Re-encrypt every sealed or plaintext value not under `store.keyring`'s first key;
    counts by table. `progress(table, counts)` is called after each committed page."""
    keyring = store.keyring
    if keyring is None:
        raise StoreError("no encryption key configured: set FUCHSIA_ENCRYPTION_KEY first")
    if batch < 1:
        raise StoreError(f"the batch size must be at least 1, got {batch}")
    counts: dict[str, TableCount] = {}
    for table in TABLES:
        count = counts[table.name] = TableCount()
        size = min(batch, BLOB_PAGE) if table.binary else batch
        last: tuple[Any, ...] | None = None
        while True:
            page = await store._write(_page_job(store, keyring, table, last, size))
            last = page.last
            count.checked += page.checked
            count.rewritten += page.rewritten
            count.changed_meanwhile += page.changed_meanwhile
            if progress is not None:
                progress(table.name, count)
            if not page.full:
                break
    return counts


@dataclass
class _Page(TableCount):
    last: tuple[Any, ...] | None = None
    full: bool = False


def _page_job(
    store: SqlStore,
    keyring: Keyring,
    table: _Table,
    after: tuple[Any, ...] | None,
    size: int,
) -> Callable[[Cursor], _Page]:
    """The write job that rotates one page of `table` after the key `after`."""

    def job(cur: Cursor) -> _Page:
        flag = 0 if after is None else 1
        cur.execute(store.q[f"rotate_page_{table.name}"], (flag, *(after or table.first), size))
        rows = cur.fetchall()
        page = _Page(last=table.split(rows[-1])[0] if rows else after, full=len(rows) == size)
        for row in rows:
            keys, old = table.split(row)
            page.checked += 1
            if all(v is None or sealed_key_id(v) == keyring.current for v in old):
                continue
            new = [
                _reseal(keyring, table, row, column, value)
                for column, value in zip(table.values, old, strict=True)
            ]
            cur.execute(store.q[f"rotate_set_{table.name}"], (*new, *keys, *old))
            if cur.rowcount == 1:
                page.rewritten += 1
            else:
                page.changed_meanwhile += 1
        return page

    return job


def _reseal(keyring: Keyring, table: _Table, row: Row, column: str, value: Any) -> Any:
    if value is None:
        return None
    where = table.where(row, column)
    if table.binary:
        return seal_blob(keyring, open_blob(keyring, bytes(value), row[0]), row[0])
    return seal_text(keyring, open_text(keyring, str(value), where), where)
