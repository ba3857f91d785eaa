"""Secrets never reach the store or a screen (DESIGN.md §4, §7).

`Masker.mask` is the one function every value passes through on its way to the store: the
driver masks each transition as it commits it (attempt inputs, outputs and errors, node
errors, events and log lines, the context, the result), and the engine masks what it writes
beside transitions (signal payloads, a sub-workflow's payload, the trigger context, the
names of artifacts). A secret is replaced by `***` wherever it occurs: as a whole string,
inside a longer one, in a dict key, as a number, and in the forms it takes when embedded in
JSON text or a URL (escaped, percent-encoded). What a node passes to its successors is the
masked value too, so a run reads the same before and after a restart (which only has what
was stored).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, quote_plus

from fuchsia.store.base import Store
from fuchsia.store.records import ArtifactRef, Event, KvChanges, Transition

if TYPE_CHECKING:
    from fuchsia.runtime.effects import SideEffects

MASK = "***"


def _forms(secret: str) -> set[str]:
    """The ways `secret` appears in text: as is, JSON-escaped, percent-encoded."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms |= {quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}
    return {f for f in forms if f}


class Masker:
    """Replaces the values of `secrets` in anything JSON-like."""

    def __init__(self, secrets: dict[str, str]) -> None:
        values = {v for v in secrets.values() if isinstance(v, str) and v}
        forms = sorted({f for v in values for f in _forms(v)}, key=len, reverse=True)
        self.values = frozenset(values)
        self._pattern = re.compile("|".join(re.escape(f) for f in forms)) if forms else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(MASK, value)

    def mask(self, value: Any) -> Any:
        """`value` with every secret replaced; the same object when there is none."""
        if self._pattern is None or value is None:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._pattern.sub(MASK, value) if self._pattern else value
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return MASK if str(value) in self.values else value
        return value

    def transition(self, t: Transition) -> Transition:
        """`t` with every value it would store masked (its rows are copied, not changed)."""
        if self._pattern is None:
            return t
        mask = self.mask
        return dataclasses.replace(
            t,
            nodes=[dataclasses.replace(n, error=mask(n.error)) for n in t.nodes],
            attempts=[
                dataclasses.replace(
                    a, inputs=mask(a.inputs), output=mask(a.output), error=mask(a.error)
                )
                for a in t.attempts
            ],
            execution=None
            if t.execution is None
            else dataclasses.replace(
                t.execution,
                context=mask(t.execution.context),
                result=mask(t.execution.result),
                error=mask(t.execution.error),
                settled=mask(t.execution.settled),
            ),
            events=[Event(e.type, e.node_id, mask(e.data), e.item) for e in t.events],
            kv=[self._kv(kv) for kv in t.kv],
            artifacts=[
                dataclasses.replace(
                    a,
                    ref=dataclasses.replace(
                        a.ref,
                        name=self.text(a.ref.name),
                        content_type=self.text(a.ref.content_type),
                    ),
                )
                for a in t.artifacts
            ],
        )

    def effects(self, e: SideEffects) -> None:
        """An attempt's kv writes and artifact names masked in place, as `transition` would
        store them: what a shared attempt's worker stores for its owner is masked too."""
        e.kv = self._kv(e.kv)
        e.artifacts = [
            dataclasses.replace(
                a,
                ref=dataclasses.replace(
                    a.ref, name=self.text(a.ref.name), content_type=self.text(a.ref.content_type)
                ),
            )
            for a in e.artifacts
        ]

    def _kv(self, kv: KvChanges) -> KvChanges:
        """Kv writes with their keys and values masked, as `MaskedArtifacts` stores them."""
        text = self.text
        return KvChanges(
            kv.scope, {text(k): None if v is None else text(v) for k, v in kv.changes.items()}
        )


class MaskedArtifacts:
    """The store as a node kind sees it: the names and content types of the artifacts it
    stores, and the kv keys and values it sets, masked; everything else is the store's own."""

    def __init__(self, store: Store, masker: Masker) -> None:
        self._store = store
        self._masker = masker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def put_artifact(
        self, execution_id: str, node_id: str | None, name: str, content_type: str, data: bytes
    ) -> ArtifactRef:
        text = self._masker.text
        return await self._store.put_artifact(
            execution_id, node_id, text(name), text(content_type), data
        )

    async def kv_set(self, scope: str, key: str, value: str) -> None:
        await self._store.kv_set(scope, self._masker.text(key), self._masker.text(value))

    async def kv_get(self, scope: str, key: str) -> str | None:
        return await self._store.kv_get(scope, self._masker.text(key))

    async def kv_delete(self, scope: str, key: str) -> None:
        await self._store.kv_delete(scope, self._masker.text(key))


def node_store(store: Store, masker: Masker) -> Store:
    """`store` for node kinds: artifact metadata masked when there are secrets."""
    return cast(Store, MaskedArtifacts(store, masker)) if masker else store
