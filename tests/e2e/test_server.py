"""The HTTP API against a real server on 127.0.0.1: routes, auth, scopes, the run lifecycle."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

import fuchsia
from fuchsia import Engine
from fuchsia.errors import InvalidState, Unauthenticated
from fuchsia.server.app import PUBLIC, WEBHOOKS, router
from support.server import Served, wait_for

FLOW = """
name: approve
version: 1
trigger:
  schema: {type: object, required: [amount], properties: {amount: {type: number}}}
nodes:
  ask: {transform: {amount: "{{ amount }}"}}
  wait_for_it: {after: ask, wait: {signal: ok}}
  done: {after: wait_for_it, transform: {by: "{{ by }}"}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("server")) as running:
        yield running


def test_every_api_route_refuses_a_missing_or_wrong_token(served: Served) -> None:
    routes = [
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path not in PUBLIC and r.path != WEBHOOKS
    ]
    assert len(routes) >= 14
    with (
        served.client(None) as anonymous,
        httpx.Client(base_url=served.url, headers={"Authorization": "Bearer fct_wrong"}) as wrong,
    ):
        for route in routes:
            path = (
                route.path.replace("{ref:path}", "greeter")
                .replace("{ref}", "approve")
                .replace("{execution_id}", "x")
            )
            for method in route.methods or ():
                assert anonymous.request(method, path).status_code == 401, (method, path)
                assert wrong.request(method, path).status_code == 401, (method, path)
    assert httpx.get(f"{served.url}/healthz").json()["status"] == "ok"
    assert "/api/v1/executions" in httpx.get(f"{served.url}/openapi.json").json()["paths"]


def test_scopes_limit_what_a_token_may_do(served: Served) -> None:
    with served.client("read") as reader, served.client("run") as runner:
        assert reader.get("/api/v1/executions").status_code == 200
        assert reader.post("/api/v1/executions", json={"workflow": "approve"}).status_code == 403
        assert runner.post("/api/v1/workflows", json={"source": FLOW}).status_code == 403


def test_deploy_start_signal_and_inspect_over_http(served: Served) -> None:
    with served.client("admin") as admin, served.client("run") as runner:
        deployed = admin.post("/api/v1/workflows", json={"source": FLOW})
        assert deployed.status_code == 201, deployed.text
        assert deployed.json()["name"] == "approve"
        changed = admin.post("/api/v1/workflows", json={"source": FLOW.replace("by }}", "by }}!")})
        assert changed.status_code == 409
        invalid = admin.post("/api/v1/workflows", json={"source": "name: x\nnodes: {a: {}}\n"})
        assert invalid.status_code == 422
        error = invalid.json()["error"]
        assert error["code"] == "definition_error"
        assert error["problems"][0]["file"] == "<request>" and error["problems"][0]["line"] == 2

        bad = runner.post("/api/v1/executions", json={"workflow": "approve", "payload": {}})
        assert bad.status_code == 422 and "amount" in bad.json()["error"]["message"]
        started = runner.post(
            "/api/v1/executions",
            headers={"Idempotency-Key": "order-1"},
            json={"workflow": "approve", "payload": {"amount": 5}},
        )
        assert started.status_code == 201, started.text
        execution_id = started.json()["id"]
        again = runner.post(
            "/api/v1/executions",
            headers={"Idempotency-Key": "order-1"},
            json={"workflow": "approve", "payload": {"amount": 5}},
        )
        assert again.json()["id"] == execution_id

        wait_for(runner, execution_id, "waiting")
        sent = runner.post(
            f"/api/v1/executions/{execution_id}/signal",
            json={"name": "ok", "payload": {"by": "ada"}},
        )
        assert sent.status_code == 200, sent.text
        done = wait_for(runner, execution_id, "completed")
        assert done["result"] == {"by": "ada"}
        events = runner.get(f"/api/v1/executions/{execution_id}/events").json()
        assert events[-1]["type"] == "execution_completed"
        assert (
            runner.post(
                f"/api/v1/executions/{execution_id}/signal", json={"name": "ok"}
            ).status_code
            == 409
        )
        listed = runner.get("/api/v1/executions", params={"status": "completed"}).json()
        assert execution_id in [e["id"] for e in listed["executions"]]
        assert runner.get("/api/v1/executions/nope").status_code == 404


def test_cancel_and_retry_over_http(served: Served) -> None:
    with served.client("admin") as admin, served.client("run") as runner:
        admin.post("/api/v1/workflows", json={"source": FLOW})
        started = runner.post(
            "/api/v1/executions", json={"workflow": "approve@1", "payload": {"amount": 1}}
        ).json()
        wait_for(runner, started["id"], "waiting")
        cancelled = runner.post(f"/api/v1/executions/{started['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        retried = runner.post(
            f"/api/v1/executions/{started['id']}/retry", json={"from_node": "wait_for_it"}
        )
        assert retried.status_code == 201
        assert retried.json()["id"] != started["id"]
        new = wait_for(runner, retried.json()["id"], "waiting")
        assert new["nodes"][0]["status"] == "succeeded"  # `ask` was reused
        runner.post(f"/api/v1/executions/{new['id']}/cancel")


