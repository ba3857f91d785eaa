"""The process-local recorder (`fuchsia.observe.metrics`): a no-op that imports nothing until
enabled, then the same measurements in a Prometheus registry and, given a meter provider, as
OpenTelemetry instruments (seen here through an in-memory reader)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from fuchsia.observe import metrics
from support.prometheus import families, sample

NOOP_PROBE = """
import sys
from fuchsia.observe import metrics
recorder = metrics.recorder
recorder.attempt_finished("w", "http", 0.5, "succeeded")
recorder.execution_started("w")
recorder.webhook_delivered(202)
assert not recorder.enabled and metrics.registry() is None
print(sorted(m for m in sys.modules if m.startswith(("prometheus_client", "opentelemetry"))))
"""


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    metrics.disable()
    yield
    metrics.disable()


def report_one_of_each() -> None:
    """One of every report, through the module as the engine calls it."""
    metrics.recorder.attempt_finished("orders", "http", 0.25, "succeeded")
    metrics.recorder.attempt_finished("orders", "http", 2.0, "timed_out")
    metrics.recorder.attempt_queued("orders", "component", 0.01)
    metrics.recorder.execution_started("orders")
    metrics.recorder.execution_finished("orders", "failed")
    metrics.recorder.retried("orders", "http")
    metrics.recorder.timed_out("orders", "http")
    metrics.recorder.component_instantiated("orders", "greet", 0.0004)
    metrics.recorder.component_called("orders", "greet", 0.003)
    metrics.recorder.webhook_delivered(202)
    metrics.recorder.trigger_fired("nightly", "cron", 1.5)


def test_the_default_recorder_does_nothing_and_imports_neither_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NOOP_PROBE], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_enabled_reports_land_in_the_registry_that_metrics_renders() -> None:
    registry = metrics.enable()
    assert metrics.enable() is registry and metrics.registry() is registry  # idempotent
    assert metrics.recorder.enabled
    report_one_of_each()
    from prometheus_client import generate_latest

    text = generate_latest(registry).decode()
    found = families(text)
    assert {i.name for i in metrics.INSTRUMENTS} <= set(found)
    attempts = "fuchsia_node_attempt_duration_seconds"
    assert found[attempts].type == "histogram"
    ok = {"workflow": "orders", "kind": "http", "status": "succeeded"}
    assert sample(text, f"{attempts}_count", **ok) == 1
    assert sample(text, f"{attempts}_sum", **ok) == 0.25
    assert sample(text, f"{attempts}_bucket", **ok, le="0.25") == 1
    assert sample(text, f"{attempts}_bucket", **ok, le="0.1") == 0
    assert sample(text, "fuchsia_executions_started_total", workflow="orders") == 1
    assert sample(text, "fuchsia_executions_finished_total", status="failed") == 1
    assert sample(text, "fuchsia_retries_total", kind="http") == 1
    assert sample(text, "fuchsia_timeouts_total", kind="http") == 1
    assert sample(text, "fuchsia_component_instantiate_seconds_count", task="greet") == 1
    assert sample(text, "fuchsia_component_call_seconds_sum", task="greet") == 0.003
    assert sample(text, "fuchsia_webhook_deliveries_total", status="202") == 1
    assert sample(text, "fuchsia_trigger_lag_seconds_count", kind="cron") == 1
    assert sample(text, "fuchsia_node_queue_wait_seconds_count", kind="component") == 1


def test_a_clock_step_backwards_is_recorded_as_no_time() -> None:
    registry = metrics.enable()
    metrics.recorder.attempt_queued("orders", "http", -0.5)
    from prometheus_client import generate_latest

    text = generate_latest(registry).decode()
    assert sample(text, "fuchsia_node_queue_wait_seconds_sum") == 0


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """The data points the reader collected, by instrument name."""
    data = reader.get_metrics_data()
    assert data is not None
    return {
        m.name: list(m.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for m in scope.metrics
    }


def test_export_to_records_the_same_measurements_as_opentelemetry_instruments() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        metrics.export_to(provider)
        assert metrics.recorder.enabled and metrics.registry() is None  # Prometheus not asked
        report_one_of_each()
        seen = points(reader)
    finally:
        provider.shutdown()
    assert set(seen) == {i.name for i in metrics.INSTRUMENTS}
    (ok, slow) = sorted(seen["fuchsia_node_attempt_duration_seconds"], key=lambda p: p.sum)
    assert dict(ok.attributes) == {"workflow": "orders", "kind": "http", "status": "succeeded"}
    assert (ok.count, ok.sum) == (1, 0.25)
    assert dict(slow.attributes)["status"] == "timed_out"
    assert tuple(ok.explicit_bounds) == metrics.LONG  # seconds, not the SDK's default
    (started,) = seen["fuchsia_executions_started"]
    assert (dict(started.attributes), started.value) == ({"workflow": "orders"}, 1)
    (delivered,) = seen["fuchsia_webhook_deliveries"]
    assert dict(delivered.attributes) == {"status": "202"}
    (instantiated,) = seen["fuchsia_component_instantiate_seconds"]
    assert tuple(instantiated.explicit_bounds) == metrics.QUICK


def test_with_both_on_every_measurement_goes_to_both() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        registry = metrics.enable()
        metrics.export_to(provider)
        metrics.recorder.retried("orders", "http")
        metrics.recorder.retried("orders", "http")
        seen = points(reader)
    finally:
        provider.shutdown()
    from prometheus_client import generate_latest

    text = generate_latest(registry).decode()
    assert sample(text, "fuchsia_retries_total", workflow="orders", kind="http") == 2
    (retries,) = seen["fuchsia_retries"]
    assert retries.value == 2


def test_disable_returns_to_the_no_op() -> None:
    metrics.enable()
    metrics.disable()
    assert type(metrics.recorder) is metrics.Recorder and metrics.registry() is None
