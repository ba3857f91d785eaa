"""The `http` node kind against a real HTTP server on 127.0.0.1, through `fuchsia.Engine`.

Each test writes a workflow file, runs it in-process with its own SQLite store, and checks both
what the engine recorded and what the server received.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fuchsia import Engine, Execution
from support.httpserver import TEXT_BODY, LoopbackServer


def run_workflow(
    tmp_path: Path, loopback: LoopbackServer, text: str, payload: Any = None
) -> Execution:
    """Write `text` (with BASE replaced by the server's URL) to a file and run it to the end."""
    path = tmp_path / "workflow.yaml"
    path.write_text(text.replace("BASE", loopback.base_url))

    async def main() -> Execution:
        async with await Engine.open(db=str(tmp_path / "f.db")) as engine:
            return await engine.run(path, payload)

    return asyncio.run(main())


def test_request_parts_are_sent_as_written(tmp_path: Path, loopback: LoopbackServer) -> None:
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: send-parts
nodes:
  post:
    http:
      method: POST
      url: BASE/echo/parts-json
      headers: {X-Test: "yes", Authorization: "Bearer abc"}
      query: {q: "hello world", n: 2, flag: true}
      json: {items: [1, 2, 3], nested: {ok: true}, name: "ada"}
  put:
    http:
      method: PUT
      url: BASE/echo/parts-body
      headers: {Content-Type: text/plain}
      body: "raw body, not JSON"
""",
    )
    assert execution.status == "completed", execution.error

    post = execution.node("post").output
    assert post["status"] == 200
    assert post["headers"]["content-type"] == "application/json"
    seen = post["json"]
    assert seen["method"] == "POST"
    assert seen["path"] == "/echo/parts-json"
    assert seen["query"] == {"q": "hello world", "n": "2", "flag": "true"}
    assert seen["headers"]["x-test"] == "yes"
    assert seen["headers"]["authorization"] == "Bearer abc"
    assert "application/json" in seen["headers"]["content-type"]
    assert seen["json"] == {"items": [1, 2, 3], "nested": {"ok": True}, "name": "ada"}

    put = execution.node("put").output["json"]
    assert put["method"] == "PUT"
    assert put["body"] == "raw body, not JSON"
    assert put["headers"]["content-type"] == "text/plain"
    assert put["json"] is None

    # what the server itself recorded agrees with the echo
    (request,) = loopback.requests("/echo/parts-json")
    assert request.method == "POST"
    assert request.query == {"q": "hello world", "n": "2", "flag": "true"}
    (request,) = loopback.requests("/echo/parts-body")
    assert request.body == b"raw body, not JSON"


def test_output_has_json_for_json_responses_and_text_otherwise(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: output-shape
nodes:
  as_json:
    http: {url: BASE/ok/shape-json}
  as_text:
    http: {url: BASE/text}
""",
    )
    assert execution.status == "completed", execution.error
    as_json = execution.node("as_json").output
    assert set(as_json) == {"status", "headers", "json"}
    assert as_json["status"] == 200
    assert as_json["json"] == {"name": "shape-json", "calls": 1}
    as_text = execution.node("as_text").output
    assert set(as_text) == {"status", "headers", "text"}
    assert as_text["text"] == TEXT_BODY
    assert as_text["headers"]["content-type"].startswith("text/plain")


def test_expect_accepts_a_listed_status(tmp_path: Path, loopback: LoopbackServer) -> None:
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: expect-404
nodes:
  missing:
    http: {url: BASE/status/404, expect: [404]}
