"""Choosing the engine's telemetry: providers given to `Engine.open`, else the standard
`OTEL_*` environment variables, else none (nothing imported, nothing exported).

From the environment, a signal is on when its exporter is named (`OTEL_TRACES_EXPORTER`,
`OTEL_LOGS_EXPORTER`, `OTEL_METRICS_EXPORTER`: `otlp` or `console`; `none` turns it off) or
an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the signal's own
`OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`); `OTEL_SDK_DISABLED=true` turns everything off. OTLP
goes over HTTP with protobuf (`OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`, the default); the
exporters read their own variables (headers, timeouts, `OTEL_BSP_*` batching), which are
checked here first: a value the SDK would choke on is a `SettingsError` naming it. The SDK and
the exporter are the `otel` extra: `pip install 'fuchsia[otel]'`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fuchsia.config import SettingsError
from fuchsia.logs import logger
from fuchsia.observe.telemetry import OFF, Telemetry

SIGNALS = ("traces", "logs", "metrics")
EXPORTERS = ("otlp", "console", "none")
PROTOCOLS = ("http/protobuf",)
INSTALL = "pip install 'fuchsia[otel]'"
log = logger(__name__)
MILLISECONDS = (1, 86_400_000)  # up to a day; past time_t, the SDK's export thread dies
ITEMS = (1, 100_000)  # spans or log records queued in memory while a collector is away
# The whole numbers each signal's SDK reads. Out of range, the SDK logs a traceback, refuses
# to start (a ValueError), dies in its export thread or exports nothing, so Fuchsia checks
# them first. A batch is at most the queue (2048 unless set, as the specification says).
BATCHING = {
    "traces": ("OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT"),
    "logs": ("OTEL_BLRP_SCHEDULE_DELAY", "OTEL_BLRP_EXPORT_TIMEOUT"),
    "metrics": ("OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_TIMEOUT"),
}
QUEUES = {"traces": "OTEL_BSP", "logs": "OTEL_BLRP"}
DEFAULT_QUEUE = 2048
# the most an OTLP export may wait: the Python exporter reads seconds where the specification
# says milliseconds, so a manifest's 10000 (10 s elsewhere) is taken, as the SDK reads it
OTLP_TIMEOUT = 86_400.0


def telemetry(
    tracer_provider: Any = None,
    logger_provider: Any = None,
    meter_provider: Any = None,
    environ: Mapping[str, str] | None = None,
) -> Telemetry:
    """The engine's telemetry: the providers given, else what the environment configures."""
    if tracer_provider is None and logger_provider is None and meter_provider is None:
        return from_environment(os.environ if environ is None else environ)
    from fuchsia.observe.otel import OtelTelemetry

    if meter_provider is not None:
        _export_metrics(meter_provider)
    return OtelTelemetry(tracer_provider, logger_provider)


def exporters(environ: Mapping[str, str]) -> dict[str, str]:
    """The exporter each configured signal uses (`otlp`, `console`), or a SettingsError that
    names the variable that is wrong."""
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower()
    if disabled == "true":
        return {}
    if disabled not in ("", "false"):  # the specification: anything but true is false
        log.warning("OTEL_SDK_DISABLED=%s is taken as false (only true disables)", disabled)
    endpoint = bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip())
    chosen: dict[str, str] = {}
    for signal in SIGNALS:
        variable = f"OTEL_{signal.upper()}_EXPORTER"
        named = environ.get(variable, "").strip().lower()
        own = bool(environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip())
        if named and named not in EXPORTERS:
            raise SettingsError(variable, named, f"one of {', '.join(EXPORTERS)}")
        exporter = named or ("otlp" if endpoint or own else "none")
        if exporter != "none":
            chosen[signal] = exporter
    if "otlp" in chosen.values():
        protocol = environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip().lower()
        if protocol not in PROTOCOLS:
            raise SettingsError(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                protocol,
                "http/protobuf (Fuchsia's OTLP exporter sends it, to a collector's port 4318)",
            )
    for signal, exporter in chosen.items():
        _check_numbers(environ, signal)
        if exporter == "otlp":
            _check_otlp(environ, signal)
    return chosen


def _check_numbers(environ: Mapping[str, str], signal: str) -> None:
    """The batching and interval variables the SDK reads for `signal`, in range."""
    for variable in BATCHING[signal]:
        _whole(environ, variable, MILLISECONDS, "milliseconds")
    prefix = QUEUES.get(signal)
    if prefix is not None:
        queue = _whole(environ, f"{prefix}_MAX_QUEUE_SIZE", ITEMS, "items") or DEFAULT_QUEUE
        _whole(environ, f"{prefix}_MAX_EXPORT_BATCH_SIZE", (ITEMS[0], queue), "items")


