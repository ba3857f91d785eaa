"""The engine's process-local metrics: what this process did, as Prometheus and OpenTelemetry
instruments, and nothing at all until one of them is asked for.

The engine reports through `recorder`, always read through this module
(`metrics.recorder.attempt_finished(...)`) so that a swap is seen everywhere. By default it is
a `Recorder`, whose methods do nothing: no instrument exists and `prometheus_client` is not
imported, so a plain `fuchsia run` pays one empty method call per report. `enable()` (called
by `fuchsia serve` and `fuchsia worker`) records into a Prometheus registry that `/metrics`
and `fuchsia worker --metrics-port` render; `export_to(meter_provider)` records the same
measurements, under the same names and labels, as OpenTelemetry instruments. With both on,
every measurement goes to both.

What is counted here is what this process did since it started (a counter starts at zero
with the process, as Prometheus expects). What the store holds for every process sharing it
(executions by status, queue depth, claim latency) is `/metrics`'s other half, read from the
store on each scrape (`fuchsia.server.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter as OtelCounter
    from opentelemetry.metrics import Histogram as OtelHistogram
    from opentelemetry.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "INSTRUMENTS",
    "Instrument",
    "Recorder",
    "disable",
    "enable",
    "export_to",
    "recorder",
    "registry",
]


@dataclass(frozen=True)
class Instrument:
    """One metric: a histogram of seconds when it has `buckets`, else a counter (whose
    Prometheus samples end in `_total`)."""

    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None = None
    unit: str = "s"  # OpenTelemetry's unit (UCUM; a counter counts `{things}`)


# seconds: sub-millisecond steps for instantiation, minutes to an hour for work and waits
QUICK = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LONG = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    900.0, 3600.0,
)  # fmt: skip
WORK = ("workflow", "kind")  # the workflow's name and the node's kind

ATTEMPT_DURATION = Instrument(
    "fuchsia_node_attempt_duration_seconds",
    "Node attempts whose outcome this process committed, by how long they ran.",
    (*WORK, "status"),
    LONG,
)
QUEUE_WAIT = Instrument(
    "fuchsia_node_queue_wait_seconds",
    "From the decision that started an attempt (or from its sharing, for an attempt another "
    "worker shared) to the attempt running.",
    WORK,
    LONG,
)
EXECUTIONS_STARTED = Instrument(
    "fuchsia_executions_started",
    "Executions this process created (API, CLI, triggers, sub-workflows, retries).",
    ("workflow",),
    unit="{execution}",
)
EXECUTIONS_FINISHED = Instrument(
    "fuchsia_executions_finished",
    "Executions this process drove to a final status.",
    ("workflow", "status"),
    unit="{execution}",
)
RETRIES = Instrument(
    "fuchsia_retries", "Failed attempts followed by a retry.", WORK, unit="{retry}"
)
TIMEOUTS = Instrument(
    "fuchsia_timeouts", "Attempts ended by their node's timeout.", WORK, unit="{timeout}"
)
COMPONENT_INSTANTIATE = Instrument(
    "fuchsia_component_instantiate_seconds",
    "Instantiating a WebAssembly component for one task call.",
    ("workflow", "task"),
    QUICK,
)
COMPONENT_CALL = Instrument(
    "fuchsia_component_call_seconds",
    "A component task's call, from its entry to its return (instantiation not included).",
    ("workflow", "task"),
    LONG,
)
WEBHOOK_DELIVERIES = Instrument(
    "fuchsia_webhook_deliveries",
    "Requests to /hooks/..., by the HTTP status they were answered with.",
    ("status",),
    unit="{delivery}",
)
TRIGGER_LAG = Instrument(
    "fuchsia_trigger_lag_seconds",
    "From a cron or poll trigger's scheduled instant to the start of its execution.",
    WORK,
    LONG,
)
INSTRUMENTS = (
    ATTEMPT_DURATION,
    QUEUE_WAIT,
    EXECUTIONS_STARTED,
    EXECUTIONS_FINISHED,
    RETRIES,
    TIMEOUTS,
    COMPONENT_INSTANTIATE,
    COMPONENT_CALL,
    WEBHOOK_DELIVERIES,
    TRIGGER_LAG,
)


class Recorder:
    """What the engine reports, while no metrics are enabled: every report does nothing.
    The docstrings say what each report means; `Recording` records them."""

    enabled = False

    def attempt_finished(self, workflow: str, kind: str, seconds: float, status: str) -> None:
        """An attempt's outcome (`status`) was committed, `seconds` after it started."""

    def attempt_queued(self, workflow: str, kind: str, seconds: float) -> None:
        """An attempt started running `seconds` after it was decided (or shared)."""

    def execution_started(self, workflow: str) -> None:
        """An execution was created."""

    def execution_finished(self, workflow: str, status: str) -> None:
        """A commit ended an execution with the final `status`."""

    def retried(self, workflow: str, kind: str) -> None:
        """A failed attempt's retry was committed."""

    def timed_out(self, workflow: str, kind: str) -> None:
        """An attempt ended by its node's timeout was committed."""

    def component_instantiated(self, workflow: str, task: str, seconds: float) -> None:
        """A component was instantiated for a call of `task`."""

    def component_called(self, workflow: str, task: str, seconds: float) -> None:
        """A call of a component's `task` returned or trapped."""

    def webhook_delivered(self, status: int) -> None:
        """A webhook request was answered with the HTTP `status`."""

    def trigger_fired(self, workflow: str, kind: str, lag: float) -> None:
        """A cron or poll instant started an execution `lag` seconds after the instant."""