""",
    )
    assert execution.status == "completed", execution.error
    node = execution.node("missing")
    assert node.status == "succeeded"
    assert node.output["status"] == 404
    assert node.output["json"] == {"status": 404}


def test_unexpected_4xx_fails_without_retry(tmp_path: Path, loopback: LoopbackServer) -> None:
    before = loopback.count("/status/422")
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: no-retry-4xx
nodes:
  rejected:
    http: {url: BASE/status/422}
    retry: {max_attempts: 3, initial_delay: 10ms}
""",
    )
    assert execution.status == "failed"
    node = execution.node("rejected")
    assert node.status == "failed"
    assert [a.status for a in node.attempts] == ["failed"]
    error = node.attempts[0].error
    assert error is not None
    assert error["type"] == "http_error"
    assert error["status"] == 422
    assert error["retryable"] is False
    assert "422" in error["message"]
    assert loopback.count("/status/422") - before == 1
    assert execution.error is not None and execution.error["node"] == "rejected"


def test_5xx_is_retried_until_it_succeeds(tmp_path: Path, loopback: LoopbackServer) -> None:
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: retry-503
nodes:
  flaky:
    http: {url: "BASE/flaky/retry-503?fail=2"}
    retry: {max_attempts: 3, initial_delay: 10ms}
""",
    )
    assert execution.status == "completed", execution.error
    node = execution.node("flaky")
    assert node.status == "succeeded"
    assert [a.number for a in node.attempts] == [1, 2, 3]
    assert [a.status for a in node.attempts] == ["failed", "failed", "succeeded"]
    for attempt in node.attempts[:2]:
        assert attempt.error is not None
        assert attempt.error["type"] == "http_error"
        assert attempt.error["status"] == 503
        assert attempt.error["retryable"] is True
    assert node.attempts[2].error is None
    assert node.output["json"] == {"key": "retry-503", "calls": 3}
    assert loopback.count("/flaky/retry-503") == 3


def test_retries_stop_at_max_attempts(tmp_path: Path, loopback: LoopbackServer) -> None:
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: retry-exhausted
nodes:
  flaky:
    http: {url: "BASE/flaky/retry-exhausted?fail=5"}
    retry: {max_attempts: 2, initial_delay: 10ms}
""",
    )
    assert execution.status == "failed"
    node = execution.node("flaky")
    assert node.status == "failed"
    assert [a.status for a in node.attempts] == ["failed", "failed"]
    assert loopback.count("/flaky/retry-exhausted") == 2


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("    timeout: 200ms\n    http: {url: 'BASE/slow?seconds=2'}\n", id="node"),
        pytest.param("    http: {url: 'BASE/slow?seconds=2', timeout: 200ms}\n", id="http"),
    ],
)
def test_timeout_is_recorded_as_timed_out(
    tmp_path: Path, loopback: LoopbackServer, where: str
) -> None:
    execution = run_workflow(tmp_path, loopback, "name: slow\nnodes:\n  slow:\n" + where)
    node = execution.node("slow")
    assert node.status == "timed_out"
    assert [a.status for a in node.attempts] == ["timed_out"]
    error = node.attempts[0].error
    assert error is not None and error["type"] == "timeout"
    assert execution.status in ("failed", "timed_out")
    assert execution.status != "completed"


def test_http_timeout_applies_under_a_longer_node_timeout(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    """`http.timeout` is the request's own limit; a node or default timeout is the attempt's."""
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: slow-request
defaults: {timeout: 30s}
nodes:
  slow:
    http: {url: "BASE/slow?seconds=5", timeout: 200ms}
""",
    )
    node = execution.node("slow")
    assert node.status == "timed_out", node.attempts
    assert execution.status != "completed"


def test_on_error_continue_completes_with_errors(tmp_path: Path, loopback: LoopbackServer) -> None:
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: keep-going
nodes:
  broken:
    http: {url: BASE/status/500}
    on_error: continue
  fine:
    http: {url: BASE/ok/keep-going}
""",
    )
    assert execution.status == "completed_with_errors"
    assert execution.node("broken").status == "failed"
    assert execution.node("fine").status == "succeeded"
    assert execution.error is not None and execution.error["nodes"] == ["broken"]


