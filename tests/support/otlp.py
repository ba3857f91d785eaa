"""A real OTLP/HTTP receiver on 127.0.0.1 for tests: what an OpenTelemetry collector's port
4318 takes (`POST /v1/traces`, `/v1/logs`, `/v1/metrics`, protobuf bodies), decoded with
`opentelemetry-proto` and kept for the test to read. Ids are hex strings, as the README and
`Execution.trace_id` show them.
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent: str | None
    name: str
    attributes: dict[str, Any]
    links: list[tuple[str, str, dict[str, Any]]]
    service: str
    error: bool


@dataclass(frozen=True)
class LogRecord:
    trace_id: str
    span_id: str
    body: Any
    severity: str
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        received = self.server.received
        if self.path == "/v1/traces":
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            spans = list(_spans(request))
            with received.lock:
                received.spans.extend(spans)
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        elif self.path == "/v1/logs":
            logs = logs_service_pb2.ExportLogsServiceRequest.FromString(body)
            records = list(_logs(logs))
            with received.lock:
                received.logs.extend(records)
            reply = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
        elif self.path == "/v1/metrics":
            metrics = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
            names = [
                metric.name
                for resource in metrics.resource_metrics
                for scope in resource.scope_metrics
                for metric in scope.metrics
            ]
            with received.lock:
                received.metrics.extend(names)
            reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def _spans(request: Any) -> Any:
    for resource in request.resource_spans:
        service = _attributes(resource.resource.attributes).get("service.name", "")
        for scope in resource.scope_spans:
            for span in scope.spans:
                yield Span(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent=span.parent_span_id.hex() or None,
                    name=span.name,
                    attributes=_attributes(span.attributes),
                    links=[
                        (link.trace_id.hex(), link.span_id.hex(), _attributes(link.attributes))
                        for link in span.links
                    ],
                    service=str(service),
                    error=span.status.code == 2,  # STATUS_CODE_ERROR
                )


def _logs(request: Any) -> Any:
    for resource in request.resource_logs:
        for scope in resource.scope_logs:
            for record in scope.log_records:
                yield LogRecord(
                    trace_id=record.trace_id.hex(),
                    span_id=record.span_id.hex(),
                    body=_value(record.body),
                    severity=record.severity_text,
                    attributes=_attributes(record.attributes),
                )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received = Received()


class OtlpReceiver:
    """`with OtlpReceiver() as otlp:` a receiver; `otlp.endpoint` for
    OTEL_EXPORTER_OTLP_ENDPOINT, `otlp.spans()` and `otlp.logs()` what arrived so far."""

    def __init__(self) -> None:
        self.server = _Server()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """The variables that point a process at this receiver, batching every 50 ms."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_SERVICE_NAME": "fuchsia-test",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_BLRP_SCHEDULE_DELAY": "50",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
        }

    def spans(self) -> list[Span]:
        with self.server.received.lock:
            return list(self.server.received.spans)

    def logs(self) -> list[LogRecord]:
        with self.server.received.lock:
            return list(self.server.received.logs)

    def metrics(self) -> list[str]:
        with self.server.received.lock:
            return list(self.server.received.metrics)

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