def test_the_server_fires_cron_triggers_of_deployed_workflows(served: Served) -> None:
    ticking = """
name: ticking
trigger: {type: cron, cron: {schedule: "* * * * * *"}}
nodes:
  tick: {transform: {at: "{{ scheduled_at }}"}}
"""
    with served.client("admin") as admin:
        assert admin.post("/api/v1/workflows", json={"source": ticking}).status_code == 201
        deadline = time.monotonic() + 30
        while True:
            page = admin.get("/api/v1/executions", params={"limit": 1000}).json()
            runs = [e for e in page["executions"] if e["workflow"] == "ticking"]
            if len(runs) >= 2:
                break
            assert time.monotonic() < deadline, "the cron trigger did not fire twice"
            time.sleep(0.1)
        admin.post("/api/v1/workflows/ticking/disable")


def test_metrics_report_executions_queue_and_attempts(served: Served) -> None:
    # an execution of its own, so the test holds alone and in any order
    with fuchsia.Client(served.url, token=served.tokens["admin"]) as client:
        client.deploy("name: counted\nnodes:\n  only: {transform: {ok: true}}\n")
        done = client.wait(client.start("counted")["id"], timeout=30)
        assert done["status"] == "completed"
    with served.client("read") as reader:
        text = reader.get("/metrics").text
    assert "# TYPE fuchsia_executions gauge" in text
    assert 'fuchsia_executions{status="completed"}' in text
    assert "fuchsia_attempt_duration_seconds_count" in text
    assert "# TYPE fuchsia_trigger_fires_total counter" in text
    assert httpx.get(f"{served.url}/metrics").status_code == 401


def test_the_python_client_drives_the_api(served: Served) -> None:
    with fuchsia.Client(served.url, token=served.tokens["admin"]) as client:
        client.deploy(FLOW.replace("name: approve", "name: via-client"))
        assert "via-client" in [w["name"] for w in client.workflows()]
        started = client.start("via-client", {"amount": 3}, idempotency_key="client-1")
        assert (
            client.start("via-client", {"amount": 3}, idempotency_key="client-1")["id"]
            == started["id"]
        )
        while client.get(started["id"])["status"] != "waiting":
            time.sleep(0.05)
        client.signal(started["id"], "ok", {"by": "client"})
        done = client.wait(started["id"], timeout=30)
        assert done["status"] == "completed" and done["result"] == {"by": "client"}
        assert client.events(started["id"])[-1]["type"] == "execution_completed"
        with pytest.raises(fuchsia.ExecutionNotFound):
            client.get("nope")
        with pytest.raises(InvalidState, match="signals go to executions still running"):
            client.signal(started["id"], "ok")
    with (
        fuchsia.Client(served.url, token="fct_wrong") as stranger,
        pytest.raises(Unauthenticated, match="a valid bearer token is required"),
    ):
        stranger.workflows()


