"""More of the HTTP API against a real server on 127.0.0.1: token management, the scope each
route needs, pausing and resuming, enabling and disabling workflows, and the `fuchsia.Client`
methods the first server tests leave out."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

import fuchsia
from fuchsia.errors import ComponentNotFound, Forbidden, InvalidState, WorkflowDisabled
from fuchsia.server.app import PUBLIC, WEBHOOKS, router
from fuchsia.server.auth import hash_token
from support.flows import cli_in
from support.httpserver import LoopbackServer
from support.server import Served, wait_for

WAITS = """
name: {name}
nodes:
  ask: {{transform: {{x: 1}}}}
  hold: {{after: ask, wait: {{signal: go}}}}
  done: {{after: hold, transform: {{by: "{{{{ by }}}}"}}}}
"""

SLOW = """
name: {name}
nodes:
  slow: {{http: {{url: "{url}"}}}}
  last: {{after: slow, transform: {{done: true}}}}
"""

FLAKY = """
name: {name}
nodes:
  fetch: {{http: {{url: "{fetch}"}}}}
  flaky: {{after: fetch, http: {{url: "{flaky}"}}}}
  report:
    after: [fetch, flaky]
    join: all
    transform: {{got: "{{{{ fetch.json.name }}}}", ok: "{{{{ flaky.status }}}}"}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("server-api")) as running:
        yield running


def api_routes() -> list[tuple[str, str]]:
    """(method, path) of every route that needs a token, with each `{param}` filled in."""
    found: list[tuple[str, str]] = []
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path not in PUBLIC and route.path != WEBHOOKS:
            path = re.sub(r"\{[^}]+\}", "nothing-here", route.path)
            found.extend((method, path) for method in sorted(route.methods or ()))
    return found


def required_scope(method: str, path: str) -> str:
    """The README's table: reading needs `read`; changing workflows needs `admin`; every other
    change (starting, cancelling, pausing, resuming, signalling, retrying) needs `run`."""
    if method == "GET":
        return "read"
    return "admin" if path.startswith("/api/v1/workflows") else "run"


def message(response: httpx.Response) -> str:
    """An error's text: every refusal is `{"error": {"code", "message", ...}}`."""
    text: str = response.json()["error"]["message"]
    return text


def node_status(execution: dict[str, Any], node_id: str) -> str:
    status: str = next(n["status"] for n in execution["nodes"] if n["id"] == node_id)
    return status


