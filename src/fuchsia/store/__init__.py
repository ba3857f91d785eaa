"""Durable state: executions, node runs, attempts, events, artifacts, kv."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fuchsia.errors import StoreError
from fuchsia.store.base import OwnershipLost, SqlStore, Store, StoreUnavailable, StoreUnwritable
from fuchsia.store.records import Transition

__all__ = [
    "OwnershipLost",
    "SqlStore",
    "Store",
    "StoreUnavailable",
    "StoreUnwritable",
    "Transition",
    "open_store",
]


def open_store(url: str) -> SqlStore:
    """Build (not yet open) the store for a URL: `postgresql://...`, `sqlite:///path`, or a path."""
    if url.startswith(("postgresql://", "postgres://")):
        from fuchsia.store.postgres import PostgresStore

        return PostgresStore(url)
    from fuchsia.store.sqlite import SqliteStore

    if url.startswith("sqlite://"):
        parts = urlsplit(url)
        options = parse_qs(parts.query)
        path = parts.path if not parts.netloc else parts.netloc + parts.path
        unknown = set(options) - {"synchronous"}
        if unknown:
            raise StoreError(f"unknown SQLite URL option(s): {', '.join(sorted(unknown))}")
        synchronous = options.get("synchronous", ["full"])[-1].lower()
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them
        return SqliteStore(
            Path(path[1:] if path.startswith("/") else path), synchronous=synchronous
        )
    if "://" in url:
        raise StoreError(f"unsupported store URL {url!r}: use a SQLite path or postgresql://")
    return SqliteStore(Path(url))
