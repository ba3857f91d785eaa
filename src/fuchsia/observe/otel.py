"""Telemetry that reports to OpenTelemetry: spans through a tracer, component log lines and
engine records as log records (only imported once a provider is configured).

Ids are what makes one execution one trace across processes (`fuchsia.observe.ids`): the
execution span and each attempt span get the ids derived from what is stored. The SDK's
tracer takes its ids from an id generator; this module gives its own tracer one that hands
out the wanted id for the span being started and the provider's own otherwise. A tracer
without an id generator (not the SDK's) still gets every span, with ids of its own making.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry._logs import LoggerProvider, SeverityNumber
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace import Span as OtelSpan

from fuchsia.logs import ROOT, fields_of, logger
from fuchsia.observe import ids
from fuchsia.observe.telemetry import Attempt, AttemptSpan, Settled, Span, Telemetry

if TYPE_CHECKING:
    from fuchsia.observe.ids import TraceRef
    from fuchsia.runtime.masking import Masker
    from fuchsia.runtime.work import Outcome

SCOPE = "fuchsia"
CLOSE_WAIT = 5.0  # seconds `close` waits for what is batched to reach the collector
log = logger(__name__)
_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)
_NOT_SAMPLED = trace.TraceFlags(trace.TraceFlags.DEFAULT)
# the ids the span being started gets (trace id, span id), None for the generator's own
_WANTED: contextvars.ContextVar[tuple[int | None, int | None]] = contextvars.ContextVar(
    "fuchsia_wanted_ids", default=(None, None)
)


@dataclass
class _Trigger:
    """What starts executions in this context (`OtelTelemetry.trigger`), and once one is
    started, the traceparent they link to ("": none)."""

    kind: str
    attributes: Mapping[str, Any]
    incoming: str | None
    link: str | None = None


_LINK: contextvars.ContextVar[_Trigger | None] = contextvars.ContextVar(
    "fuchsia_link", default=None
)
_SEVERITY = {
    "trace": SeverityNumber.TRACE,
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warn": SeverityNumber.WARN,
    "warning": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
}


class _WantedIds:
    """An id generator that gives the next span the ids `_WANTED` holds, else `fallback`'s."""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback

    def generate_span_id(self) -> int:
        wanted = _WANTED.get()[1]
        return wanted if wanted is not None else int(self.fallback.generate_span_id())

    def generate_trace_id(self) -> int:
        wanted = _WANTED.get()[0]
        return wanted if wanted is not None else int(self.fallback.generate_trace_id())

    def is_trace_id_random(self) -> bool:
        # derived trace ids are hashes: as random as the generator's own
        random = getattr(self.fallback, "is_trace_id_random", None)
        return bool(random()) if random is not None else False


def _remote(trace_id: str, span_id: str, sampled: bool) -> SpanContext:
    flags = _SAMPLED if sampled else _NOT_SAMPLED
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=flags)


def _under(trace_id: str, span_id: str, sampled: bool) -> otel_context.Context:
    return trace.set_span_in_context(NonRecordingSpan(_remote(trace_id, span_id, sampled)))


@functools.lru_cache(maxsize=4096)
def _in_execution(trace_id: str, execution_id: str, sampled: bool) -> otel_context.Context:
    """The context an execution's attempt spans start under (its span, by its derived id),
    made once per execution in flight rather than once per attempt."""
    return _under(trace_id, ids.execution_span_id(execution_id), sampled)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _attribute(value: Any) -> Any:
    """A value OpenTelemetry takes as an attribute: a scalar as it is, anything else as text."""
    return value if isinstance(value, str | bool | int | float) else str(value)


class _Span(Span):
    def __init__(self, span: OtelSpan, masker: Masker | None) -> None:
        self.span = span
        self.masker = masker

    def set(self, key: str, value: Any) -> None:
        if value is not None:
            self.span.set_attribute(key, _attribute(value))

    def fail(self, kind: str, message: str) -> None:
        text = self.masker.text(message) if self.masker else message
        self.span.set_attribute("error.type", kind)
        self.span.set_status(Status(StatusCode.ERROR, text))