def test_templates_render_from_upstream_output(tmp_path: Path, loopback: LoopbackServer) -> None:
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: templated
trigger:
  schema: {type: object, required: [user], properties: {user: {type: string}}}
nodes:
  first:
    http: {url: "BASE/ok/{{ user }}-tmpl"}
  second:
    after: first
    http:
      method: POST
      url: "BASE/echo/second/{{ json.name }}"
      headers: {X-Calls: "{{ json.calls }}", X-Status: "status {{ status }}"}
      query: {from: "{{ json.name }}"}
      json: {name: "{{ json.name }}", status: "{{ status }}", whole: "{{ json }}"}
  joined:
    after: [first, second]
    join: all
    http:
      method: POST
      url: "BASE/echo/joined/{{ first.json.name }}"
      json:
        first: "{{ first.json }}"
        second_saw: "{{ second.json.json.name }}"
        header: "{{ second.json.headers['x-calls'] }}"
""",
        {"user": "ada"},
    )
    assert execution.status == "completed", execution.error

    second = execution.node("second").output["json"]
    assert second["path"] == "/echo/second/ada-tmpl"
    assert second["headers"]["x-calls"] == "1"
    assert second["headers"]["x-status"] == "status 200"
    assert second["query"] == {"from": "ada-tmpl"}
    # a value that is one `{{ expr }}` keeps its native type
    assert second["json"] == {
        "name": "ada-tmpl",
        "status": 200,
        "whole": {"name": "ada-tmpl", "calls": 1},
    }

    joined = execution.node("joined").output["json"]
    assert joined["path"] == "/echo/joined/ada-tmpl"
    assert joined["json"] == {
        "first": {"name": "ada-tmpl", "calls": 1},
        "second_saw": "ada-tmpl",
        "header": "1",
    }
    assert loopback.count("/ok/ada-tmpl") == 1


def test_payload_is_not_visible_two_hops_away(tmp_path: Path, loopback: LoopbackServer) -> None:
    """Single-hop visibility: a node past the first sees only its upstream's output."""
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: single-hop
nodes:
  first:
    http: {url: "BASE/ok/hop-{{ user }}"}
  second:
    after: first
    http: {url: "BASE/ok/hop-two-{{ user }}"}
""",
        {"user": "bob"},
    )
    assert execution.status == "failed"
    assert execution.node("first").status == "succeeded"
    node = execution.node("second")
    assert node.status == "failed"
    error = node.attempts[0].error
    assert error is not None and error["type"] == "input_error"
    assert "user" in error["message"]
    assert loopback.counts("/ok/hop-two") == {}


def test_query_adds_to_the_urls_own_query_string(tmp_path: Path, loopback: LoopbackServer) -> None:
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: query-merge
nodes:
  only_url:
    http: {url: "BASE/echo/query-url?page=2&sort=asc"}
  both:
    http: {url: "BASE/echo/query-both?page=2", query: {size: 10, q: "a b"}}
""",
    )
    assert execution.status == "completed", execution.error
    assert execution.node("only_url").output["json"]["query"] == {"page": "2", "sort": "asc"}
    assert execution.node("both").output["json"]["query"] == {
        "page": "2",
        "size": "10",
        "q": "a b",
    }


def test_a_header_that_renders_to_an_object_fails_naming_it(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    execution = run_workflow(
        tmp_path,
        loopback,
        """
name: bad-header
nodes:
  first:
    http: {url: BASE/ok/bad-header}
  second:
    after: first
    http: {url: BASE/echo/bad-header, headers: {X-Body: "{{ json }}"}}
    retry: {max_attempts: 3, initial_delay: 10ms}
""",
    )
    assert execution.status == "failed"
    node = execution.node("second")
    assert node.status == "failed"
    assert len(node.attempts) == 1  # an input error is not worth retrying
    error = node.attempts[0].error
    assert error is not None and error["type"] == "input_error"
    assert "http.headers.X-Body" in error["message"]
    assert loopback.count("/echo/bad-header") == 0