class Sink(Protocol):
    def record(self, instrument: Instrument, labels: tuple[str, ...], value: float) -> None: ...


class Recording(Recorder):
    """Every report, as a measurement of its instrument, to each sink."""

    enabled = True

    def __init__(self, sinks: tuple[Sink, ...]) -> None:
        self.sinks = sinks

    def _emit(self, instrument: Instrument, labels: tuple[str, ...], value: float = 1.0) -> None:
        for sink in self.sinks:
            sink.record(instrument, labels, value)

    def attempt_finished(self, workflow: str, kind: str, seconds: float, status: str) -> None:
        self._emit(ATTEMPT_DURATION, (workflow, kind, str(status)), max(seconds, 0.0))

    def attempt_queued(self, workflow: str, kind: str, seconds: float) -> None:
        self._emit(QUEUE_WAIT, (workflow, kind), max(seconds, 0.0))

    def execution_started(self, workflow: str) -> None:
        self._emit(EXECUTIONS_STARTED, (workflow,))

    def execution_finished(self, workflow: str, status: str) -> None:
        self._emit(EXECUTIONS_FINISHED, (workflow, str(status)))

    def retried(self, workflow: str, kind: str) -> None:
        self._emit(RETRIES, (workflow, kind))

    def timed_out(self, workflow: str, kind: str) -> None:
        self._emit(TIMEOUTS, (workflow, kind))

    def component_instantiated(self, workflow: str, task: str, seconds: float) -> None:
        self._emit(COMPONENT_INSTANTIATE, (workflow, task), seconds)

    def component_called(self, workflow: str, task: str, seconds: float) -> None:
        self._emit(COMPONENT_CALL, (workflow, task), seconds)

    def webhook_delivered(self, status: int) -> None:
        self._emit(WEBHOOK_DELIVERIES, (str(status),))

    def trigger_fired(self, workflow: str, kind: str, lag: float) -> None:
        self._emit(TRIGGER_LAG, (workflow, kind), max(lag, 0.0))


class _Prometheus:
    """The instruments in a registry of their own (not `prometheus_client.REGISTRY`, so an
    application embedding the engine keeps its own metrics apart)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.counters: dict[str, Counter] = {}
        self.histograms: dict[str, Histogram] = {}
        for i in INSTRUMENTS:
            if i.buckets is None:
                self.counters[i.name] = Counter(i.name, i.help, i.labels, registry=self.registry)
            else:
                self.histograms[i.name] = Histogram(
                    i.name, i.help, i.labels, registry=self.registry, buckets=i.buckets
                )

    def record(self, instrument: Instrument, labels: tuple[str, ...], value: float) -> None:
        if instrument.buckets is None:
            self.counters[instrument.name].labels(*labels).inc(value)
        else:
            self.histograms[instrument.name].labels(*labels).observe(value)


class _OpenTelemetry:
    """The instruments on the meter `fuchsia` of a meter provider, labels as attributes."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter("fuchsia")
        self.counters: dict[str, OtelCounter] = {}
        self.histograms: dict[str, OtelHistogram] = {}
        for i in INSTRUMENTS:
            if i.buckets is None:
                self.counters[i.name] = meter.create_counter(i.name, i.unit, i.help)
            else:
                self.histograms[i.name] = meter.create_histogram(
                    i.name, i.unit, i.help, explicit_bucket_boundaries_advisory=i.buckets
                )

    def record(self, instrument: Instrument, labels: tuple[str, ...], value: float) -> None:
        attributes = dict(zip(instrument.labels, labels, strict=True))
        if instrument.buckets is None:
            self.counters[instrument.name].add(value, attributes)
        else:
            self.histograms[instrument.name].record(value, attributes)


recorder: Recorder = Recorder()
_prometheus: _Prometheus | None = None
_opentelemetry: _OpenTelemetry | None = None


def enable() -> CollectorRegistry:
    """Record into Prometheus instruments from now on (idempotent); their registry."""
    global _prometheus
    if _prometheus is None:
        _prometheus = _Prometheus()
        _rewire()
    return _prometheus.registry


def export_to(meter_provider: MeterProvider | None = None) -> None:
    """Record every measurement to `meter_provider` too (the global one when None), so that
    its readers and exporters see them; replaces the one given before."""
    global _opentelemetry
    if meter_provider is None:
        from opentelemetry import metrics as otel_metrics

        meter_provider = otel_metrics.get_meter_provider()
    _opentelemetry = _OpenTelemetry(meter_provider)
    _rewire()


def registry() -> CollectorRegistry | None:
    """The Prometheus registry `enable()` made, or None while it was not called."""
    return None if _prometheus is None else _prometheus.registry


def disable() -> None:
    """Back to recording nothing, instruments dropped (tests, an embedder that is done)."""
    global _prometheus, _opentelemetry
    _prometheus = _opentelemetry = None
    _rewire()


def _rewire() -> None:
    global recorder
    sinks = tuple(s for s in (_prometheus, _opentelemetry) if s is not None)
    recorder = Recording(sinks) if sinks else Recorder()