def wait_until_node(client: httpx.Client, execution_id: str, node_id: str, status: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        shown = client.get(f"/api/v1/executions/{execution_id}").json()
        if node_status(shown, node_id) == status:
            return shown
        assert time.monotonic() < deadline, f"{node_id} stayed {node_status(shown, node_id)}"
        time.sleep(0.02)


# -- scopes --------------------------------------------------------------------------------


def test_each_route_admits_exactly_the_scopes_that_cover_it(served: Served) -> None:
    routes = api_routes()
    assert len(routes) >= 19
    assert {required_scope(m, p) for m, p in routes} == {"read", "run", "admin"}
    rank = {"read": 0, "run": 1, "admin": 2}
    with (
        served.client(None) as anonymous,
        served.client("read") as reader,
        served.client("run") as runner,
        served.client("admin") as admin,
    ):
        for method, path in routes:
            needed = required_scope(method, path)
            refused = anonymous.request(method, path)
            assert refused.status_code == 401, (method, path)
            assert refused.headers["www-authenticate"] == "Bearer", (method, path)
            for scope, client in (("read", reader), ("run", runner), ("admin", admin)):
                answer = client.request(method, path)
                if rank[scope] < rank[needed]:
                    assert answer.status_code == 403, (scope, method, path, answer.text)
                    assert f"lacks the {needed!r} scope" in message(answer)
                else:  # admitted: whatever the route then says about `nothing-here`
                    assert answer.status_code not in (401, 403), (scope, method, path)


def test_public_routes_need_no_token(served: Served) -> None:
    for path in sorted(PUBLIC):
        assert httpx.get(f"{served.url}{path}").status_code == 200, path


def test_the_bearer_scheme_is_case_insensitive_and_required(served: Served) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {served.tokens['read']}"}
        answer = httpx.get(f"{served.url}/api/v1/executions", headers=headers)
        assert answer.status_code == 200, scheme
    for header in (served.tokens["read"], f"Basic {served.tokens['read']}"):
        refused = httpx.get(f"{served.url}/api/v1/executions", headers={"Authorization": header})
        assert refused.status_code == 401
        assert "bearer token" in message(refused)


# -- tokens --------------------------------------------------------------------------------


def test_tokens_are_listed_without_secrets_stored_as_hashes_and_revoked_at_once(
    served: Served, tmp_path: Path
) -> None:
    cli = cli_in(tmp_path)
    created = cli("tokens", "create", "deploy-bot", "--scope", "run", "--json", "--db", served.db)
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)
    secret = token["token"]
    assert secret.startswith("fct_") and token["scopes"] == ["run"]

    table = cli("tokens", "list", "--db", served.db)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if token["id"] in line)
    assert "deploy-bot" in row and "run" in row
    assert "admin token" in table.stdout  # the fixture's tokens are there too
    for shown in (*served.tokens.values(), secret):
        assert shown not in table.stdout
        assert shown.removeprefix("fct_") not in table.stdout
    listed = json.loads(cli("tokens", "list", "--json", "--db", served.db).stdout)
    mine = next(t for t in listed if t["id"] == token["id"])
    assert mine["name"] == "deploy-bot" and mine["scopes"] == ["run"]
    assert mine["revoked_at"] is None
    assert {"token", "hash", "secret"}.isdisjoint(mine)
    assert secret not in json.dumps(listed)

    with contextlib.closing(sqlite3.connect(served.db)) as db:
        rows = db.execute("SELECT * FROM tokens").fetchall()
        (stored_hash,) = db.execute(
            "SELECT hash FROM tokens WHERE id = ?", (token["id"],)
        ).fetchone()
    assert stored_hash == hash_token(secret)
    everything = repr(rows)
    for kept_secret in (*served.tokens.values(), secret):
        assert kept_secret.removeprefix("fct_") not in everything

    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {secret}"}) as bot:
        assert bot.get("/api/v1/executions").status_code == 200
        assert bot.post("/api/v1/workflows", json={"source": "x"}).status_code == 403
        revoked = cli("tokens", "revoke", token["id"], "--db", served.db)
        assert revoked.returncode == 0, revoked.stderr
        assert f"revoked {token['id']}" in revoked.stdout
        assert bot.get("/api/v1/executions").status_code == 401  # the running server refuses it
        assert bot.post("/api/v1/executions", json={"workflow": "x"}).status_code == 401
    with served.client("run") as runner:
        assert runner.get("/api/v1/executions").status_code == 200  # others are unaffected
    again = cli("tokens", "revoke", token["id"], "--db", served.db)
    assert again.returncode == 1 and "no active token" in again.stderr
    listed = json.loads(cli("tokens", "list", "--json", "--db", served.db).stdout)
    assert next(t for t in listed if t["id"] == token["id"])["revoked_at"] is not None


# -- pause and resume ------------------------------------------------------------------------


