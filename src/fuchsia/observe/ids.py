"""The trace of an execution, derived from what is stored, so that every process that touches
an execution (the one that started it, a worker that resumed it after a `kill -9`, the one
that settles it) puts its spans in one trace without sharing anything in memory.

- An execution's trace id is derived from its id when it is created and stored with it; a
  sub-workflow's is its parent's, and its execution span sits under the parent's node span
  (`TraceRef.parent`).
- The execution span's id is derived from the execution id, so an attempt span names its
  parent before that span exists: the execution span is emitted when the execution settles.
- An attempt's span id is derived from the execution, the unit and the attempt number, so a
  retry links to the attempt before it, whichever process ran that one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fuchsia.store.records import ExecutionRecord

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16


def _digest(*parts: str, width: int) -> str:
    text = "\x1f".join(parts).encode()
    value = hashlib.blake2b(text, digest_size=width // 2, person=b"fuchsia-trace").hexdigest()
    return value if value.strip("0") else "1".rjust(width, "0")  # all zeros is invalid


def trace_id_of(execution_id: str) -> str:
    """The trace id (32 hex digits) of an execution that is not a sub-workflow."""
    return _digest("trace", execution_id, width=32)


def execution_span_id(execution_id: str) -> str:
    """The span id (16 hex digits) of an execution's own span."""
    return _digest("execution", execution_id, width=16)


def attempt_span_id(execution_id: str, node: str, item: int | None, number: int) -> str:
    """The span id of attempt `number` of a node (or of one item of a foreach node)."""
    unit = "" if item is None else str(item)
    return _digest("attempt", execution_id, node, unit, str(number), width=16)


def parse_traceparent(value: Any) -> tuple[str, str, int] | None:
    """(trace id, span id, flags) of a W3C `traceparent` header, None for anything else
    (it is what a caller sent: never trusted further than its shape)."""
    if not isinstance(value, str) or len(value) != 55:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or match[1] == _INVALID_TRACE or match[2] == _INVALID_SPAN:
        return None
    return match[1], match[2], int(match[3], 16)


def traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


@dataclass(frozen=True, slots=True)
class TraceRef:
    """Where an execution's spans go, as stored with it: its trace id, the span its own
    span sits under (a sub-workflow's parent node attempt; None for a root) and the
    `traceparent` it links to (what started it: an API call, a webhook, a cron instant)."""

    trace_id: str
    parent: str | None = None
    link: str | None = None

    @classmethod
    def stored(cls, record: ExecutionRecord) -> TraceRef:
        """An execution's, as stored (one stored before traces derives its trace id)."""
        trace_id = record.trace_id or trace_id_of(record.id)
        return cls(trace_id, record.trace_parent, record.trace_link)

    @classmethod
    def new(
        cls, execution_id: str, under: tuple[str, str] | None = None, link: str | None = None
    ) -> TraceRef:
        """A new execution's: under `under` (trace id, span id: a sub-workflow's parent node
        attempt span), else a trace of its own; linked to `link` (a traceparent)."""
        if under is not None:
            return cls(under[0], under[1], link)
        return cls(trace_id_of(execution_id), None, link)

    def link_to(self, execution_id: str) -> str:
        """The traceparent of this execution's own span (what a retry of it links to)."""
        return traceparent(self.trace_id, execution_span_id(execution_id))
