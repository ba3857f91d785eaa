"""Traces and log records exported over OTLP/HTTP from real `fuchsia` processes to a loopback
receiver the test runs (tests/support/otlp.py decodes the protobuf): the spans and a Python
step's log records share the execution's trace id, and a run killed with SIGKILL and resumed
by another process stays one trace."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fuchsia.components.registry import Registry
from fuchsia.observe import ids
from support.components import CACHE, built_python_runtime
from support.httpserver import LoopbackServer
from support.otlp import OtlpReceiver
from support.server import Served

from .conftest import FuchsiaEnv, wait_until

STEPS = """
name: reported
nodes:
  add:
    python: |
      from fuchsia_sdk import log

      def main(values):
          log("info", "adding up", count=len(values))
          return {"total": sum(values)}
    inputs: {values: "{{ values }}"}
  done: {after: add, transform: {sum: "{{ total }}"}}
"""


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


def traced_env(fuchsia_env: FuchsiaEnv, otlp: OtlpReceiver) -> FuchsiaEnv:
    fuchsia_env.env.update(otlp.env())
    return fuchsia_env


def test_spans_and_a_steps_log_records_reach_a_collector_with_one_trace_id(
    fuchsia_env: FuchsiaEnv, otlp: OtlpReceiver
) -> None:
    cache = CACHE / "compiled-cache"
    cache.mkdir(parents=True, exist_ok=True)
    Registry(fuchsia_env.home / "components").install(built_python_runtime())
    env = traced_env(fuchsia_env, otlp)
    env.env["FUCHSIA_CACHE"] = str(cache)
    flow = env.home / "reported.yaml"
    flow.write_text(STEPS)
    shown = env.json("run", str(flow), "--input", '{"values": [1, 2, 3]}')
    assert shown["status"] == "completed", shown["error"]
    trace_id = shown["trace_id"]
    assert trace_id == ids.trace_id_of(shown["id"])
    # the process flushed before it exited: everything is here already
    spans = otlp.spans()
    assert {s.trace_id for s in spans} == {trace_id}
    assert {s.service for s in spans} == {"fuchsia-test"}
    names = [s.name for s in spans]
    for name in ("workflow reported", "node add", "node done", "component run"):
        assert names.count(name) == 1, names
    step = next(s for s in spans if s.name == "node add")
    assert step.attributes["fuchsia.node.kind"] == "python"
    call = next(s for s in spans if s.name == "component run")
    assert call.parent == step.span_id
    assert call.attributes["fuchsia.component"].startswith("fuchsia/python-runtime@")
    (record,) = [r for r in otlp.logs() if r.body == "adding up"]
    assert record.trace_id == trace_id
    assert record.span_id == step.span_id
    assert record.severity == "INFO"
    assert record.attributes["fuchsia.log.count"] == 3
    # the same process's metrics, exported when it closed
    assert {"fuchsia_executions_finished", "fuchsia_node_attempt_duration_seconds"} <= set(
        otlp.metrics()
    )


HELD = """
name: held
nodes:
  first: {transform: {ok: true}}
  wait:
    after: first
    http: {url: "BASE/hold/GATE"}
  last: {after: wait, transform: {done: true}}
