"""A copy-on-write layer over a dict: what one decision changes, kept apart until it commits.

The machine folds a batch of events over layers on the stored state. The shell merges the
layers into the state only once the store has committed what the decision wrote, and drops
them otherwise: the state a process holds is never ahead of the store. Reads and writes cost
O(1); merging costs O(changes), never O(state).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

K = TypeVar("K")
V = TypeVar("V")

_GONE: Any = object()  # a key deleted in this layer


class Layer(Mapping[K, V], Generic[K, V]):
    """`base` as changed by this layer's sets and deletes; `base` itself is untouched."""

    __slots__ = ("base", "changes")

    def __init__(self, base: dict[K, V]) -> None:
        self.base = base
        self.changes: dict[K, V] = {}

    def __getitem__(self, key: K) -> V:
        value = self.changes.get(key, _GONE) if self.changes else _GONE
        if value is _GONE:
            if key in self.changes:
                raise KeyError(key)
            return self.base[key]
        return cast(V, value)

    def get(self, key: K, default: Any = None) -> Any:
        if self.changes and key in self.changes:
            value = self.changes[key]
            return default if value is _GONE else value
        return self.base.get(key, default)

    def __contains__(self, key: object) -> bool:
        if self.changes and key in self.changes:
            return self.changes[key] is not _GONE
        return key in self.base

    def __iter__(self) -> Iterator[K]:
        changes = self.changes
        for key in self.base:
            if key not in changes or changes[key] is not _GONE:
                yield key
        for key, value in changes.items():
            if key not in self.base and value is not _GONE:
                yield key

    def __len__(self) -> int:
        if not self.changes:
            return len(self.base)
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        if not self.changes:
            return bool(self.base)
        return any(True for _ in self)

    def __setitem__(self, key: K, value: V) -> None:
        self.changes[key] = value

    def pop(self, key: K, default: Any = None) -> Any:
        value = self.get(key, _GONE)
        if value is _GONE:
            return default
        self.changes[key] = _GONE
        return value

    def setdefault(self, key: K, value: V) -> V:
        current = self.get(key, _GONE)
        if current is _GONE:
            self.changes[key] = value
            return value
        return cast(V, current)

    def merge(self) -> None:
        """Write this layer's changes into `base` (after the commit that stored them)."""
        if not self.changes:
            return
        base = self.base
        for key, value in self.changes.items():
            if value is _GONE:
                base.pop(key, None)
            else:
                base[key] = value
        self.changes = {}
