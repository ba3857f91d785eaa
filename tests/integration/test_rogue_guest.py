"""What a guest hands the host that Python's own parsers and clients refuse in their own ways:
the rogue component (tests/components/rogue) hands over whatever its input describes, through
the raw bindings, and each misbehaviour fails its node with an error saying what was wrong
while the engine goes on.

- JSON text from a guest (its output, a log line's fields) that `json.loads` refuses without
  a `JSONDecodeError` (nesting past the recursion limit, an integer of more than 4,300 digits)
  or takes though JSON has no such value (`NaN`, `Infinity`) fails the node as not JSON, and
  log fields the store could not keep as JSON are kept as their text;
- an output nested deeper than a recursive output schema can be walked fails the node;
- a request httpx cannot send (a control character in its URL, a method that is no token)
  is answered `failed`, as any request that fails, and an http node's URL so rendered is
  an input error;
- a request a server holds keeps its attempt neither past the node's timeout nor past a
  cancel, nor the engine from closing: the attempt ends timed out or cancelled while the
  server still holds the request;
- empty kv keys and artifacts are not free: each counts against `limits.side_effects`;
- a python step calling a raw binding with the wrong types traps, and the error names the
  runtime's own message, not the footer it writes after it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from fuchsia import Engine, Execution
from fuchsia.components.registry import Registry
from fuchsia.runtime.limits import Limits
from integration.test_components import SOURCES, install, node_events, run_and_read, run_flow
from support.components import CACHE, built_component, built_python_runtime
from support.httpserver import LoopbackServer
from support.waiting import until


@pytest.fixture(scope="module")
def rogue() -> Path:
    return built_component(SOURCES / "rogue").parent


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = CACHE / "compiled-cache"
    cache.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("FUCHSIA_CACHE", str(cache))
    return tmp_path / "home"


def repeated(middle: str, n: int, head: str = "", tail: str = "") -> dict[str, Any]:
    """The rogue's description of head + middle * n + tail."""
    return {"head": head, "middle": middle, "n": n, "tail": tail}


def run_nodes(home: Path, tmp: Path, ref: str, nodes: dict[str, tuple[str, Any]]) -> Any:
    """Run one node per entry (task, inputs), each failing on its own, beside a `calm` one."""
    lines = "".join(
        f"  {name}: {{component: '{ref}', task: {task}, inputs: {json.dumps(inputs)}}}\n"
        for name, (task, inputs) in nodes.items()
    )
    calm = f"  calm: {{component: '{ref}', task: emit, inputs: {{data: '{{\"calm\": 1}}'}}}}\n"
    return run_flow(
        home,
        tmp,
        "name: rogue\ndefaults: {on_error: continue, retry: {max_attempts: 1}}\n"
        f"nodes:\n{lines}{calm}",
    )


# -- JSON the guest hands over ---------------------------------------------------------------


def test_output_json_python_refuses_or_json_lacks_fails_the_node_as_not_json(
    home: Path, tmp_path: Path, rogue: Path
) -> None:
    """Each of these failed the node with "internal error: RecursionError" or "ValueError"
    (and a traceback in the engine's log), or was taken and stored as no JSON has it."""
    ref = install(home, rogue, tmp_path)
    outputs = {
        "deep": (repeated("[", 100_000), "the output is nested too deeply to parse"),
        "digits": (repeated("1", 5000), "an integer of 5000 digits; the limit is 4300 digits"),
        "nan": ('{"x": NaN}', "it holds NaN, which JSON has no literal for"),
        "infinity": ("[-Infinity]", "it holds -Infinity"),
    }
    execution = run_nodes(
        home, tmp_path, ref, {name: ("emit", {"data": data}) for name, (data, _) in outputs.items()}
    )
    assert execution.status == "completed_with_errors", execution.error
    for name, (_, words) in outputs.items():
        error = execution.node(name).error
        assert error is not None and error["type"] == "output_error", (name, error)
        assert "the output is" in error["message"] and words in error["message"], (name, error)
    assert execution.node("calm").output == {"calm": 1}


def test_log_fields_the_store_cannot_keep_as_json_are_kept_as_their_text(
    home: Path, tmp_path: Path, rogue: Path
) -> None:
    """Deep nesting and a long integer failed the node with an internal error; NaN, an
    infinity and a lone surrogate were stored in the event log as no JSON reader takes."""
    ref = install(home, rogue, tmp_path)
    fields = {
        "deep": repeated("[", 5000),
        "digits": repeated("1", 5000, '{"n": ', "}"),
        "nan": '{"x": NaN}',
        "infinity": "[1e999]",
        "surrogate": '{"x": "\\ud800"}',
        "plain": '{"x": [1, "\\u00e9"]}',
    }
    nodes = {name: ("logs", {"message": name, "fields": text}) for name, text in fields.items()}
    execution = run_nodes(home, tmp_path, ref, nodes)
    assert execution.status == "completed", execution.error
    lines = {line["message"]: line["fields"] for line in node_events(home, execution.id, "log")}
    for name in ("nan", "infinity", "surrogate", "deep", "digits"):
        kept = lines[name]["fields"]
        assert isinstance(kept, str) and kept.startswith(("{", "[", '{"n": 111')), (name, kept)
    assert lines["nan"] == {"fields": '{"x": NaN}'}
    assert lines["plain"] == {"x": [1, "é"]}
    json.dumps(lines, allow_nan=False)  # what was stored is JSON