class _AttemptSpan(AttemptSpan):
    def __init__(self, owner: OtelTelemetry, span: OtelSpan) -> None:
        self.owner = owner
        self.span = span
        self.token: object | None = None

    def __enter__(self) -> _AttemptSpan:
        self.token = otel_context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(self, *exc: object) -> None:
        error = exc[1] if len(exc) > 1 else None
        if self.token is not None:
            otel_context.detach(self.token)  # type: ignore[arg-type]
            self.token = None
        if error is not None:  # cancelled (a lease lost, a stop): the attempt did not end
            self.span.set_attribute("fuchsia.attempt.status", "interrupted")
            self.span.set_attribute("error.type", type(error).__name__)
            self.span.set_status(Status(StatusCode.ERROR, "interrupted"))
        self.span.end()

    def finish(self, outcome: Outcome) -> None:
        span = self.span
        if outcome.park is not None:
            span.set_attribute("fuchsia.attempt.status", "parked")
        elif outcome.error is not None:
            error = outcome.error
            span.set_attribute("fuchsia.attempt.status", "failed")
            span.set_attribute("error.type", getattr(error, "code", None) or type(error).__name__)
            span.set_attribute("fuchsia.error.retryable", bool(getattr(error, "retryable", False)))
            span.set_status(Status(StatusCode.ERROR, self.owner.mask_text(str(error))))
        else:
            span.set_attribute("fuchsia.attempt.status", "succeeded")
        self.owner.log_lines(outcome.logs, span)

    def context(self) -> otel_context.Context:
        return trace.set_span_in_context(self.span)

    @property
    def ids(self) -> tuple[str, str] | None:
        context = self.span.get_span_context()
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class _EngineRecords(logging.Handler):
    """The engine's own `logging` records (the `fuchsia` loggers, at the level they are
    configured to) as log records too, with the trace and span current where they were
    logged and their extra fields as attributes."""

    def __init__(self, logger: Any, masker: Callable[[str], str]) -> None:
        super().__init__()
        self.logger = logger
        self.mask = masker

    def emit(self, record: logging.LogRecord) -> None:
        try:
            attributes = {k: _attribute(v) for k, v in fields_of(record).items() if v is not None}
            attributes["code.function.name"] = record.funcName
            attributes["code.file.path"] = record.pathname
            attributes["code.line.number"] = record.lineno
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                attributes["exception.type"] = type(error).__name__
                attributes["exception.message"] = self.mask(str(error))
                attributes["exception.stacktrace"] = self.mask(
                    "".join(traceback.format_exception(*record.exc_info))
                )
            self.logger.emit(
                timestamp=int(record.created * 1e9),
                severity_number=_LEVELS.get(record.levelno, SeverityNumber.INFO),
                severity_text=record.levelname,
                body=self.mask(record.getMessage()),
                attributes=attributes,
            )
        except Exception:  # a log record must never fail what logged it
            self.handleError(record)


_LEVELS = {
    logging.DEBUG: SeverityNumber.DEBUG,
    logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN,
    logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}


