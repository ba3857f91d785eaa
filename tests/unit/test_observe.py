"""The pure parts of `fuchsia.observe`: derived ids, traceparent parsing, and which signals
the `OTEL_*` variables turn on (with an error that names the variable)."""

from __future__ import annotations

import pytest

from fuchsia.config import SettingsError
from fuchsia.observe import ids, setup
from fuchsia.observe.telemetry import OFF


def test_derived_ids_are_stable_distinct_and_well_formed() -> None:
    a, b = "0190aa00000000000000000001", "0190aa00000000000000000002"
    assert ids.trace_id_of(a) == ids.trace_id_of(a)
    assert ids.trace_id_of(a) != ids.trace_id_of(b)
    assert len(ids.trace_id_of(a)) == 32 and len(ids.execution_span_id(a)) == 16
    spans = {
        ids.execution_span_id(a),
        ids.attempt_span_id(a, "n", None, 1),
        ids.attempt_span_id(a, "n", None, 2),
        ids.attempt_span_id(a, "n", 0, 1),
        ids.attempt_span_id(a, "m", None, 1),
    }
    assert len(spans) == 5
    assert all(int(s, 16) != 0 for s in spans)


def test_a_traceparent_is_taken_only_in_its_w3c_shape() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert ids.parse_traceparent(good) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        1,
    )
    for bad in (
        None,
        "",
        good[:-1],
        good + "0",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "x" * 10_000,
        42,
    ):
        assert ids.parse_traceparent(bad) is None, bad


def test_a_sub_workflow_trace_is_its_parents_and_a_root_derives_its_own() -> None:
    root = ids.TraceRef.new("e1", link="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    assert root.trace_id == ids.trace_id_of("e1") and root.parent is None
    child = ids.TraceRef.new("e2", under=(root.trace_id, "c" * 16))
    assert child == ids.TraceRef(root.trace_id, "c" * 16, None)
    assert root.link_to("e1") == f"00-{root.trace_id}-{ids.execution_span_id('e1')}-01"


def test_nothing_is_on_without_otel_variables() -> None:
    assert setup.exporters({}) == {}
    assert setup.telemetry(environ={}) is OFF
    assert setup.exporters({"OTEL_SERVICE_NAME": "x"}) == {}


def test_an_otlp_endpoint_turns_every_signal_on_and_none_turns_one_off() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert setup.exporters(env) == {"traces": "otlp", "logs": "otlp", "metrics": "otlp"}
    env["OTEL_METRICS_EXPORTER"] = "none"
    assert setup.exporters(env) == {"traces": "otlp", "logs": "otlp"}
    assert setup.exporters({"OTEL_TRACES_EXPORTER": "console"}) == {"traces": "console"}
    own = {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://127.0.0.1:4318/v1/logs"}
    assert setup.exporters(own) == {"logs": "otlp"}
    assert setup.exporters({**env, "OTEL_SDK_DISABLED": "true"}) == {}
    assert setup.exporters({**env, "OTEL_SDK_DISABLED": "False"}) == setup.exporters(env)


def test_otel_numbers_in_range_are_left_to_the_sdk() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2.5",
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BSP_MAX_QUEUE_SIZE": "8192",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4096",
        "OTEL_METRIC_EXPORT_INTERVAL": "86400000",
    }
    assert setup.exporters(env) == {"traces": "otlp", "logs": "otlp", "metrics": "otlp"}


def test_what_the_specification_and_the_python_exporter_take_is_taken() -> None:
    """A manifest shared with other languages: a timeout of 10000 (milliseconds in the
    specification, seconds to the Python exporter), a signal's own timeout that wins over
    a generic one, and OTEL_SDK_DISABLED other than true, which is false."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/prefix"}
    every = {"traces": "otlp", "logs": "otlp", "metrics": "otlp"}
    assert setup.exporters({**env, "OTEL_EXPORTER_OTLP_TIMEOUT": "10000"}) == every
    overridden = {
        "OTEL_EXPORTER_OTLP_TIMEOUT": "nan",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "10",
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "10",
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "10",
    }
    assert setup.exporters({**env, **overridden}) == every  # the generic one is never read
    for value in ("0", "yes", "1"):
        assert setup.exporters({**env, "OTEL_SDK_DISABLED": value}) == every


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            {"OTEL_LOGS_EXPORTER": "console", "OTEL_BLRP_MAX_QUEUE_SIZE": ""},
            "OTEL_BLRP_MAX_QUEUE_SIZE",
        ),
        (
            {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://h:0"},
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        ),
    ],
)
def test_a_setting_fuchsia_cannot_honour_names_its_variable(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        setup.exporters(env)
    assert raised.value.variable == variable
    assert variable in str(raised.value)


def test_the_default_telemetry_does_nothing() -> None:
    assert not OFF.enabled
    assert OFF.current() is None and OFF.link() is None
    with OFF.trigger("api", {}, "00-" + "a" * 32 + "-" + "b" * 16 + "-01"):
        assert OFF.link() is None
    headers: dict[str, str] = {}
    with OFF.request("GET", "http://127.0.0.1/", headers) as span:
        span.set("http.response.status_code", 200)
    assert headers == {}