def test_pausing_over_http_lets_the_running_node_finish_and_holds_the_next_one(
    served: Served, http_server: LoopbackServer
) -> None:
    source = SLOW.format(name="pausable", url=http_server.url("/slow?seconds=0.8"))
    with served.client("admin") as admin, served.client("run") as runner:
        assert admin.post("/api/v1/workflows", json={"source": source}).status_code == 201
        started = runner.post("/api/v1/executions", json={"workflow": "pausable"}).json()
        execution_id = started["id"]
        wait_until_node(runner, execution_id, "slow", "running")

        paused = runner.post(f"/api/v1/executions/{execution_id}/pause")
        assert paused.status_code == 200, paused.text
        assert paused.json()["status"] == "paused"
        assert node_status(paused.json(), "slow") == "running"  # not interrupted

        wait_until_node(runner, execution_id, "slow", "succeeded")
        time.sleep(0.3)  # time enough for `last` to start, if it were going to
        held = runner.get(f"/api/v1/executions/{execution_id}").json()
        assert held["status"] == "paused"
        assert node_status(held, "last") == "pending"
        events = runner.get(f"/api/v1/executions/{execution_id}/events").json()
        assert ("node_running", "last") not in [(e["type"], e["node"]) for e in events]

        resumed = runner.post(f"/api/v1/executions/{execution_id}/resume")
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["id"] == execution_id
        done = wait_for(runner, execution_id, "completed")
        assert done["result"] == {"done": True}
        kinds = [
            (e["type"], e["node"])
            for e in runner.get(f"/api/v1/executions/{execution_id}/events").json()
        ]
        assert (
            kinds.index(("execution_paused", None))
            < kinds.index(("node_succeeded", "slow"))
            < kinds.index(("node_running", "last"))
        )

        finished = runner.post(f"/api/v1/executions/{execution_id}/pause")
        assert finished.status_code == 409
        assert "already completed" in message(finished)
        done = runner.post(f"/api/v1/executions/{execution_id}/resume")
        assert done.status_code == 409 and "nothing to resume" in message(done)
        assert runner.post("/api/v1/executions/nothing-here/pause").status_code == 404
        assert runner.post("/api/v1/executions/nothing-here/resume").status_code == 404


def test_a_foreachs_items_are_counted_on_its_node_and_named_by_index_in_events(
    served: Served,
) -> None:
    source = """
name: items-api
nodes:
  each:
    foreach: {items: "{{ [1, 0, 2] }}", concurrency: 2}
    transform: {inverse: "{{ 1 // item }}"}
    on_error: continue
"""
    with served.client("admin") as admin, served.client("run") as runner:
        assert admin.post("/api/v1/workflows", json={"source": source}).status_code == 201
        started = runner.post("/api/v1/executions", json={"workflow": "items-api"}).json()
        done = wait_for(runner, started["id"], "completed_with_errors")
        [each] = done["nodes"]
        assert each["items"] == {"total": 3, "statuses": {"failed": 1, "succeeded": 2}}
        assert each["output"][1]["error"]["node"] == "each"
        assert each["output"][1]["error"]["item"] == 1
        events = runner.get(f"/api/v1/executions/{started['id']}/events").json()
        ran = [(e["node"], e["item"]) for e in events if e["type"] == "node_running"]
        assert ran == [("each", None), ("each", 0), ("each", 1), ("each", 2)]
        [failed] = [e for e in events if e["type"] == "node_failed"]
        assert (failed["node"], failed["item"]) == ("each", 1)


def test_a_paused_execution_takes_a_signal_but_starts_nothing_until_resumed(
    served: Served,
) -> None:
    with served.client("admin") as admin, served.client("run") as runner:
        admin.post("/api/v1/workflows", json={"source": WAITS.format(name="paused-signal")})
        started = runner.post("/api/v1/executions", json={"workflow": "paused-signal"})
        execution_id = started.json()["id"]
        wait_for(runner, execution_id, "waiting")
        paused = runner.post(f"/api/v1/executions/{execution_id}/pause").json()
        assert paused["status"] == "paused" and node_status(paused, "hold") == "running"
        sent = runner.post(
            f"/api/v1/executions/{execution_id}/signal",
            json={"name": "go", "payload": {"by": "ada"}},
        )
        assert sent.status_code == 200, sent.text
        wait_until_node(runner, execution_id, "hold", "succeeded")
        time.sleep(0.2)  # time enough for `done` to start, if it were going to
        held = runner.get(f"/api/v1/executions/{execution_id}").json()
        assert held["status"] == "paused" and node_status(held, "done") == "pending"
        runner.post(f"/api/v1/executions/{execution_id}/resume")
        assert wait_for(runner, execution_id, "completed")["result"] == {"by": "ada"}


# -- enabling and disabling ------------------------------------------------------------------