def test_an_output_deeper_than_its_recursive_schema_can_walk_fails_the_node(
    home: Path, tmp_path: Path, rogue: Path
) -> None:
    """A tree checked against a schema that refers to itself failed the node with "internal
    error: RecursionError" at a depth the store keeps."""
    tree = {"$ref": "#/$defs/tree"}
    schema = {
        "type": "object",
        "properties": {"tree": tree},
        "$defs": {"tree": {"type": ["array", "number"], "items": tree}},
    }
    task = {"description": "returns its input's text", "output_schema": schema}
    ref = install(home, rogue, tmp_path, tasks={"emit": task})
    depth = 300
    nodes = {
        "deep": ("emit", {"data": repeated("[", depth, '{"tree": ', "]" * depth + "}")}),
        "shallow": ("emit", {"data": '{"tree": [[1], 2]}'}),
    }
    execution = run_nodes(home, tmp_path, ref, nodes)
    assert execution.status == "completed_with_errors", execution.error
    error = execution.node("deep").error
    assert error is not None and error["type"] == "output_error", error
    assert "the task's output schema cannot be applied" in error["message"]
    assert "nested deeper than it can be checked against it" in error["message"]
    assert execution.node("shallow").output == {"tree": [[1], 2]}


def test_an_http_nodes_json_response_python_cannot_parse_is_kept_as_text(
    home: Path, tmp_path: Path, loopback: LoopbackServer
) -> None:
    """The same parse in the http node: it failed the node with an internal error."""
    deep = loopback.url("/repeat?middle=%5B&n=100000")
    digits = loopback.url("/repeat?middle=7&n=5000")
    execution = run_flow(
        home,
        tmp_path,
        "name: responses\nnodes:\n"
        f"  deep: {{http: {{url: '{deep}'}}}}\n  digits: {{http: {{url: '{digits}'}}}}\n",
    )
    assert execution.status == "completed", execution.error
    assert execution.node("deep").output["text"] == "[" * 100_000
    assert execution.node("digits").output["text"] == "7" * 5000


# -- requests ----------------------------------------------------------------------------------


def test_a_request_httpx_cannot_send_is_answered_failed_and_the_guest_goes_on(
    home: Path, tmp_path: Path, rogue: Path, loopback: LoopbackServer
) -> None:
    """A control character in the URL (httpx.InvalidURL, which is no httpx.HTTPError) and a
    method with a non-ASCII letter (a TypeError) failed the node with an internal error."""
    ref = install(home, rogue, tmp_path, capabilities={"allowed_hosts": [loopback.base_url]})
    requests = {
        "nul": {"url": loopback.url("/ok/a\x00b")},
        "delete": {"url": loopback.url("/ok/a\x7f")},
        "letter": {"url": loopback.url("/ok/letter"), "method": "G\u00c9T"},
        "space": {"url": loopback.url("/ok/space"), "method": "GET /ok/other"},
        "value": {"url": loopback.url("/ok/value"), "headers": [["x-a", "\u20ac"]]},
    }
    nodes = {name: ("fetch", request) for name, request in requests.items()}
    execution = run_nodes(
        home, tmp_path, ref, {**nodes, "fine": ("fetch", {"url": loopback.url("/ok/fine")})}
    )
    assert execution.status == "completed", execution.error
    for name in requests:
        [answer] = execution.node(name).output
        assert answer["error"] == "HttpError_Failed", (name, answer)
    [letter] = execution.node("letter").output
    assert "'GÉT' is not an HTTP method" in letter["message"]
    [nul] = execution.node("nul").output
    assert "non-printable ASCII character in URL" in nul["message"]
    assert execution.node("fine").output == [
        {"status": 200, "bytes": len(b'{"name": "fine", "calls": 1}')}
    ]
    assert loopback.counts("/ok/") == {"/ok/fine": 1}


def test_an_http_node_url_httpx_cannot_send_is_an_input_error(
    home: Path, tmp_path: Path, rogue: Path, loopback: LoopbackServer
) -> None:
    """A URL rendered from a guest's output: it failed the http node with an internal error."""
    ref = install(home, rogue, tmp_path)
    output = json.dumps({"path": "a\x7fb"})
    execution = run_flow(
        home,
        tmp_path,
        f"name: rendered\nnodes:\n  guest: {{component: '{ref}', task: emit, "
        f"inputs: {{data: {json.dumps(output)}}}}}\n"
        f"  call: {{after: guest, http: {{url: '{loopback.base_url}/ok/{{{{ path }}}}'}}}}\n",
    )
    assert execution.status == "failed"
    error = execution.node("call").error
    assert error is not None and error["type"] == "input_error", error
    assert "http.url is not a URL that can be sent: Invalid non-printable ASCII" in error["message"]


