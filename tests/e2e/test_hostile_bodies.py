"""Hostile request bodies against a real server on 127.0.0.1: each is refused with the error
shape and a code that names the caller's mistake (never a 500, never a `store_error`), and
nothing already stored is lost."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from e2e.conftest import error_of
from support.server import Served, wait_for

SECRET = "s3cret"
WAITING = """
name: waiting
nodes:
  gate: {wait: {signal: go}}
"""
HOOK = """
name: hooked
trigger:
  type: webhook
  webhook: {path: /hooked, secret: env:HOSTILE_HOOK_SECRET, scheme: github}
nodes:
  take: {transform: {got: "{{ data }}"}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOSTILE_HOOK_SECRET", SECRET)
        with Served(tmp_path_factory.mktemp("hostile-bodies"), schedule=False) as running:
            with running.client("admin") as admin:
                for source in (WAITING, HOOK):
                    deployed = admin.post("/api/v1/workflows", json={"source": source})
                    assert deployed.status_code == 201, deployed.text
            yield running


def post_raw(client: httpx.Client, path: str, body: bytes, **headers: str) -> httpx.Response:
    return client.post(path, content=body, headers={"Content-Type": "application/json", **headers})


def test_a_lone_surrogate_escape_is_refused_as_not_unicode_wherever_it_is_sent(
    served: Served,
) -> None:
    """JSON may spell a lone UTF-16 surrogate ("\\ud800"), which Python decodes into a string
    that no UTF-8 store can hold: a payload, a signal, a webhook body and a workflow source
    holding one are each the caller's mistake, named as such."""
    with served.client("admin") as admin:
        started = admin.post("/api/v1/executions", json={"workflow": "waiting"})
        assert started.status_code == 201, started.text
        waiting = wait_for(admin, started.json()["id"], "waiting")
        before = admin.get("/api/v1/executions").json()["executions"]

        payload = post_raw(
            admin, "/api/v1/executions", b'{"workflow": "waiting", "payload": {"x": "\\ud800"}}'
        )
        key = post_raw(
            admin, "/api/v1/executions", b'{"workflow": "waiting", "payload": {"\\udc00": 1}}'
        )
        signal = post_raw(
            admin,
            f"/api/v1/executions/{waiting['id']}/signal",
            b'{"name": "go", "payload": ["\\udfff"]}',
        )
        deploy = post_raw(
            admin,
            "/api/v1/workflows",
            b'{"source": "name: surrogate\\nnodes:\\n  t: {transform: {a: \\"\\ud800\\"}}\\n"}',
        )
        body = b'{"order": "\\ud800"}'
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        hook = post_raw(admin, "/hooks/hooked", body, **{"X-Hub-Signature-256": f"sha256={mac}"})

        for refused in (payload, key, signal, hook):
            assert refused.status_code == 422, refused.text
            error = error_of(refused)
            assert error["code"] == "payload_error", error
            assert "lone surrogate" in error["message"], error
        assert deploy.status_code == 422, deploy.text
        problem = error_of(deploy)
        assert problem["code"] == "definition_error", problem
        assert "lone surrogate" in problem["message"], problem
        assert (problem["problems"][0]["line"], problem["problems"][0]["column"]) == (3, 23)

        assert admin.get("/api/v1/executions").json()["executions"] == before
        assert admin.get("/api/v1/workflows/surrogate").status_code == 404
        # the execution that was waiting still takes its signal
        sent = admin.post(f"/api/v1/executions/{waiting['id']}/signal", json={"name": "go"})
        assert sent.status_code == 200, sent.text
        assert wait_for(admin, waiting["id"], "completed")["status"] == "completed"


def test_a_deployed_workflow_names_no_file_of_the_server(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workflow sent as text has no folder: a sub-workflow `path` or a step `file` in it is
    refused, and no file of the server's (here one in its working directory) is read into it."""
    (tmp_path / "private.yaml").write_text(
        "name: private\nnodes:\n  t: {transform: {password: hunter2}}\n"
    )
    monkeypatch.chdir(tmp_path)
    sources = {
        "by-path": "name: by-path\nnodes:\n  s: {workflow: {path: private.yaml}}\n",
        "absolute": "name: absolute\nnodes:\n"
        f"  s: {{workflow: {{path: {tmp_path}/private.yaml}}}}\n",
        "step": "name: step\nnodes:\n  s: {python: {file: private.yaml}}\n",
    }
    with served.client("admin") as admin:
        for name, source in sources.items():
            refused = admin.post("/api/v1/workflows", json={"source": source})
            assert refused.status_code == 422, refused.text
            error = error_of(refused)
            assert error["code"] == "definition_error", error
            assert "needs a workflow file to be relative to" in error["message"], error
            assert "hunter2" not in refused.text
            assert admin.get(f"/api/v1/workflows/{name}").status_code == 404


def test_a_signal_name_with_a_nul_is_refused_before_it_reaches_either_store(
    tmp_path: Path, store_url: str
) -> None:
    """A wait for a signal named with a NUL deployed, and on PostgreSQL (whose text holds
    none) its execution then failed with an internal DataError, a traceback in the log; the
    UI's signal form said "store write failed". The definition now refuses the name where it
    is written, and the engine (the UI's way in) a signal sent with one."""
    source = 'name: nul-signal\nnodes:\n  gate: {wait: {signal: "go\\0"}}\n'
    with Served(tmp_path, db=store_url, schedule=False) as running:
        with running.client("admin") as admin:
            refused = admin.post("/api/v1/workflows", json={"source": source})
            assert refused.status_code == 422, refused.text
            problem = error_of(refused)["problems"][0]
            assert "NUL" in problem["message"], problem
            assert (problem["line"], problem["column"]) == (3, 25), problem
            assert admin.get("/api/v1/workflows/nul-signal").status_code == 404
            assert admin.post("/api/v1/workflows", json={"source": WAITING}).status_code == 201
            started = admin.post("/api/v1/executions", json={"workflow": "waiting"}).json()
            wait_for(admin, started["id"], "waiting")
        with httpx.Client(base_url=running.url) as browser:
            csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text)
            assert csrf is not None
            form = {"csrf": csrf.group(1), "token": running.tokens["run"], "next": "/"}
            assert browser.post("/login", data=form).status_code == 303
            form = {"csrf": csrf.group(1), "signal": "go\x00", "payload": "{}"}
            sent = browser.post(f"/runs/{started['id']}/signal", data=form)
        assert sent.status_code == 303, sent.text
        message = unquote(sent.cookies["fuchsia_flash"])
        assert "without a NUL" in message and "store" not in message, message
        with running.client("admin") as admin:
            assert admin.get(f"/api/v1/executions/{started['id']}").json()["status"] == "waiting"