def test_a_disabled_version_cannot_be_started_by_name_until_it_is_enabled(
    served: Served,
) -> None:
    v1 = "name: toggled\nnodes:\n  a: {transform: {v: 1}}\n"
    v2 = "name: toggled\nversion: 2\nnodes:\n  a: {transform: {v: 2}}\n"
    with served.client("admin") as admin, served.client("run") as runner:
        assert admin.post("/api/v1/workflows", json={"source": v1}).status_code == 201

        disabled = admin.post("/api/v1/workflows/toggled/disable")
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["version"] == 1 and disabled.json()["active"] is False
        listed = admin.get("/api/v1/workflows").json()
        assert [w["active"] for w in listed if w["name"] == "toggled"] == [False]
        by_name = runner.post("/api/v1/executions", json={"workflow": "toggled"})
        assert by_name.status_code == 404  # no version of that name can run
        assert "toggled has versions 1 (disabled)" in message(by_name)
        by_version = runner.post("/api/v1/executions", json={"workflow": "toggled@1"})
        assert by_version.status_code == 409
        assert by_version.json()["error"]["code"] == "workflow_disabled"
        assert "toggled@1 is disabled" in message(by_version)

        unknown = admin.get("/api/v1/workflows/never-deployed")
        assert unknown.status_code == 404 and "no deployed workflow" in message(unknown)
        unnamed = admin.post("/api/v1/workflows/toggled/enable")
        assert unnamed.status_code == 400 and "toggled@VERSION" in message(unnamed)
        enabled = admin.post("/api/v1/workflows/toggled@1/enable")
        assert enabled.status_code == 200 and enabled.json()["active"] is True
        started = runner.post("/api/v1/executions", json={"workflow": "toggled"})
        assert started.status_code == 201, started.text
        assert wait_for(runner, started.json()["id"], "completed")["result"] == {"v": 1}

        # with two versions, disabling the newest makes the name run the older one again
        assert admin.post("/api/v1/workflows", json={"source": v2}).status_code == 201
        newest = runner.post("/api/v1/executions", json={"workflow": "toggled"}).json()
        assert newest["version"] == 2
        assert admin.post("/api/v1/workflows/toggled@2/disable").json()["active"] is False
        older = runner.post("/api/v1/executions", json={"workflow": "toggled"}).json()
        assert older["version"] == 1
        assert wait_for(runner, older["id"], "completed")["result"] == {"v": 1}


def test_the_python_client_disables_and_enables_a_version(served: Served) -> None:
    source = "name: client-toggled\nnodes:\n  a: {transform: {ok: true}}\n"
    with fuchsia.Client(served.url, token=served.tokens["admin"]) as client:
        client.deploy(source)
        off = client.set_active("client-toggled", False)
        assert (off["name"], off["version"], off["active"]) == ("client-toggled", 1, False)
        assert client.workflow("client-toggled@1")["active"] is False
        with pytest.raises(WorkflowDisabled, match=r"client-toggled@1 is disabled"):
            client.start("client-toggled@1")
        with pytest.raises(fuchsia.FuchsiaError, match="no deployed workflow 'client-toggled'"):
            client.start("client-toggled")
        assert client.set_active("client-toggled@1", True)["active"] is True
        done = client.wait(client.start("client-toggled")["id"], timeout=30)
        assert done["status"] == "completed" and done["result"] == {"ok": True}
    with (
        fuchsia.Client(served.url, token=served.tokens["run"]) as runner,
        pytest.raises(Forbidden, match="lacks the 'admin' scope"),
    ):
        runner.set_active("client-toggled@1", False)


# -- the Python client ----------------------------------------------------------------------


