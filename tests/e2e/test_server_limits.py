"""The API's edges against a real server on 127.0.0.1: bodies bounded before they are read or
authenticated, every parameter validated, one error shape with a stable code for every
refusal, idempotency keys that refuse a second, different request, JSON accepted as curl sends
it, docs that load offline, and a Client that says so when the URL is not a Fuchsia server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest

import fuchsia
from e2e.conftest import error_of
from fuchsia.definition.source import MAX_FILE_BYTES
from fuchsia.errors import (
    ArtifactNotFound,
    IdempotencyConflict,
    RouteNotFound,
    ServerError,
    WorkflowNotFound,
)
from fuchsia.payload import MAX_PAYLOAD_BYTES
from fuchsia.server.app import Status
from fuchsia.server.bodies import API_BODY_BYTES
from fuchsia.states import FINAL_STATUSES, OPEN_STATUSES
from support.server import Served, wait_for

ROOT = Path(__file__).resolve().parents[2]
OPEN = """
name: open
nodes:
  echo: {transform: {got: "{{ data }}"}}
"""
APPROVAL = """
name: approval
trigger:
  schema: {type: object, required: [item, amount]}
nodes:
  take: {transform: {item: "{{ item }}"}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("server-limits"), schedule=False) as running:
        with running.client("admin") as admin:
            for source in (OPEN, OPEN.replace("name: open", "name: open-too"), APPROVAL):
                deployed = admin.post("/api/v1/workflows", json={"source": source})
                assert deployed.status_code == 201, deployed.text
        yield running


