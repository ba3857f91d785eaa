"""What a component may hand the host, and what the sandbox leaves reachable: real components
built from source (tests/components/hostile, tests/components/legacy) run by the real host.

- every value a guest hands the host has a cap; a log line over it is cut, any other value
  fails the node with an output error naming the cap; the log of one attempt is bounded;
- a trap says why the wasm stopped;
- a component of the original Fuschia interface, built as that project built it (full
  WASI), runs as it is, with nothing reachable and its stdio captured into its bounded log;
- IPv6 `allowed_hosts` patterns allow requests to their hosts;
- a timed-out or refused component leaves no unretrieved exception on stderr.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fuchsia.components import limits
from fuchsia.components.host import Call, Grants, HostSettings, WasmHost
from fuchsia.components.package import digest_of
from fuchsia.errors import OutputError
from integration.test_components import SOURCES, install, node_events, run_flow, services
from support.components import CACHE, built_component
from support.httpserver import LoopbackServer


@pytest.fixture(scope="module")
def compiled_cache() -> Iterator[Path]:
    """The compiled-component cache test_components.py uses (kept across sessions)."""
    path = CACHE / "compiled-cache"
    path.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUCHSIA_CACHE", str(path))
        yield path


@pytest.fixture
def home(tmp_path: Path, compiled_cache: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="module")
def hostile() -> Path:
    return built_component(SOURCES / "hostile").parent


@pytest.fixture(scope="module")
def legacy() -> Path:
    return built_component(SOURCES / "legacy").parent


def run_task(home: Path, tmp: Path, ref: str, task: str, inputs: dict[str, Any]) -> Any:
    return run_flow(
        home,
        tmp,
        f"name: one\nnodes:\n  it: {{component: '{ref}', task: {task}, inputs: {inputs!r}}}\n",
    )


def failure(execution: Any) -> dict[str, Any]:
    assert execution.status == "failed", execution.result
    error = execution.node("it").error
    assert error is not None
    return dict(error)


# -- caps on what a guest hands the host --------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "inputs", "words"),
    [
        ("kv-value", {"size": limits.KV_VALUE + 1}, "a kv value is larger than its cap"),
        ("kv-key", {"size": limits.KV_KEY + 1}, "a kv key is larger than its cap"),
        ("artifact-name", {"size": limits.NAME + 1}, "an artifact name is larger than its cap"),
        (
            "artifact-data",
            {"size": limits.ARTIFACT_DATA + 1},
            "an artifact's content is larger than its cap",
        ),
        ("artifact-data", {"size": 40 * limits.MiB}, "larger than one call may copy"),
        ("http-body", {"size": limits.HTTP_BODY + 1}, "bytes of body; the cap is 2 MiB"),
        ("output", {"size": 5 * limits.MiB}, "the output is larger than its cap"),
        ("http-headers", {"size": 1000, "n": 100}, "bytes of headers; the cap is 64 KiB"),
    ],
)
def test_a_value_over_its_cap_fails_the_node_naming_the_cap(
    home: Path, tmp_path: Path, hostile: Path, task: str, inputs: dict[str, Any], words: str
) -> None:
    ref = install(home, hostile, tmp_path, capabilities={"allowed_hosts": ["http://127.0.0.1"]})
    inputs = {"url": "http://127.0.0.1/never", **inputs}
    error = failure(run_task(home, tmp_path, ref, task, inputs))
    assert error["type"] == "output_error"
    assert words in error["message"]
    assert "cap" in error["message"] or "limit" in error["message"]


def test_a_flood_of_log_lines_keeps_the_first_and_says_how_many_were_dropped(
    home: Path, tmp_path: Path, hostile: Path
) -> None:
    ref = install(home, hostile, tmp_path)
    lines = limits.LOG_LINES + 500
    execution = run_task(home, tmp_path, ref, "log-lines", {"n": lines})
    assert execution.status == "completed", execution.error
    logs = node_events(home, execution.id, "log")
    assert len(logs) == limits.LOG_LINES + 1
    assert all(line["message"] == "y" * 10 for line in logs[:-1])
    assert logs[-1]["message"].startswith("500 log lines dropped")
    assert logs[-1]["fields"]["dropped"] == 500


def test_log_bytes_per_attempt_are_capped_too(home: Path, tmp_path: Path, hostile: Path) -> None:
    ref = install(home, hostile, tmp_path)
    size = limits.LOG_LINE  # each line just fits; the attempt's byte budget runs out first
    lines = limits.LOG_BYTES // size + 10
    execution = run_task(home, tmp_path, ref, "log-lines", {"n": lines, "size": size})
    assert execution.status == "completed", execution.error
    logs = node_events(home, execution.id, "log")
    assert sum(len(line["message"]) for line in logs[:-1]) <= limits.LOG_BYTES
    # the sandbox's own note, or the stricter per-attempt cap the engine stores logs under
    assert re.search(r"log lines dropped|line\(s\) .* dropped", logs[-1]["message"])


def test_a_huge_log_line_is_cut_with_a_marker(home: Path, tmp_path: Path, hostile: Path) -> None:
    ref = install(home, hostile, tmp_path)
    execution = run_task(home, tmp_path, ref, "log-huge", {"size": 20 * limits.MiB})
    assert execution.status == "completed", execution.error
    [line] = node_events(home, execution.id, "log")
    # cut where the guest handed it over (never copied whole), then held to the engine's
    # stored line cap, which counts the whole record: a long run of the line and a marker
    assert line["message"].startswith("z" * (limits.LOG_LINE // 2))
    assert "z" * (limits.LOG_LINE + 1) not in line["message"]
    assert re.search(r"cut", line["message"][-200:])


def test_a_trigger_payload_over_the_output_cap_is_refused(compiled_cache: Path) -> None:
    wasm = (built_component(SOURCES / "ticker")).read_bytes()
    host = WasmHost(HostSettings(cache_dir=compiled_cache / "compiled"))
    try:
        loaded = host.load(digest_of(wasm), lambda: wasm)
        call = Call("", "w", "trigger", "gate", 1, "", timeout=60)
        order = {"ship": True, "order": 7, "pad": 5 * limits.MiB}
        request = {"method": "POST", "url": "/", "headers": [], "body": json.dumps(order).encode()}
        with pytest.raises(OutputError, match="the trigger's payload is larger than its cap"):
            host.run_trigger(loaded, Grants(), call, services(), request)
        order["pad"] = 10
        request["body"] = json.dumps(order).encode()
        ready = host.run_trigger(loaded, Grants(), call, services(), request)
        assert ready == {"order": 7, "method": "POST", "pad": "p" * 10}
    finally:
        host.close()


# -- traps ------------------------------------------------------------------------------------


def test_a_trap_says_why_the_wasm_stopped(home: Path, tmp_path: Path, hostile: Path) -> None:
    ref = install(home, hostile, tmp_path)
    error = failure(run_task(home, tmp_path, ref, "overflow", {}))
    assert error["type"] == "trap"
    assert "call stack exhausted" in error["message"]
    assert "backtrace" not in error["message"]


# -- the original Fuschia interface -------------------------------------------------------------


def test_an_original_interface_component_built_with_full_wasi_reaches_nothing(
    home: Path, tmp_path: Path, legacy: Path, loopback: LoopbackServer
) -> None:
    imports = (legacy / "component.wasm").read_bytes()
    assert b"wasi:sockets/tcp" in imports and b"wasi:cli/environment" in imports
    secret = tmp_path / "secret.txt"
    secret.write_text("not for components")
    calls_before = loopback.counts("/")
    ref = install(home, legacy, tmp_path)
    inputs = {"port": loopback.port, "path": str(secret)}
    execution = run_task(home, tmp_path, ref, "probe", inputs)
    assert execution.status == "completed", execution.error
    result = execution.node("it").output
    assert result["connect"] != "allowed"
    assert result["read"] != "allowed"
    assert result["environment"] == []
    assert loopback.counts("/") == calls_before
    logs = [(line["level"], line["message"]) for line in node_events(home, execution.id, "log")]
    assert ("info", "hello on stdout") in logs
    assert ("warn", "hello on stderr") in logs


def test_an_original_interface_component_printing_without_end_is_bounded(
    home: Path, tmp_path: Path, legacy: Path
) -> None:
    ref = install(home, legacy, tmp_path)
    execution = run_task(home, tmp_path, ref, "probe", {"lines": limits.LOG_LINES + 100})
    assert execution.status == "completed", execution.error
    logs = node_events(home, execution.id, "log")
    assert len(logs) == limits.LOG_LINES + 1
    assert "log lines dropped" in logs[-1]["message"]


# -- IPv6 allowed_hosts -------------------------------------------------------------------------


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


class _Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def ipv6_server() -> Iterator[int]:
    if not _ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    running = _Server6(("::1", 0), _Answer)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    try:
        yield running.server_address[1]
    finally:
        running.shutdown()
        running.server_close()
        thread.join()


@pytest.mark.parametrize("pattern", ["http://[::1]:{port}", "http://[0::1]:{port}"])
def test_an_ipv6_allowed_host_reaches_its_server(
    home: Path, tmp_path: Path, hostile: Path, ipv6_server: int, pattern: str
) -> None:
    allowed = pattern.format(port=ipv6_server)
    ref = install(home, hostile, tmp_path, capabilities={"allowed_hosts": [allowed]})
    url = f"http://[::1]:{ipv6_server}/"
    execution = run_task(home, tmp_path, ref, "http-body", {"url": url, "size": 10})
    assert execution.status == "completed", execution.error
    assert execution.node("it").output == {"status": 204}


# -- no unretrieved exceptions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "node", "status"),
    [
        ("hostile", "{component: '{ref}', task: spin, timeout: 300ms}", "timed_out"),
        ("networked", "{component: '{ref}', task: ping}", "failed"),
    ],
)
def test_a_timed_out_or_refused_component_leaves_stderr_clean(
    home: Path, tmp_path: Path, source: str, node: str, status: str
) -> None:
    ref = install(home, built_component(SOURCES / source).parent, tmp_path)
    flow = tmp_path / "flow.yaml"
    flow.write_text(f"name: quiet\nnodes:\n  it: {node.replace('{ref}', ref)}\n")
    env = {k: v for k, v in os.environ.items() if k != "FUCHSIA_HOME"}
    env["FUCHSIA_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-m", "fuchsia", "run", str(flow), "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert f'"{status}"' in done.stdout, done.stdout + done.stderr
    assert "never retrieved" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_an_original_interface_component_builds_against_the_world_its_wit_declares(
    home: Path, tmp_path: Path
) -> None:
    """The original project named its worlds as it liked: the build uses the one declared."""
    source = tmp_path / "renamed"
    shutil.copytree(SOURCES / "legacy", source)
    wit = source / "wit" / "task.wit"
    wit.write_text(wit.read_text().replace("world task-component", "world original-task"))
    ref = install(home, built_component(source).parent, tmp_path)
    execution = run_task(home, tmp_path, ref, "double", {"n": 4})
    assert execution.status == "completed", execution.error
    assert execution.node("it").output["doubled"] == 8