def test_the_python_client_cancels_an_execution(served: Served) -> None:
    with fuchsia.Client(served.url, token=served.tokens["admin"]) as admin:
        admin.deploy(WAITS.format(name="client-cancel"))
    with fuchsia.Client(served.url, token=served.tokens["run"]) as client:
        started = client.start("client-cancel")
        deadline = time.monotonic() + 30
        while client.get(started["id"])["status"] != "waiting":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        cancelled = client.cancel(started["id"])
        assert cancelled["id"] == started["id"] and cancelled["status"] == "cancelled"
        assert node_status(cancelled, "done") != "succeeded"
        assert client.cancel(started["id"])["status"] == "cancelled"  # idempotent
        assert client.get(started["id"])["status"] == "cancelled"
        with pytest.raises(InvalidState, match=r"already cancelled"):
            client.pause(started["id"])
        with pytest.raises(InvalidState, match="signals go to executions still running"):
            client.signal(started["id"], "go", {"by": "too late"})
        with pytest.raises(fuchsia.ExecutionNotFound):
            client.cancel("nothing-here")


def test_the_python_client_pauses_and_resumes_an_execution(
    served: Served, http_server: LoopbackServer
) -> None:
    source = SLOW.format(name="client-pausable", url=http_server.url("/slow?seconds=0.5"))
    with fuchsia.Client(served.url, token=served.tokens["admin"]) as admin:
        admin.deploy(source)
    with fuchsia.Client(served.url, token=served.tokens["run"]) as client:
        started = client.start("client-pausable")
        deadline = time.monotonic() + 30
        while node_status(client.get(started["id"]), "slow") != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        paused = client.pause(started["id"])
        assert paused["status"] == "paused"
        assert client.pause(started["id"])["status"] == "paused"  # idempotent
        while node_status(client.get(started["id"]), "slow") != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)
        held = client.get(started["id"])
        assert held["status"] == "paused" and node_status(held, "last") == "pending"
        assert client.resume(started["id"])["id"] == started["id"]
        done = client.wait(started["id"], poll=0.05, timeout=30)
        assert done["status"] == "completed" and done["result"] == {"done": True}
        with pytest.raises(fuchsia.ExecutionNotFound):
            client.resume("nothing-here")


def test_the_python_client_retries_a_failed_execution_reusing_what_succeeded(
    served: Served, http_server: LoopbackServer
) -> None:
    key = uuid.uuid4().hex[:8]
    source = FLAKY.format(
        name="client-retry",
        fetch=http_server.url(f"/ok/{key}-fetch"),
        flaky=http_server.url(f"/flaky/{key}") + "?fail=1",
    )
    with fuchsia.Client(served.url, token=served.tokens["admin"]) as admin:
        admin.deploy(source)
    with fuchsia.Client(served.url, token=served.tokens["run"]) as client:
        failed = client.wait(client.start("client-retry")["id"], poll=0.05, timeout=30)
        assert failed["status"] == "failed"
        assert node_status(failed, "flaky") == "failed"

        retried = client.retry(failed["id"])
        assert retried["id"] != failed["id"]
        done = client.wait(retried["id"], poll=0.05, timeout=30)
        assert done["status"] == "completed", done["error"]
        assert done["result"] == {"got": f"{key}-fetch", "ok": 200}
        events = client.events(retried["id"])
        assert events[0]["type"] == "execution_retry_of"
        assert events[0]["data"]["execution"] == failed["id"]
        assert [e["node"] for e in events if e["type"] == "node_reused"] == ["fetch"]
        assert http_server.count(f"/ok/{key}-fetch") == 1  # not called again
        assert client.get(failed["id"])["status"] == "failed"  # the old one is left as it was

        again = client.wait(client.retry(done["id"], "fetch")["id"], poll=0.05, timeout=30)
        assert again["status"] == "completed"
        assert http_server.count(f"/ok/{key}-fetch") == 2  # `fetch` and what follows re-ran
        assert http_server.count(f"/flaky/{key}") == 3
        with pytest.raises(fuchsia.FuchsiaError, match="did you mean 'fetch'"):
            client.retry(done["id"], "fetc")
        with pytest.raises(fuchsia.ExecutionNotFound):
            client.retry("nothing-here")


def test_the_python_client_lists_and_inspects_components(served: Served) -> None:
    with fuchsia.Client(served.url, token=served.tokens["read"]) as client:
        assert client.components() == []
        with pytest.raises(ComponentNotFound, match="component 'nothing' is not installed"):
            client.component("nothing@1.0.0")