def test_a_request_held_past_the_nodes_timeout_ends_the_attempt_at_its_timeout(
    home: Path, tmp_path: Path, rogue: Path, loopback: LoopbackServer
) -> None:
    """The host waited for the request (up to the timeout the guest asked for, here ten
    minutes): the attempt outlived its timeout, and the engine's closing waited for it."""
    ref = install(home, rogue, tmp_path, capabilities={"allowed_hosts": [loopback.base_url]})
    request = {"url": loopback.url("/hold/late?timeout=30"), "timeout_ms": 600_000}
    execution = run_flow(
        home,
        tmp_path,
        f"name: held\nnodes:\n  held: {{component: '{ref}', task: fetch, timeout: 500ms, "
        f"retry: {{max_attempts: 1}}, inputs: {json.dumps(request)}}}\n",
    )
    assert loopback.held("late") == 1  # the engine has closed; the server holds the request
    loopback.release("late")
    assert execution.node("held").status == "timed_out"
    error = execution.node("held").error
    assert error is not None and error["type"] == "timeout", error


def test_cancelling_an_execution_ends_a_request_its_component_waits_for(
    home: Path, tmp_path: Path, rogue: Path, loopback: LoopbackServer
) -> None:
    """Without a timeout, nothing ended the wait for the request but the server's answer."""
    ref = install(home, rogue, tmp_path, capabilities={"allowed_hosts": [loopback.base_url]})
    request = {"url": loopback.url("/hold/cancel?timeout=30"), "timeout_ms": 600_000}
    flow = tmp_path / "held.yaml"
    flow.write_text(
        f"name: held\nnodes:\n  held: {{component: '{ref}', task: fetch, "
        f"inputs: {json.dumps(request)}}}\n"
    )

    async def main() -> Execution:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            execution_id = await engine.start(str(flow))

            async def holding() -> bool:
                return loopback.held("cancel") > 0

            await until("the server to hold the request", holding)
            return await engine.cancel(execution_id)

    execution = asyncio.run(main())
    assert loopback.held("cancel") == 1
    loopback.release("cancel")
    assert execution.status == "cancelled"
    assert execution.node("held").status == "cancelled"


# -- side effects -----------------------------------------------------------------------------


def test_empty_artifacts_and_short_kv_keys_count_against_the_side_effects_cap(
    store_url: str, home: Path, tmp_path: Path, rogue: Path
) -> None:
    """An empty artifact counted 0 bytes and a one-letter key with an empty value 1: an
    attempt could hold any number of them in the engine's memory, each committed as a row
    of its own (here 200 artifacts and 26 keys under a 16 KiB cap)."""
    ref = install(home, rogue, tmp_path)
    empty = {"ops": [["put", "", "", ""]], "n": 200}
    keys = {"ops": [["set", chr(ord("a") + i), ""] for i in range(26)]}
    flow = (
        "name: effects\ndefaults: {on_error: continue, retry: {max_attempts: 1}}\nnodes:\n"
        f"  empty: {{component: '{ref}', task: store, inputs: {json.dumps(empty)}}}\n"
        f"  keys: {{component: '{ref}', task: store, inputs: {json.dumps(keys)}}}\n"
    )
    execution, _, artifacts = run_and_read(
        store_url, home, tmp_path, flow, limits=Limits(side_effects=16 * 1024)
    )
    for name in ("empty", "keys"):
        error = execution.node(name).error
        assert error is not None and error["type"] == "limit_exceeded", (name, error)
        assert "over the side-effects cap of 16384 bytes" in error["message"]
    assert artifacts == []


# -- python steps ------------------------------------------------------------------------------


def test_a_step_calling_a_raw_binding_wrongly_traps_naming_the_runtimes_message(
    home: Path, tmp_path: Path
) -> None:
    """The trap named the last line on stderr, Rust's "note: run with `RUST_BACKTRACE=1`
    environment variable to display a backtrace", not the panic before it."""
    Registry(home / "components").install(built_python_runtime())
    code = "from wit_world.imports import kv\n\ndef main():\n    kv.set(1, 2)\n"
    flow = "name: raw\nnodes:\n  raw:\n    python: |\n" + "".join(
        f"      {line}\n" for line in code.splitlines()
    )
    execution = run_flow(home, tmp_path, flow)
    error = execution.node("raw").error
    assert error is not None and error["type"] == "trap", error
    assert "TypeError(\"'int' object is not an instance of 'str'\")" in error["message"], error
    assert "RUST_BACKTRACE" not in error["message"]