def _whole(
    environ: Mapping[str, str], variable: str, bounds: tuple[int, int], unit: str
) -> int | None:
    """The whole number `variable` holds within `bounds`, or None when it is unset."""
    text = environ.get(variable)
    if text is None:
        return None
    low, high = bounds
    stripped = text.strip()
    if not stripped.isdigit() or len(stripped) > 18 or not low <= int(stripped) <= high:
        raise SettingsError(variable, text, f"a whole number of {unit} from {low} to {high}")
    return int(stripped)


def _check_otlp(environ: Mapping[str, str], signal: str) -> None:
    """The endpoint and timeout the OTLP exporter of `signal` reads: an endpoint it cannot
    send to, or a timeout of 0, NaN or a day, would fail every export (or hold each one)."""
    for variable in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT",
    ):
        url = environ.get(variable, "").strip()
        if url and not _http_url(url):
            raise SettingsError(variable, url, "an http:// or https:// URL naming a host")
    # the signal's own wins, and the exporter reads the generic one only without it
    variable = f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT"
    if variable not in environ:
        variable = "OTEL_EXPORTER_OTLP_TIMEOUT"
    text = environ.get(variable, "")
    if text and not 0 < _number(text) <= OTLP_TIMEOUT:
        raise SettingsError(variable, text, f"a number above 0, at most {OTLP_TIMEOUT:g}")


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port  # a port out of range, or not a number, raises here
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


def _number(text: str) -> float:
    """`text` as a number, NaN when it is not one (NaN is in no range)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def from_environment(environ: Mapping[str, str]) -> Telemetry:
    chosen = exporters(environ)
    if not chosen:
        return OFF
    try:
        from opentelemetry.sdk.resources import Resource
    except ImportError:
        signal = next(iter(chosen))
        raise SettingsError(
            f"OTEL_{signal.upper()}_EXPORTER",
            chosen[signal],
            f"OpenTelemetry's SDK installed to export {signal} ({INSTALL})",
        ) from None
    from fuchsia.observe.otel import OtelTelemetry

    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "fuchsia"}))
    owned: list[Any] = []
    tracer_provider = logger_provider = None
    if "traces" in chosen:
        tracer_provider = _tracer_provider(chosen["traces"], resource)
        owned.append(tracer_provider)
    if "logs" in chosen:
        logger_provider = _logger_provider(chosen["logs"], resource)
        owned.append(logger_provider)
    if "metrics" in chosen:
        meter_provider = _meter_provider(chosen["metrics"], resource)
        owned.append(meter_provider)
        _export_metrics(meter_provider)
    return OtelTelemetry(tracer_provider, logger_provider, tuple(owned))


def _tracer_provider(exporter: str, resource: Any) -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=resource, shutdown_on_exit=False)  # `close` does it
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        span_exporter = _otlp("trace_exporter", "OTLPSpanExporter", "traces")
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider


def _logger_provider(exporter: str, resource: Any) -> Any:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter

    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    if exporter == "console":
        provider.add_log_record_processor(BatchLogRecordProcessor(ConsoleLogRecordExporter()))
    else:
        log_exporter = _otlp("_log_exporter", "OTLPLogExporter", "logs")
        provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    return provider


def _meter_provider(exporter: str, resource: Any) -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )

    metric_exporter = (
        ConsoleMetricExporter()
        if exporter == "console"
        else _otlp("metric_exporter", "OTLPMetricExporter", "metrics")
    )
    reader = PeriodicExportingMetricReader(metric_exporter)
    return MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)


def _otlp(module: str, name: str, signal: str) -> Any:
    """An OTLP/HTTP exporter (it reads its endpoint, headers and timeout from OTEL_*)."""
    import importlib

    try:
        exporters = importlib.import_module(f"opentelemetry.exporter.otlp.proto.http.{module}")
    except ImportError:
        raise SettingsError(
            f"OTEL_{signal.upper()}_EXPORTER",
            "otlp",
            f"the OTLP/HTTP exporter installed ({INSTALL})",
        ) from None
    return getattr(exporters, name)()


def _export_metrics(meter_provider: Any) -> None:
    """Record the engine's metrics to `meter_provider` too (`fuchsia.observe.metrics`)."""
    from fuchsia.observe import metrics

    metrics.export_to(meter_provider)