def test_the_cli_talks_to_a_remote_server(served: Served, tmp_path: Path) -> None:
    flow = tmp_path / "remote.yaml"
    flow.write_text(FLOW.replace("name: approve", "name: remote"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env.update(FUCHSIA_HOME=str(tmp_path / "no-store-here"), FUCHSIA_TOKEN=served.tokens["admin"])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fuchsia", "--server", served.url, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    deployed = cli("deploy", str(flow), "--json")
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["name"] == "remote"
    with served.client("run") as runner:
        started = runner.post(
            "/api/v1/executions", json={"workflow": "remote", "payload": {"amount": 2}}
        ).json()
        wait_for(runner, started["id"], "waiting")
    assert cli("runs", "signal", started["id"], "ok", "--payload", '{"by": "cli"}').returncode == 0
    deadline = time.monotonic() + 30
    while (shown := json.loads(cli("runs", "show", started["id"], "--json").stdout))[
        "status"
    ] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert shown["result"] == {"by": "cli"}
    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert started["id"] in [r["id"] for r in listed]
    assert "remote" in cli("workflows", "list").stdout
    assert json.loads(cli("component", "list", "--json").stdout) == []
    assert "no components installed" in cli("component", "list").stdout
    shown_workflow = json.loads(cli("workflows", "show", "remote", "--json").stdout)
    assert shown_workflow["workflow"]["name"] == "remote"
    assert "wait_for_it: wait after ask" in cli("workflows", "show", "remote").stdout
    assert "nothing to resume" in cli("runs", "resume").stdout  # the server drives its own

    orphan = tmp_path / "orphan.yaml"
    orphan.write_text("name: orphan\nnodes:\n  a: {transform: {left: behind}}\n")

    async def leave_behind() -> str:  # recorded, owned by no one: as if its process died
        async with await Engine.open(served.db) as engine:
            return await engine.start(str(orphan), detached=True)

    orphan_id = asyncio.run(leave_behind())
    resumed = cli("runs", "resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert [r["id"] for r in json.loads(resumed.stdout)] == [orphan_id]
    denied = subprocess.run(
        [
            sys.executable,
            "-m",
            "fuchsia",
            "--server",
            served.url,
            "--token",
            "fct_bad",
            "runs",
            "list",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert denied.returncode == 1 and "a valid bearer token is required" in denied.stderr
    assert not (tmp_path / "no-store-here").exists()  # nothing local was touched


def test_executions_page_and_components_are_listed(served: Served) -> None:
    paged = "name: paged\nnodes:\n  a: {transform: {x: 1}}\n"
    with served.client("admin") as admin:
        admin.post("/api/v1/workflows", json={"source": paged})
        for _ in range(3):
            admin.post("/api/v1/executions", json={"workflow": "paged"})
    with served.client("read") as reader:
        first = reader.get("/api/v1/executions", params={"limit": 2}).json()
        assert len(first["executions"]) == 2 and first["next"] is not None
        second = reader.get(
            "/api/v1/executions", params={"limit": 2, "before": first["next"]}
        ).json()
        ids = [e["id"] for e in first["executions"] + second["executions"]]
        assert len(set(ids)) == len(ids) and ids == sorted(ids, reverse=True)
        assert reader.get("/api/v1/components").json() == []
        assert reader.get("/api/v1/components/nothing@1.0.0").status_code == 404


def test_a_workflow_deployed_through_the_api_may_use_a_deployed_child(served: Served) -> None:
    child = "name: doubler\nnodes:\n  d: {transform: {twice: '{{ n * 2 }}'}}\n"
    parent = "name: uses-doubler\nnodes:\n  c: {workflow: {name: doubler, inputs: {n: 21}}}\n"
    missing = "name: uses-nothing\nnodes:\n  c: {workflow: {name: nowhere-to-be-found}}\n"
    with fuchsia.Client(served.url, token=served.tokens["admin"]) as client:
        client.deploy(child)
        assert client.deploy(parent)["name"] == "uses-doubler"
        execution = client.wait(client.start("uses-doubler")["id"])
        assert execution["result"] == {"twice": 42}
        with pytest.raises(fuchsia.FuchsiaError, match="no workflow nowhere-to-be-found among the"):
            client.deploy(missing)


def test_large_results_and_artifacts_over_http(served: Served, tmp_path: Path) -> None:
    rows = 60_000  # ~350 KB of JSON: above the server's default inline limit of 256 KiB
    flow = (
        "name: big-result\nnodes:\n"
        f'  make: {{transform: {{rows: "{{{{ range({rows}) | list }}}}"}}}}\n'
    )
    with fuchsia.Client(served.url, token=served.tokens["admin"]) as client:
        client.deploy(flow)
        done = client.wait(client.start("big-result")["id"], timeout=30)
        assert done["status"] == "completed" and done["result"] is None
        ref = done["result_artifact"]
        assert ref["name"] == "result.json" and ref["size"] > 256 * 1024
        assert done["nodes"][0]["output_artifact"]["content_type"] == "application/json"
        assert client.result(done["id"]) == {"rows": list(range(rows))}
        listed = client.artifacts(done["id"])
        assert ref in listed
        assert json.loads(client.artifact(done["id"], ref["id"])) == {"rows": list(range(rows))}
        with pytest.raises(fuchsia.ArtifactNotFound):
            client.artifact(done["id"], "nope")
        with pytest.raises(fuchsia.ExecutionNotFound):
            client.artifacts("nope")
    with served.client("read") as reader:
        response = reader.get(f"/api/v1/executions/{done['id']}/artifacts/{ref['id']}")
        assert response.headers["content-type"] == "application/json"
        assert response.headers["etag"] == f'"{ref["hash"]}"'
        assert "result.json" in response.headers["content-disposition"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env.update(FUCHSIA_HOME=str(tmp_path / "unused"), FUCHSIA_TOKEN=served.tokens["read"])
    remote = [sys.executable, "-m", "fuchsia", "--server", served.url, "runs"]
    shown = subprocess.run(
        [*remote, "show", done["id"]], env=env, capture_output=True, text=True, check=False
    )
    assert f"stored as artifact {ref['id']}" in shown.stdout
    saved = tmp_path / "out.json"
    fetched = subprocess.run(
        [*remote, "artifact", done["id"], ref["id"], "-o", str(saved)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(saved.read_text()) == {"rows": list(range(rows))}
