"""What the engine reports to OpenTelemetry, and the default that reports nothing.

`Telemetry` is the engine's one door to traces and log records: the runner opens an attempt
span, the http node a client span, a component call a span and its host imports theirs, the
driver emits an execution's span when it settles. This base class does nothing and imports
nothing, so an engine without a tracer provider pays a method call per attempt;
`fuchsia.observe.otel.OtelTelemetry` is the one that reports (`fuchsia.observe.setup`
chooses).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fuchsia.observe.ids import TraceRef

if TYPE_CHECKING:
    from fuchsia.runtime.masking import Masker
    from fuchsia.runtime.work import Outcome


class Span:
    """A span being recorded, as the code that opened it may annotate it (nothing, here)."""

    def set(self, key: str, value: Any) -> None:
        """Set attribute `key` (None leaves it unset)."""

    def fail(self, kind: str, message: str) -> None:
        """Mark the span failed: `kind` is the error's type (`error.type`), `message` why."""


NO_SPAN = Span()


class AttemptSpan(AbstractContextManager["AttemptSpan"]):
    """An attempt's span: current while the attempt runs (its component calls and requests
    open their spans under it); `finish` records how the attempt ended."""

    def __exit__(self, *exc: object) -> None:
        return None

    def finish(self, outcome: Outcome) -> None:
        """Record the attempt's status and error, and its log lines as log records."""

    def context(self) -> Any:
        """What a span opened on another thread passes as its parent (None: none)."""
        return None

    @property
    def ids(self) -> tuple[str, str] | None:
        """(trace id, span id) of the span, when it is recorded."""
        return None


NO_ATTEMPT = AttemptSpan()


@dataclass(frozen=True, slots=True)
class Attempt:
    """Which attempt a span is of."""

    execution_id: str
    trace: TraceRef
    workflow: str
    node: str
    kind: str
    item: int | None
    number: int
    worker: str | None
    # its span id is derived (`ids.attempt_span_id`): not for kinds whose attempt may run
    # in several processes one after the other (a parked wait), which would repeat it
    derived: bool = True


@dataclass(frozen=True, slots=True)
class Settled:
    """An execution that reached a final status, as its span shows it."""

    execution_id: str
    trace: TraceRef
    workflow: str
    version: int
    workflow_hash: str
    status: str
    error: Mapping[str, Any] | None
    created_at: float
    started_at: float | None
    finished_at: float


class Telemetry:
    """Reports nothing: the engine's telemetry when no tracer provider is configured."""

    enabled = False

    def bind(self, masker: Masker) -> None:
        """Mask what is reported with the engine's secrets (error messages, URLs, logs)."""

    def attempt(self, attempt: Attempt) -> AttemptSpan:
        return NO_ATTEMPT

    def settled(self, execution: Settled) -> None:
        """Emit the span of an execution that reached a final status."""

    def span(
        self, name: str, attributes: Mapping[str, Any], parent: Any = None, client: bool = False
    ) -> AbstractContextManager[Span]:
        """A span of work inside an attempt (a component call, a host import), under the
        current span, or under `parent` (an `AttemptSpan.context()`) on another thread."""
        return nullcontext(NO_SPAN)

    def request(
        self, method: str, url: str, headers: dict[str, str]
    ) -> AbstractContextManager[Span]:
        """An http node's request (a client span, HTTP semantic conventions); puts the
        `traceparent` of the span into `headers` unless the node set one."""
        return nullcontext(NO_SPAN)

    def current(self) -> tuple[str, str] | None:
        """(trace id, span id) of the span current here, if one is recorded."""
        return None

    def trigger(
        self, kind: str, attributes: Mapping[str, Any], incoming: str | None = None
    ) -> AbstractContextManager[None]:
        """While it is open, executions started here link to what started them: `incoming`
        (a caller's valid `traceparent` header), else a span recorded for the trigger
        (`api`, `webhook`, `cron`, `poll`) with `attributes`."""
        return nullcontext()

    def link(self) -> str | None:
        """The traceparent an execution started here links to (see `trigger`)."""
        return None

    def trace_for(self, execution_id: str, child: bool) -> TraceRef:
        """Where a new execution's trace hangs: a child under the node attempt span current
        here (its parent's), a root linked to what started it (see `trigger`)."""
        if child:
            return TraceRef.new(execution_id, under=self.current())
        return TraceRef.new(execution_id, link=self.link())

    def log_fields(self, ref: TraceRef) -> dict[str, str]:
        """What a log line about an execution carries to find its trace (nothing, here)."""
        return {}

    def close(self) -> None:
        """Flush what is buffered (and shut down the providers this made)."""


OFF = Telemetry()
