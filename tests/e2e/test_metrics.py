"""`/metrics` of a real server on 127.0.0.1, read with `prometheus_client`'s parser: the store's
families next to this process's histograms and counters, after a webhook delivery started a
workflow with a retry, a component call and a timeout, and a cron trigger fired.

Every wait is on state (an execution's status, a sample appearing) with a ceiling that only
guards against a hang; no timing is asserted.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fuchsia.components.registry import Registry
from fuchsia.observe import metrics
from support.components import CACHE, built_component
from support.httpserver import LoopbackServer, clear_proxies
from support.prometheus import families, sample
from support.server import Served, wait_for

from .conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret"

FLOW = """
name: observed
trigger:
  type: webhook
  webhook: {{path: /observed, secret: "{secret}", scheme: github}}
components:
  greeter: "{greeter}"
nodes:
  flaky:
    http: {{url: "{flaky}"}}
    retry: {{max_attempts: 3, initial_delay: 1ms}}
  greet: {{after: flaky, component: greeter, task: greet, inputs: {{name: Ada}}}}
  slow: {{after: greet, http: {{url: "{slow}"}}, timeout: 200ms}}
"""
TICKING = """
name: ticking
trigger: {type: cron, cron: {schedule: "* * * * * *"}}
nodes:
  tick: {transform: {at: "{{ scheduled_at }}"}}
"""


@pytest.fixture
def recording() -> Iterator[None]:
    """This process's metrics on, as `fuchsia serve` has them, and off again after."""
    metrics.disable()
    metrics.enable()
    yield
    metrics.disable()


def deliver(url: str, body: bytes, secret: str = SECRET) -> httpx.Response:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": f"sha256={signature}",
        "X-GitHub-Delivery": uuid.uuid4().hex,
        "Content-Type": "application/json",
    }
    return httpx.post(f"{url}/hooks/observed", content=body, headers=headers)


def scrape_until(served: Served, what: str, holds: Any) -> str:
    """Scrape /metrics until `holds(text)`; the text that satisfied it."""
    scraped: list[str] = []
    with served.client("read") as reader:

        def check() -> bool:
            scraped.append(reader.get("/metrics").text)
            return bool(holds(scraped[-1]))

        wait_until(what, check)
    return scraped[-1]