def raw_exchange(served: Served, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Send `head`, then `chunks` until the server answers; the answer's first bytes and
    how many body bytes were sent by then."""
    sent = 0
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(head)
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except OSError:  # the server answered and closed while we were sending
                break
            sent += len(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            readable, _, _ = select.select([sock], [], [], 30)
            assert readable, "the server did not answer"
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer, sent


# -- A3: bodies are bounded before they are read, and before authentication -----------------


def test_a_300_mb_body_without_a_token_is_refused_unread(served: Served) -> None:
    head = (
        b"POST /api/v1/executions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n"
    )
    answer, sent = raw_exchange(served, head, iter([b" " * 65536] * 4800))
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status_line, answer[:300]
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "payload_too_large" and error["limit"] == API_BODY_BYTES
    assert sent < 314572800


def test_a_streamed_body_without_a_length_is_cut_at_the_limit(served: Served) -> None:
    head = (
        b"POST /api/v1/executions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
    answer, sent = raw_exchange(served, head, iter([chunk] * 4800))
    assert b" 413 " in answer.partition(b"\r\n")[0], answer[:300]
    assert sent < 4800 * len(chunk)  # answered long before the 300 MB were sent


def test_a_webhook_body_streamed_past_max_body_is_refused(tmp_path: Path) -> None:
    hook = """
name: small-hook
trigger:
  type: webhook
  webhook: {path: /small, secret: s3cret, scheme: github, max_body: 1024}
nodes:
  a: {transform: {x: 1}}
"""
    with Served(tmp_path, schedule=False) as running, running.client("admin") as admin:
        assert admin.post("/api/v1/workflows", json={"source": hook}).status_code == 201

        def stream() -> Iterator[bytes]:
            yield from [b"x" * 512] * 8  # 4 KiB with no Content-Length

        refused = httpx.post(f"{running.url}/hooks/small", content=stream())
        assert refused.status_code == 413
        assert error_of(refused)["limit"] == 1024


def test_a_workflow_source_has_the_cli_file_limit(served: Served) -> None:
    source = OPEN + "#" + "x" * MAX_FILE_BYTES + "\n"
    with served.client("admin") as admin:
        refused = admin.post("/api/v1/workflows", json={"source": source})
    assert refused.status_code == 413
    error = error_of(refused)
    assert error["code"] == "payload_too_large" and error["limit"] == MAX_FILE_BYTES
    assert str(MAX_FILE_BYTES) in error["message"]


@pytest.mark.parametrize(
    ("key", "reason"),
    [("k" * 256, "the limit is 255"), ("two words", "visible ASCII"), ("", "is empty")],
)
def test_an_idempotency_key_has_a_length_and_an_alphabet(
    served: Served, key: str, reason: str
) -> None:
    with served.client("run") as runner:
        refused = runner.post(
            "/api/v1/executions", json={"workflow": "open"}, headers={"Idempotency-Key": key}
        )
    assert refused.status_code == 400, refused.text
    error = error_of(refused)
    assert error["code"] == "invalid_request" and error["param"] == "Idempotency-Key"
    assert reason in error["message"]


# -- B7: every parameter validated; malformed bodies say why --------------------------------


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/events?after=99999999999999999999999999", "query.after"),
        ("/events?after=-1", "query.after"),
        ("/events?after=soon", "query.after"),
    ],
)
def test_event_cursors_out_of_range_are_422_naming_the_parameter(
    served: Served, path: str, param: str
) -> None:
    with served.client("run") as runner:
        started = runner.post("/api/v1/executions", json={"workflow": "open"}).json()
        refused = runner.get(f"/api/v1/executions/{started['id']}{path}")
    assert refused.status_code == 422, refused.text
    error = error_of(refused)
    assert error["code"] == "invalid_parameters" and error["param"] == param
    assert error["errors"][0]["param"] == param


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "query.limit"),
        ("limit=1001", "query.limit"),
        ("limit=many", "query.limit"),
        ("status=bogus", "query.status"),
        ("before=" + "x" * 65, "query.before"),
        ("before=zzz", "query.before"),  # names no execution: not a position among ids
        ("before=0", "query.before"),
    ],
)
def test_listing_parameters_are_validated(served: Served, query: str, param: str) -> None:
    with served.client("read") as reader:
        refused = reader.get(f"/api/v1/executions?{query}")
    assert refused.status_code == 422, refused.text
    assert error_of(refused)["param"] == param


def test_a_workflow_version_of_5000_digits_is_refused_not_a_500(served: Served) -> None:
    with served.client("read") as reader:
        refused = reader.get("/api/v1/workflows/open@" + "9" * 5000)
    assert refused.status_code == 422, refused.text
    assert error_of(refused)["param"] == "path.ref"


WAITING = """
name: waiting
nodes:
  gate: {wait: {signal: go}}
"""


def test_a_nul_in_an_id_a_name_or_a_cursor_is_422_naming_it_on_both_stores(
    tmp_path: Path, store_url: str
) -> None:
    """PostgreSQL text holds no NUL: each of these reached the store and was a 500 there (a
    `store_error` for the signal), while SQLite took them. Now both refuse them alike, on the
    API's routes and the UI's, and what was stored stays as it was."""
    with (
        Served(tmp_path, db=store_url, schedule=False) as running,
        running.client("admin") as admin,
    ):
        assert admin.post("/api/v1/workflows", json={"source": WAITING}).status_code == 201
        started = admin.post("/api/v1/executions", json={"workflow": "waiting"}).json()
        base = f"/api/v1/executions/{started['id']}"
        wait_for(admin, started["id"], "waiting")
        requests: list[tuple[str, str, Any, str]] = [
            ("GET", "/api/v1/executions/a%00b", None, "path"),
            ("GET", "/api/v1/executions/%00/events", None, "path"),
            ("GET", f"{base}/artifacts/%00", None, "path"),
            ("GET", "/api/v1/workflows/waiting%00", None, "path"),
            ("GET", "/api/v1/executions?before=%00", None, "query.before"),
            ("GET", "/api/v1/executions?workflow=waiting%00", None, "query.workflow"),
            ("POST", "/api/v1/executions/%00/cancel", None, "path"),
            ("GET", "/?q=%00", None, "query.q"),
            ("GET", f"/runs/{started['id']}?node=%00", None, "query.node"),
            ("GET", "/live/runs/%00", None, "path"),
            # bodies, each sent as JSON's \u0000
            ("POST", "/api/v1/executions", {"workflow": "wait\x00ing"}, "body.workflow"),
            ("POST", f"{base}/signal", {"name": "go\x00"}, "body.name"),
            ("POST", f"{base}/retry", {"from_node": "gate\x00"}, "body.from_node"),
            ("POST", "/api/v1/executions/resume", {"ids": [started["id"] + "\x00"]}, "body.ids.0"),
        ]
        for method, path, body, param in requests:
            refused = admin.request(method, path, json=body)
            assert refused.status_code == 422, (path, refused.text)
            error = error_of(refused)
            assert (error["code"], error["param"]) == ("invalid_parameters", param), (path, error)
            assert "NUL" in error["message"], (path, error)
        assert admin.get(base).json()["status"] == "waiting"
        sent = admin.post(f"{base}/signal", json={"name": "go"})
        assert sent.status_code == 200, sent.text
        assert wait_for(admin, started["id"], "completed")["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"workflow": "open", "payload": ' + "[" * 100 + "]" * 100 + "}", "nested more than"),
        ('{"workflow": "open", "payload": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
        ('{"workflow": "open", "payload": {"n": ' + "7" * 5000 + "}}", "5000 digits"),
        ('{"workflow": "open", "payload": {"n": 1', "not valid JSON"),
        (b'{"workflow": "\xff"}', "not UTF-8"),
    ],
)
def test_malformed_json_bodies_are_400_with_the_reason(
    served: Served, body: str | bytes, reason: str
) -> None:
    with served.client("run") as runner:
        refused = runner.post(
            "/api/v1/executions", content=body, headers={"Content-Type": "application/json"}
        )
    assert refused.status_code == 400, refused.text
    error = error_of(refused)
    assert error["code"] == "invalid_request" and error["param"] == "body"
    assert reason in error["message"]


def test_an_oversized_payload_is_413_not_422(served: Served) -> None:
    payload = {"blob": "x" * (MAX_PAYLOAD_BYTES + 1)}
    with served.client("run") as runner:
        refused = runner.post("/api/v1/executions", json={"workflow": "open", "payload": payload})
    assert refused.status_code == 413, refused.text[:300]
    error = error_of(refused)
    assert error["code"] == "payload_too_large" and error["limit"] == MAX_PAYLOAD_BYTES


# -- B8: a 404 says what was not found -------------------------------------------------------


def test_each_404_names_what_is_missing(served: Served) -> None:
    with served.client("run") as runner:
        started = runner.post("/api/v1/executions", json={"workflow": "open"}).json()
        base = f"/api/v1/executions/{started['id']}"
        cases = {
            f"{base}/artifacts/nope": ("artifact_not_found", "artifact_id", "nope"),
            f"{base}/nonsense": ("route_not_found", "path", f"{base}/nonsense"),
            "/api/v1/executions/nope": ("execution_not_found", "execution_id", "nope"),
            "/api/v1/workflows/never": ("workflow_not_found", "ref", "never"),
            "/api/v1/components/nothing": ("component_not_found", "ref", "nothing"),
        }
        for path, (code, field, value) in cases.items():
            missing = runner.get(path)
            assert missing.status_code == 404, path
            error = error_of(missing)
            assert (error["code"], error[field]) == (code, value), (path, error)
        retried = runner.post(f"{base}/retry", json={"from_node": "nowhere"})
        assert retried.status_code == 404, retried.text
        error = error_of(retried)
        assert (error["code"], error["node_id"]) == ("node_not_found", "nowhere"), error


def test_the_client_tells_a_missing_route_from_a_missing_execution(served: Served) -> None:
    with served.client("run") as runner:
        started = runner.post("/api/v1/executions", json={"workflow": "open"}).json()
    wrong = fuchsia.Client(f"{served.url}/not-the-api", token=served.tokens["read"])
    with wrong, pytest.raises(RouteNotFound, match="no route '/not-the-api/api/v1/executions/"):
        wrong.get(started["id"])
    with fuchsia.Client(served.url, token=served.tokens["read"]) as client:
        with pytest.raises(ArtifactNotFound) as missing:
            client.artifact(started["id"], "nope")
        assert missing.value.artifact_id == "nope"
        with pytest.raises(WorkflowNotFound) as unknown:
            client.workflow("never")
        assert unknown.value.ref == "never"


# -- B10: JSON as curl sends it; docs offline; the bearer scheme declared --------------------


def test_the_readme_curl_example_starts_an_execution(served: Served) -> None:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^\$ (curl .*?/api/v1/executions)$", readme, re.S | re.M)
    assert command is not None, "the README's curl example"
    text = command.group(1).replace("\\\n", " ").replace("http://127.0.0.1:8080", served.url)
    env = {"TOKEN": served.tokens["run"], "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        ["sh", "-c", text + " -s -w '\\n%{http_code}'"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    body, _, status = done.stdout.rpartition("\n")
    assert status == "201", done.stdout
    assert json.loads(body)["workflow"] == "approval"


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_json_is_accepted_without_a_json_content_type(
    served: Served, content_type: str | None
) -> None:
    headers = {"Authorization": f"Bearer {served.tokens['run']}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = json.dumps({"workflow": "open", "payload": {"n": 1}})
    request = httpx.Request("POST", f"{served.url}/api/v1/executions", content=body)
    request.headers.update(headers)
    if content_type is None:
        request.headers.pop("Content-Type", None)
    with httpx.Client() as http:
        started = http.send(request)
    assert started.status_code == 201, started.text
    assert started.json()["workflow"] == "open"


def test_a_body_sent_as_another_type_is_415_naming_it(served: Served) -> None:
    with served.client("run") as runner:
        refused = runner.post(
            "/api/v1/executions",
            content=b"<workflow>open</workflow>",
            headers={"Content-Type": "application/xml"},
        )
    assert refused.status_code == 415
    error = error_of(refused)
    assert error["code"] == "unsupported_media_type"
    assert error["content_type"] == "application/xml"


def test_metrics_are_served_where_the_readme_says(served: Served) -> None:
    readme = (ROOT / "README.md").read_text()
    api = readme[readme.index("## The HTTP API") :]
    table = api[api.index("| route | scope |") :]
    table = table[: table.index("\n\n")]  # the routes "all under /api/v1"
    assert "/metrics" not in table
    assert "metrics are at `GET /metrics`, outside `/api/v1`" in api
    with served.client("read") as reader:
        scraped = reader.get("/metrics")
        assert reader.get("/api/v1/metrics").status_code == 404
    assert scraped.status_code == 200 and "fuchsia_executions" in scraped.text


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_every_asset_from_the_server(served: Served, page: str) -> None:
    html = httpx.get(f"{served.url}{page}").text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert assets, html
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    for asset in assets:
        fetched = httpx.get(f"{served.url}{asset}")
        assert fetched.status_code == 200 and len(fetched.content) > 100, asset


def test_the_openapi_document_declares_the_bearer_scheme(served: Served) -> None:
    document = httpx.get(f"{served.url}/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    (name,) = schemes
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert operations[("GET", "/healthz")].get("security", []) == []
    assert operations[("POST", "/hooks/{path}")].get("security", []) == []
    protected = [k for k in operations if k[1].startswith("/api/v1") or k[1] == "/metrics"]
    assert len(protected) >= 19
    for key in protected:
        assert operations[key]["security"] == [{name: []}], key


# -- C13: a key reused for a different request is refused ------------------------------------


def test_an_idempotency_key_reused_with_another_payload_is_409(served: Served) -> None:
    with served.client("run") as runner:

        def start(payload: Any, workflow: str = "open") -> httpx.Response:
            return runner.post(
                "/api/v1/executions",
                json={"workflow": workflow, "payload": payload},
                headers={"Idempotency-Key": "order-c13"},
            )

        first = start({"n": 1})
        assert first.status_code == 201
        again = start({"n": 1})
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        for other in (start({"n": 2}), start({"n": 1.0}), start({"n": 1}, "open-too")):
            assert other.status_code == 409, other.text
            error = error_of(other)
            assert error["code"] == "idempotency_conflict"
            assert error["execution_id"] == first.json()["id"]
            assert error["idempotency_key"] == "order-c13"
    with fuchsia.Client(served.url, token=served.tokens["run"]) as client:
        with pytest.raises(IdempotencyConflict) as conflict:
            client.start("open", {"n": 3}, idempotency_key="order-c13")
        assert conflict.value.execution_id == first.json()["id"]


def test_the_engine_refuses_a_reused_key_with_another_payload(tmp_path: Path) -> None:
    flow = tmp_path / "open.yaml"
    flow.write_text(OPEN)

    async def main() -> None:
        async with await fuchsia.Engine.open(str(tmp_path / "f.db"), home=tmp_path) as engine:
            first = await engine.start(flow, {"n": 1}, idempotency_key="k-1")
            assert await engine.start(flow, {"n": 1}, idempotency_key="k-1") == first
            with pytest.raises(IdempotencyConflict) as conflict:
                await engine.start(flow, {"n": 2}, idempotency_key="k-1")
            assert conflict.value.execution_id == first
            await engine.wait(first)

    asyncio.run(main())


# -- B6: a URL that is not a Fuchsia server ---------------------------------------------------


class _NotFuchsia(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, kind, body = (200, "text/plain", b"hello from something else")
        if self.path.startswith("/proxy"):
            status, kind = 502, "text/html"
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        elif self.path.startswith("/json"):
            kind, body = "application/json", b'["not", "the", "api"]'

        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def not_fuchsia() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFuchsia)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("prefix", "status", "kind"),
    [("/proxy", 502, "text/html"), ("", 200, "text/plain"), ("/json", 200, "application/json")],
)
def test_a_page_that_is_not_the_api_is_a_clear_error(
    not_fuchsia: str, prefix: str, status: int, kind: str
) -> None:
    with fuchsia.Client(not_fuchsia + prefix) as client, pytest.raises(ServerError) as failed:
        client.executions()
    assert failed.value.status == status
    assert failed.value.url.startswith(f"{not_fuchsia}{prefix}/api/v1/executions")
    assert str(status) in str(failed.value) and kind in str(failed.value)
    assert "is this a Fuchsia server?" in str(failed.value)


# -- one error shape for every refusal, FastAPI's own included --------------------------------


def test_every_refusal_has_the_error_shape_and_a_code(served: Served) -> None:
    with (
        served.client(None) as anonymous,
        served.client("read") as reader,
        served.client("run") as runner,
    ):
        answers = {
            "unauthenticated": anonymous.get("/api/v1/executions"),
            "forbidden": reader.post("/api/v1/executions", json={"workflow": "open"}),
            "route_not_found": reader.get("/api/v2/executions"),
            "method_not_allowed": runner.delete("/api/v1/executions"),
            "invalid_parameters": runner.post("/api/v1/executions", json={"payload": {}}),
            "invalid_request": runner.post("/api/v1/executions", content=b"{", headers={}),
            "unsupported_media_type": runner.post(
                "/api/v1/executions", content=b"x", headers={"Content-Type": "image/png"}
            ),
            "payload_too_large": runner.post(
                "/api/v1/executions", content=b" " * (API_BODY_BYTES + 1)
            ),
        }
    status = {
        "unauthenticated": 401,
        "forbidden": 403,
        "route_not_found": 404,
        "method_not_allowed": 405,
        "invalid_parameters": 422,
        "invalid_request": 400,
        "unsupported_media_type": 415,
        "payload_too_large": 413,
    }
    for code, answer in answers.items():
        assert (answer.status_code, error_of(answer)["code"]) == (status[code], code), answer.text
    assert error_of(answers["forbidden"])["scope"] == "run"
    assert error_of(answers["invalid_parameters"])["param"] == "body.workflow"
    assert error_of(answers["method_not_allowed"])["method"] == "DELETE"


def test_the_cli_says_a_url_is_not_a_fuchsia_server(not_fuchsia: str, tmp_path: Path) -> None:
    env = {**os.environ, "FUCHSIA_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "fuchsia", "--server", f"{not_fuchsia}/proxy", "runs", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{not_fuchsia}/proxy/api/v1/executions" in done.stderr
    assert "answered 502 with text/html" in done.stderr


def test_the_status_filter_accepts_exactly_the_execution_statuses(served: Served) -> None:
    statuses = set(OPEN_STATUSES) | set(FINAL_STATUSES)
    assert set(get_args(Status)) == statuses
    with served.client("read") as reader:
        for status in sorted(statuses):
            assert reader.get(f"/api/v1/executions?status={status}").status_code == 200