class OtelTelemetry(Telemetry):
    """Spans from `tracer_provider`, log records to `logger_provider` (either may be None).
    `owned`: providers this made from the environment, shut down by `close`."""

    enabled = True

    def __init__(
        self,
        tracer_provider: Any = None,
        logger_provider: LoggerProvider | None = None,
        owned: tuple[Any, ...] = (),
    ) -> None:
        from fuchsia import __version__

        self.tracer_provider = tracer_provider
        self.logger_provider = logger_provider
        self.owned = owned
        self.masker: Masker | None = None
        provider = tracer_provider or trace.NoOpTracerProvider()
        self.tracer = provider.get_tracer(SCOPE, __version__)
        if hasattr(self.tracer, "id_generator"):
            self.tracer.id_generator = _WantedIds(self.tracer.id_generator)
        self.logger = (
            logger_provider.get_logger(SCOPE, __version__) if logger_provider is not None else None
        )
        self.handler: _EngineRecords | None = None
        self.close_wait = CLOSE_WAIT
        self._sampled = functools.lru_cache(maxsize=4096)(self._decide)
        if self.logger is not None:
            self.handler = _EngineRecords(self.logger, self.mask_text)
            logging.getLogger(ROOT).addHandler(self.handler)

    def bind(self, masker: Masker) -> None:
        self.masker = masker

    def mask_text(self, text: str) -> str:
        return self.masker.text(text) if self.masker else text

    def _decide(self, trace_id: str) -> bool:
        """Whether an execution's trace is recorded: the sampler's decision for a root span
        of that trace id, asked once per trace (per process). Its spans are started (in any
        process, at any time) under parents that carry the decision, and the execution's
        own span is not started when it is "drop": a sampler that decides from the trace id
        (a ratio, parent-based or not; always on or off) keeps or drops the whole trace
        everywhere. One that decides from a span's name or attributes, or at random per
        call, can still split it (the README says so)."""
        sampler = getattr(self.tracer, "sampler", None)
        if sampler is None:  # a tracer that is not the SDK's: it decides for itself
            return True
        try:
            decision = sampler.should_sample(otel_context.Context(), int(trace_id, 16), "workflow")
            return bool(decision.decision.is_sampled())
        except Exception:  # a sampler's bug must not fail an attempt
            log.exception("telemetry: the sampler failed; the trace is recorded")
            return True

    def _start(
        self,
        name: str,
        context: otel_context.Context | None,
        trace_id: str | None = None,
        span_id: str | None = None,
        **options: Any,
    ) -> OtelSpan:
        token = _WANTED.set(
            (
                None if trace_id is None else int(trace_id, 16),
                None if span_id is None else int(span_id, 16),
            )
        )
        try:
            return self.tracer.start_span(name, context=context, **options)
        finally:
            _WANTED.reset(token)

    def attempt(self, attempt: Attempt) -> AttemptSpan:
        trace_id = attempt.trace.trace_id
        execution_id = attempt.execution_id
        # what the execution span holds (its version, hash, status) is not repeated here;
        # the execution id and workflow name are, to find a running execution's attempts
        attributes: dict[str, Any] = {
            "fuchsia.node.id": attempt.node,
            "fuchsia.node.kind": attempt.kind,
            "fuchsia.attempt": attempt.number,
            "fuchsia.execution.id": execution_id,
            "fuchsia.workflow.name": attempt.workflow,
        }
        if attempt.item is not None:
            attributes["fuchsia.item"] = attempt.item
        if attempt.worker is not None:
            attributes["fuchsia.worker"] = attempt.worker
        span_id = links = None
        sampled = self._sampled(trace_id)
        if attempt.derived:
            span_id = ids.attempt_span_id(execution_id, attempt.node, attempt.item, attempt.number)
            if attempt.number > 1:
                before = ids.attempt_span_id(
                    execution_id, attempt.node, attempt.item, attempt.number - 1
                )
                previous = {"fuchsia.link": "previous_attempt"}
                links = [Link(_remote(trace_id, before, sampled), previous)]
        span = self._start(
            f"node {attempt.node}",
            _in_execution(trace_id, execution_id, sampled),
            span_id=span_id,
            attributes=attributes,
            links=links,
        )
        return _AttemptSpan(self, span)

    def settled(self, execution: Settled) -> None:
        ref = execution.trace
        sampled = self._sampled(ref.trace_id)
        if not sampled and ref.parent is None:
            return  # its attempts were dropped: no execution span of its own either
        parent = (
            _under(ref.trace_id, ref.parent, sampled)
            if ref.parent is not None
            else otel_context.Context()  # a root: not under whatever is current here
        )
        links = []
        link = ids.parse_traceparent(ref.link)
        if link is not None:
            linked = bool(link[2] & 1)
            links.append(Link(_remote(link[0], link[1], linked), {"fuchsia.link": "trigger"}))
        span = self._start(
            f"workflow {execution.workflow}",
            parent,
            trace_id=ref.trace_id,
            span_id=ids.execution_span_id(execution.execution_id),
            kind=SpanKind.INTERNAL,
            attributes={
                "fuchsia.execution.id": execution.execution_id,
                "fuchsia.workflow.name": execution.workflow,
                "fuchsia.workflow.version": execution.version,
                "fuchsia.workflow.hash": execution.workflow_hash,
                "fuchsia.execution.status": execution.status,
            },
            links=links,
            start_time=_ns(execution.created_at),
        )
        if execution.started_at is not None:
            span.add_event("started", timestamp=_ns(execution.started_at))
        if execution.error:
            kind = str(execution.error.get("type") or execution.error.get("code") or "error")
            span.set_attribute("error.type", kind)
            message = self.mask_text(str(execution.error.get("message", "")))
            span.set_status(Status(StatusCode.ERROR, message))
        span.end(end_time=_ns(execution.finished_at))

    def span(
        self, name: str, attributes: Mapping[str, Any], parent: Any = None, client: bool = False
    ) -> AbstractContextManager[Span]:
        return self._around(name, attributes, parent, SpanKind.CLIENT if client else None)

    @contextmanager
    def _around(
        self,
        name: str,
        attributes: Mapping[str, Any],
        parent: Any,
        kind: SpanKind | None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[Span]:
        mask = self.mask_text
        options: dict[str, Any] = {
            "attributes": {
                k: mask(v) if isinstance(v, str) else _attribute(v) for k, v in attributes.items()
            }
        }
        if kind is not None:
            options["kind"] = kind
        span = self.tracer.start_span(name, context=parent, **options)
        handle = _Span(span, self.masker)
        try:
            with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                if headers is not None and not any(k.lower() == "traceparent" for k in headers):
                    propagate.inject(headers)
                yield handle
        except BaseException as exc:
            handle.fail(type(exc).__name__, str(exc))
            raise
        finally:
            span.end()

    def request(
        self, method: str, url: str, headers: dict[str, str]
    ) -> AbstractContextManager[Span]:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        attributes = {
            "http.request.method": method.upper(),
            "url.full": self.mask_text(url),
            "server.address": parts.hostname or "",
            "server.port": port,
        }
        return self._around(method.upper(), attributes, None, SpanKind.CLIENT, headers)

    def current(self) -> tuple[str, str] | None:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"

    @contextmanager
    def trigger(
        self, kind: str, attributes: Mapping[str, Any], incoming: str | None = None
    ) -> Iterator[None]:
        token = _LINK.set(_Trigger(kind, attributes, incoming))
        try:
            yield
        finally:
            _LINK.reset(token)

    def link(self) -> str | None:
        """The incoming traceparent, else the trigger's span, recorded on the first call (a
        poll that starts nothing records no span)."""
        trigger = _LINK.get()
        if trigger is None:
            return None
        if trigger.link is None:
            parsed = ids.parse_traceparent(trigger.incoming)
            if parsed is not None:
                trigger.link = ids.traceparent(parsed[0], parsed[1], bool(parsed[2] & 1))
            else:
                trigger.link = self._trigger_span(trigger)
        return trigger.link or None

    def _trigger_span(self, trigger: _Trigger) -> str:
        attributes = {"fuchsia.trigger": trigger.kind}
        attributes.update(
            (k, _attribute(v)) for k, v in trigger.attributes.items() if v is not None
        )
        span = self.tracer.start_span(
            f"trigger {trigger.kind}",
            context=otel_context.Context(),
            kind=SpanKind.PRODUCER,
            attributes=attributes,
        )
        span.end()
        context = span.get_span_context()
        if not context.is_valid:
            return ""
        sampled = bool(context.trace_flags.sampled)
        return ids.traceparent(f"{context.trace_id:032x}", f"{context.span_id:016x}", sampled)

    def log_lines(self, lines: list[dict[str, Any]], span: OtelSpan) -> None:
        """A component's log lines as log records of the attempt's span."""
        if self.logger is None or not lines:
            return
        context = trace.set_span_in_context(span)
        mask = self.masker.mask if self.masker else (lambda value: value)
        now = time.time_ns()
        for line in lines:
            level = str(line.get("level", "info")).lower()
            fields = line.get("fields") or {}
            attributes = {f"fuchsia.log.{k}": _attribute(mask(v)) for k, v in dict(fields).items()}
            self.logger.emit(
                timestamp=now,
                context=context,
                severity_number=_SEVERITY.get(level, SeverityNumber.INFO),
                severity_text=level.upper(),
                body=mask(str(line.get("message", ""))),
                attributes=attributes,
            )

    def log_fields(self, ref: TraceRef) -> dict[str, str]:
        return {"trace_id": ref.trace_id}

    def close(self) -> None:
        """Send what is batched and shut down the providers this made, waiting no longer
        than `close_wait` seconds: a collector that is down or does not answer would hold
        every `fuchsia run` for the exporters' retries (8-15 s). What it has not taken by
        then is dropped, with a warning; the flush goes on in a daemon thread, which
        keeps no process from exiting."""
        if self.handler is not None:
            logging.getLogger(ROOT).removeHandler(self.handler)
        done = threading.Event()

        def flush_and_shut_down() -> None:
            try:
                for provider in (self.tracer_provider, self.logger_provider):
                    flush = getattr(provider, "force_flush", None)
                    if flush is not None:
                        flush()
                for provider in self.owned:
                    provider.shutdown()
            except Exception:  # an exporter's bug must not fail the engine's close
                log.exception("telemetry: flushing on close failed")
            finally:
                done.set()

        name = "fuchsia-telemetry-close"
        threading.Thread(target=flush_and_shut_down, name=name, daemon=True).start()
        if not done.wait(self.close_wait):
            log.warning(
                "telemetry: the collector did not take what was batched within %gs; the rest "
                "is dropped",
                self.close_wait,
            )