def test_metrics_carry_the_histograms_and_counters_of_what_ran(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    http_server: LoopbackServer,
    recording: None,
) -> None:
    clear_proxies(monkeypatch)
    monkeypatch.setenv("FUCHSIA_CACHE", str(CACHE / "compiled-cache"))
    home = tmp_path / "home"
    greeter = built_component(ROOT / "examples" / "components" / "greeter").parent
    ref = Registry(home / "components").install(greeter).ref
    key = uuid.uuid4().hex[:8]
    source = FLOW.format(
        secret=SECRET,
        greeter=ref,
        flaky=http_server.url(f"/flaky/metrics-{key}?fail=1"),
        slow=http_server.url("/slow?seconds=5"),
    )
    with Served(tmp_path, home=home) as served:
        with served.client("admin") as admin:
            assert admin.post("/api/v1/workflows", json={"source": source}).status_code == 201
            assert admin.post("/api/v1/workflows", json={"source": TICKING}).status_code == 201
        assert deliver(served.url, b"{}", secret="wrong").status_code == 401
        started = deliver(served.url, b"{}")
        assert started.status_code == 202, started.text
        with served.client("read") as reader:
            done = wait_for(reader, started.json()["id"], "failed")
        text = scrape_until(
            served,
            "the execution's end and a cron fire",
            lambda t: (
                sample(t, "fuchsia_executions_finished_total", workflow="observed")
                and sample(t, "fuchsia_trigger_lag_seconds_count", workflow="ticking")
            ),
        )
        with served.client("admin") as admin:
            admin.post("/api/v1/workflows/ticking/disable")

    by_node = {n["id"]: [a["status"] for a in n["attempts"]] for n in done["nodes"]}
    assert by_node == {
        "flaky": ["failed", "succeeded"],
        "greet": ["succeeded"],
        "slow": ["timed_out"],
    }

    found = families(text)
    kinds = {name: found[name].type for name in found if name.startswith("fuchsia_")}
    assert kinds["fuchsia_node_attempt_duration_seconds"] == "histogram"
    assert kinds["fuchsia_node_queue_wait_seconds"] == "histogram"
    assert kinds["fuchsia_component_instantiate_seconds"] == "histogram"
    assert kinds["fuchsia_component_call_seconds"] == "histogram"
    assert kinds["fuchsia_trigger_lag_seconds"] == "histogram"
    for counter in ("executions_started", "executions_finished", "retries", "timeouts"):
        assert kinds[f"fuchsia_{counter}"] == "counter", counter
    assert kinds["fuchsia_webhook_deliveries"] == "counter"
    # the store's families keep their names and types
    assert kinds["fuchsia_executions"] == "gauge"
    assert kinds["fuchsia_attempt_duration_seconds"] == "summary"
    assert kinds["fuchsia_trigger_fires"] == "counter"
    assert kinds["fuchsia_claim_latency_seconds"] == "summary"

    def count(name: str, **labels: str) -> float | None:
        return sample(text, name, workflow="observed", **labels)

    attempts = "fuchsia_node_attempt_duration_seconds_count"
    assert count(attempts, kind="http", status="failed") == 1
    assert count(attempts, kind="http", status="succeeded") == 1
    assert count(attempts, kind="http", status="timed_out") == 1
    assert count(attempts, kind="component", status="succeeded") == 1
    assert count("fuchsia_node_queue_wait_seconds_count", kind="http") == 3
    assert count("fuchsia_node_queue_wait_seconds_count", kind="component") == 1
    assert count("fuchsia_retries_total", kind="http") == 1
    assert count("fuchsia_timeouts_total", kind="http") == 1
    assert count("fuchsia_executions_started_total") == 1
    assert count("fuchsia_executions_finished_total", status="failed") == 1
    assert count("fuchsia_component_instantiate_seconds_count", task="greet") == 1
    assert count("fuchsia_component_call_seconds_count", task="greet") == 1
    assert sample(text, "fuchsia_webhook_deliveries_total", status="202") == 1
    assert sample(text, "fuchsia_webhook_deliveries_total", status="401") == 1
    assert (sample(text, "fuchsia_trigger_lag_seconds_count", kind="cron") or 0) >= 1
    assert sample(text, "fuchsia_trigger_fires_total", workflow="observed", kind="webhook") == 1
    timed_out = count("fuchsia_node_attempt_duration_seconds_sum", status="timed_out")
    assert timed_out is not None and timed_out > 0  # it ran until its timeout


HOOKED = """
name: observed
trigger:
  type: webhook
  webhook: {path: /observed, secret: "s3cret", scheme: github}
nodes:
  only: {transform: {ok: true}}
"""


def test_a_delivery_that_fails_unexpectedly_is_counted_as_the_500_it_is_answered_with(
    tmp_path: Path, recording: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fuchsia.server import webhooks

    async def broken(*args: object) -> str:
        raise RuntimeError("a bug in starting the workflow")

    monkeypatch.setattr(webhooks, "_start", broken)  # an internal error, not a user's mistake
    with Served(tmp_path) as served:
        with served.client("admin") as admin:
            assert admin.post("/api/v1/workflows", json={"source": HOOKED}).status_code == 201
        failed = deliver(served.url, b"{}")
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "server_error"
        assert "RuntimeError" not in failed.text  # the details are in the server's log
        text = scrape_until(
            served,
            "the failed delivery counted",
            lambda t: sample(t, "fuchsia_webhook_deliveries_total", status="500"),
        )
    assert sample(text, "fuchsia_webhook_deliveries_total", status="500") == 1