"""


@pytest.mark.slow
def test_a_run_killed_and_resumed_elsewhere_stays_one_trace(
    fuchsia_env: FuchsiaEnv, otlp: OtlpReceiver, http_server: LoopbackServer
) -> None:
    env = traced_env(fuchsia_env, otlp)
    gate = f"telemetry-{uuid.uuid4().hex[:8]}"
    flow = env.home / "held.yaml"
    flow.write_text(HELD.replace("BASE", http_server.base_url).replace("GATE", gate))
    process = env.popen("run", str(flow), "--db", str(env.db), "--json")
    try:
        wait_until(
            "the held request and the first node's span",
            lambda: (
                http_server.count(f"/hold/{gate}") == 1
                and any(s.name == "node first" for s in otlp.spans())
            ),
            process,
        )
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    before = otlp.spans()
    (killed_pid,) = {s.attributes.get("fuchsia.worker") for s in before if s.name == "node first"}
    (listed,) = env.json("runs", "list", "--db", str(env.db))
    http_server.release(gate)
    resumed = env.json("runs", "resume", listed["id"], "--db", str(env.db))
    assert [r["status"] for r in resumed] == ["completed"], resumed
    execution_id = listed["id"]
    trace_id = ids.trace_id_of(execution_id)
    spans = otlp.spans()
    assert {s.trace_id for s in spans} == {trace_id}
    root = [s for s in spans if s.name == "workflow held"]
    assert len(root) == 1 and root[0].parent is None
    assert root[0].span_id == ids.execution_span_id(execution_id)
    attempts = [s for s in spans if s.name.startswith("node ")]
    assert all(s.parent == root[0].span_id for s in attempts)
    workers = {s.attributes.get("fuchsia.worker") for s in attempts}
    assert killed_pid in workers and len(workers) == 2  # both processes' attempts, one trace
    waits = sorted(s.attributes["fuchsia.attempt"] for s in attempts if s.name == "node wait")
    assert waits[-1] == 2  # the resumed attempt (the killed process never ended the first)
    again = next(
        s for s in attempts if s.name == "node wait" and s.attributes["fuchsia.attempt"] == 2
    )
    assert [link[1] for link in again.links] == [ids.attempt_span_id(execution_id, "wait", None, 1)]


TRIGGERED = """
name: {name}
trigger: {trigger}
nodes:
  only: {{transform: {{ok: true}}}}
"""
SECRET = "telemetry-secret"
INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_what_started_an_execution_is_a_link_of_its_span(
    tmp_path: Path, otlp: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API call's and a webhook's incoming traceparent, and a cron instant's own span."""
    for name, value in otlp.env().items():
        monkeypatch.setenv(name, value)
    flows = {
        "by-api": "{type: manual}",
        "by-hook": f'{{type: webhook, webhook: {{path: /traced, secret: "{SECRET}", '
        "scheme: github}}",
        "by-cron": '{type: cron, cron: {schedule: "* * * * * *"}}',
    }
    with Served(tmp_path) as served, served.client("admin") as admin:
        for name, trigger in flows.items():
            source = TRIGGERED.format(name=name, trigger=trigger)
            assert admin.post("/api/v1/workflows", json={"source": source}).status_code == 201
        started = admin.post(
            "/api/v1/executions", json={"workflow": "by-api"}, headers={"traceparent": INCOMING}
        )
        assert started.status_code == 201, started.text
        body = b'{"order": 1}'
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        hooked = httpx.post(
            f"{served.url}/hooks/traced",
            content=body,
            headers={"X-Hub-Signature-256": f"sha256={signature}", "traceparent": INCOMING},
        )
        assert hooked.status_code in (200, 201, 202), hooked.text

        def roots() -> dict[str, Any]:
            found = {s.name: s for s in otlp.spans() if s.name.startswith("workflow by-")}
            return found

        wait_until("the three executions' spans", lambda: len(roots()) == 3)
        admin.post("/api/v1/workflows/by-cron/disable")
    spans = roots()
    incoming = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    for name in ("workflow by-api", "workflow by-hook"):
        (link,) = spans[name].links
        assert (link[0], link[1]) == incoming, name
        assert link[2] == {"fuchsia.link": "trigger"}
    (cron_link,) = spans["workflow by-cron"].links
    fired = next(s for s in otlp.spans() if s.span_id == cron_link[1])
    assert fired.name == "trigger cron"
    assert fired.attributes["fuchsia.workflow.name"] == "by-cron"
    assert "fuchsia.trigger.instant" in fired.attributes


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OTEL_TRACES_EXPORTER", "zipkin"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
)
def test_an_otel_setting_fuchsia_cannot_honour_is_a_clear_error(
    fuchsia_env: FuchsiaEnv, variable: str, value: str
) -> None:
    flow = fuchsia_env.home / "one.yaml"
    flow.write_text("name: one\nnodes:\n  only: {transform: {ok: true}}\n")
    fuchsia_env.env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", variable: value})
    result = fuchsia_env.run("run", str(flow))
    assert result.returncode == 2
    assert f"{variable}={value}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not fuchsia_env.db.exists()  # refused before the store was opened
