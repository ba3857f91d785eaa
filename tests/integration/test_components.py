"""Component nodes end to end: real components built from source, run by the real host.

Components are built once per source change (tests/support/components.py) and compiled once
per session into a shared cache (FUCHSIA_CACHE), so each test only installs and runs them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import generate_latest

from fuchsia import Engine, Execution
from fuchsia.components.host import Call, Grants, HostSettings, Loaded, WasmHost, verify_exports
from fuchsia.components.imports import ArtifactInfo, Services
from fuchsia.components.package import digest_of
from fuchsia.components.registry import Registry
from fuchsia.errors import Cancelled, ComponentLoadError, ComponentNotFound, FuchsiaError
from fuchsia.nodes.component import ComponentRuntime, ComponentSettings
from fuchsia.observe import metrics
from fuchsia.server.schedule import Scheduler
from support.components import CACHE, built_component
from support.httpserver import LoopbackServer
from support.prometheus import sample
from support.server import Served

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "tests" / "components"


@pytest.fixture(scope="module")
def compiled_cache() -> Iterator[Path]:
    """One compiled-component cache for the whole module (and later sessions)."""
    path = CACHE / "compiled-cache"
    path.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUCHSIA_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def edge_build() -> Path:
    return built_component(SOURCES / "edge").parent


@pytest.fixture
def home(tmp_path: Path, compiled_cache: Path) -> Path:
    return tmp_path / "home"


def install(home: Path, build: Path, tmp: Path, **manifest_changes: Any) -> str:
    """Install a built component, with manifest fields changed for this test."""
    directory = tmp / f"src-{build.name}-{len(list(tmp.glob('src-*')))}"
    shutil.copytree(build, directory)
    manifest_path = directory / "component.yaml"
    manifest = yaml.safe_load(manifest_path.read_text())
    for key, value in manifest_changes.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key] = {**manifest[key], **value}
        else:
            manifest[key] = value
    manifest_path.write_text(yaml.safe_dump(manifest))
    return Registry(home / "components").install(directory).ref


def run_flow(home: Path, tmp: Path, text: str, payload: Any = None) -> Execution:
    flow = tmp / "flow.yaml"
    flow.write_text(text)

    async def main() -> Execution:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            return await engine.run(str(flow), payload)

    return asyncio.run(main())


def node_events(home: Path, execution_id: str, kind: str) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            return [e.data or {} for e in await engine.events(execution_id) if e.type == kind]

    return asyncio.run(main())


def test_kv_is_shared_within_an_execution_and_isolated_between_executions(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    flow = f"""
name: counting
nodes:
  first: {{component: "{ref}", task: counter}}
  second: {{after: first, component: "{ref}", task: counter}}
"""
    one = run_flow(home, tmp_path, flow)
    two = run_flow(home, tmp_path, flow)
    assert one.status == two.status == "completed", one.error
    assert one.node("first").output["count"] == 1
    assert one.result["count"] == 2
    assert two.node("first").output["count"] == 1  # a new execution starts with empty kv
    assert two.result["execution"] == two.id


def test_config_merges_manifest_defaults_under_node_config(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: configured
nodes:
  read:
    component: "{ref}"
    task: settings
    config: {{level: 3, greeting: "{{{{ who }}}}"}}
""",
        {"who": "hi there"},
    )
    assert execution.status == "completed", execution.error
    assert execution.result == {
        "all": {"greeting": "hi there", "level": 3},
        "greeting": "hi there",
        "missing": None,
    }


def test_component_logs_are_recorded_with_the_node(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: logging
nodes:
  talk: {{component: "{ref}", task: chatty}}
""",
    )
    assert execution.status == "completed", execution.error
    logs = node_events(home, execution.id, "log")
    assert [(line["level"], line["message"]) for line in logs] == [
        ("info", "hello from the component"),
        ("warn", "careful"),
    ]
    assert logs[0]["fields"] == {"n": 1}
    assert logs[0]["attempt"] == 1


def test_artifacts_are_stored_with_their_content_type_and_referenced_in_the_output(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: reporting
nodes:
  make: {{component: "{ref}", task: report, inputs: {{text: "x,y\\n3,4\\n"}}}}
""",
    )
    assert execution.status == "completed", execution.error
    assert execution.result["read_back"] == "x,y\n3,4\n"
    [artifact] = execution.result["artifacts"]
    assert artifact["name"] == "report.csv"
    assert artifact["content_type"] == "text/csv"
    assert artifact["hash"] == digest_of(b"x,y\n3,4\n")

    async def stored() -> tuple[list[Any], bytes]:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            refs = await engine.store.list_artifacts(execution.id)
            return refs, await engine.store.get_blob(refs[0].hash)

    refs, blob = asyncio.run(stored())
    assert [(r.name, r.content_type, r.size) for r in refs] == [("report.csv", "text/csv", 8)]
    assert blob == b"x,y\n3,4\n"


def test_http_import_allows_listed_hosts_and_denies_others_with_the_pattern_to_add(
    home: Path, tmp_path: Path, edge_build: Path, loopback: LoopbackServer
) -> None:
    ref = install(
        home,
        edge_build,
        tmp_path,
        capabilities={"allowed_hosts": [f"http://127.0.0.1:{loopback.port}"]},
    )
    other = loopback.port + 1 if loopback.port < 65535 else loopback.port - 1
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: fetching
nodes:
  allowed: {{component: "{ref}", task: fetch, inputs: {{url: "{loopback.url("/ok/comp")}"}}}}
  denied: {{component: "{ref}", task: fetch, inputs: {{url: "http://127.0.0.1:{other}/x"}}}}
  slow:
    component: "{ref}"
    task: fetch
    inputs: {{url: "{loopback.url("/slow?seconds=3")}", timeout_ms: 200}}
""",
    )
    assert execution.status == "completed", execution.error
    allowed = execution.node("allowed").output
    assert allowed["status"] == 200 and '"name": "comp"' in allowed["body"]
    denied = execution.node("denied").output
    assert denied["error"] == "HttpError_Denied"
    assert f"http://127.0.0.1:{other}" in denied["message"]
    assert "allowed_hosts" in denied["message"]
    assert execution.node("slow").output["error"] == "HttpError_Timeout"
    requests = [
        line
        for line in node_events(home, execution.id, "log")
        if line["message"].startswith("http")
    ]
    assert {line["message"] for line in requests} == {"http request", "http denied", "http timeout"}


def test_an_infinite_loop_is_stopped_by_the_node_timeout_and_recorded_as_timed_out(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: spinning
nodes:
  spin: {{component: "{ref}", task: spin, timeout: 300ms}}
  after_spin: {{after: spin, transform: {{never: true}}}}
""",
    )
    assert execution.status == "failed"
    assert execution.node("spin").status == "timed_out"
    assert execution.node("after_spin").status == "cancelled"


def test_a_memory_hog_is_stopped_by_the_memory_limit(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path, capabilities={"memory_limit": "64MiB"})
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: hogging
nodes:
  hog: {{component: "{ref}", task: hog}}
""",
    )
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["type"] == "memory_limit"


@pytest.mark.parametrize(
    ("task", "kind", "words"),
    [
        ("trap", "trap", "trapped: wasm trap: wasm `unreachable` instruction executed"),
        ("not-json", "output_error", "not JSON"),
        ("huge", "output_error", "the cap is"),
        ("refuse", "task_error", "can never work"),
    ],
)
def test_a_misbehaving_component_fails_its_node_with_a_typed_error_and_the_engine_goes_on(
    home: Path, tmp_path: Path, edge_build: Path, task: str, kind: str, words: str
) -> None:
    ref = install(home, edge_build, tmp_path)
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: misbehaving
nodes:
  bad: {{component: "{ref}", task: {task}, on_error: continue}}
  next: {{component: "{ref}", task: echo, inputs: {{name: fine}}}}
""",
    )
    assert execution.status == "completed_with_errors"
    error = execution.node("bad").error
    assert error is not None
    assert error["type"] == kind
    assert words in error["message"]
    assert execution.node("next").output["input"] == {"name": "fine"}


def test_retryable_task_errors_are_retried_and_permanent_ones_are_not(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: retrying
defaults:
  retry: {{max_attempts: 3, initial_delay: 10ms}}
nodes:
  flaky: {{component: "{ref}", task: flaky, inputs: {{succeed_on: 2}}}}
  refuse: {{component: "{ref}", task: refuse, on_error: continue}}
""",
    )
    assert execution.node("flaky").output == {"attempt": 2}
    assert [a.status for a in execution.node("flaky").attempts] == ["failed", "succeeded"]
    assert len(execution.node("refuse").attempts) == 1


def test_inputs_are_checked_against_the_task_schema_before_the_call(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: typed
nodes:
  echo: {{component: "{ref}", task: echo, inputs: {{name: "{{{{ n }}}}"}}}}
""",
        {"n": 5},
    )
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["type"] == "input_error"
    assert "input.name: 5 is not of type 'string'" in execution.error["message"]


def test_a_tampered_wasm_is_refused_naming_both_digests(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    installed = Registry(home / "components").resolve(ref)
    good = installed.digest
    data = bytearray(installed.wasm_path.read_bytes())
    data[-1] ^= 0xFF
    installed.wasm_path.write_bytes(bytes(data))
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: tampered
nodes:
  echo: {{component: "{ref}", task: echo}}
""",
    )
    assert execution.status == "failed"
    assert execution.error is not None
    assert good in execution.error["message"]
    assert digest_of(bytes(data)) in execution.error["message"]


def test_a_component_removed_or_reinstalled_after_its_first_call_is_noticed(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    registry = Registry(home / "components")
    runtime = ComponentRuntime(ComponentSettings(registry, tmp_path / "cache"))
    try:
        first = runtime.installed(ref)
        assert runtime.installed(ref) is first  # remembered, not read again
        name, version = ref.split("@")
        registry.remove(name, version)
        with pytest.raises(ComponentNotFound):
            runtime.installed(ref)
        install(home, edge_build, tmp_path, description="reinstalled")
        assert runtime.installed(ref).manifest.description == "reinstalled"
    finally:
        runtime.close()


def test_two_component_nodes_run_at_the_same_time_on_two_threads(
    home: Path, tmp_path: Path, edge_build: Path, loopback: LoopbackServer
) -> None:
    ref = install(
        home,
        edge_build,
        tmp_path,
        capabilities={"allowed_hosts": [f"http://127.0.0.1:{loopback.port}"]},
    )
    # the barrier answers only once both requests are in flight at once
    url = loopback.url("/barrier/two-nodes?n=2")
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: parallel
nodes:
  left: {{component: "{ref}", task: fetch, inputs: {{url: "{url}", timeout_ms: 20000}}}}
  right: {{component: "{ref}", task: fetch, inputs: {{url: "{url}", timeout_ms: 20000}}}}
""",
    )
    assert execution.status == "completed", execution.error
    assert execution.result["left"]["status"] == 200
    assert execution.result["right"]["status"] == 200


def test_a_component_built_against_the_original_fuschia_interface_runs(
    home: Path, tmp_path: Path
) -> None:
    build = built_component(SOURCES / "legacy").parent
    ref = install(home, build, tmp_path)
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: old
nodes:
  double: {{component: "{ref}", task: double, inputs: {{n: 21}}}}
""",
    )
    assert execution.status == "completed", execution.error
    assert execution.result == {"legacy": True, "node": "double", "task": "double", "doubled": 42}


def test_a_component_importing_network_sockets_is_refused_before_it_runs(
    home: Path, tmp_path: Path
) -> None:
    build = built_component(SOURCES / "networked").parent
    ref = install(home, build, tmp_path)
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: sockets
nodes:
  net: {{component: "{ref}", task: ping}}
""",
    )
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["type"] == "capability_denied"
    assert "wasi:sockets/" in execution.error["message"]
    assert "capabilities.allowed_hosts" in execution.error["message"]
    assert len(execution.node("net").attempts) == 1


# -- the host itself ---------------------------------------------------------------------------


def services() -> Services:
    def put(name: str, content_type: str, data: bytes) -> ArtifactInfo:
        return ArtifactInfo("a", name, content_type, len(data), digest_of(data))

    store: dict[str, str] = {}

    def delete(key: str) -> None:
        store.pop(key, None)

    return Services(
        kv_get=store.get,
        kv_set=store.__setitem__,
        kv_delete=delete,
        put_artifact=put,
        get_artifact=lambda _: b"",
    )


@pytest.fixture
def edge_host(edge_build: Path, compiled_cache: Path) -> Iterator[tuple[WasmHost, Loaded]]:
    """A host of its own with the edge component loaded."""
    host = WasmHost(HostSettings(cache_dir=compiled_cache / "compiled"))
    try:
        wasm = (edge_build / "component.wasm").read_bytes()
        yield host, host.load(digest_of(wasm), lambda: wasm)
    finally:
        host.close()


def test_cancellation_stops_a_running_component(edge_host: tuple[WasmHost, Loaded]) -> None:
    host, loaded = edge_host
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(Cancelled, match="cancelled"):
        host.run_task(
            loaded, Grants(), Call("e", "w", "n", "spin", 1, "{}", cancelled=cancel), services()
        )


def test_stores_dropped_behind_the_attempts_give_their_slots_back(
    edge_build: Path, compiled_cache: Path
) -> None:
    """A pool of four instances (one of them for a store dropped behind its attempt) serves
    any number of attempts one after another, whose stores the reaper drops, and three at a
    time."""
    host = WasmHost(HostSettings(cache_dir=compiled_cache / "compiled", instances=4))
    try:
        wasm = (edge_build / "component.wasm").read_bytes()
        loaded = host.load(digest_of(wasm), lambda: wasm)

        def echo(n: int) -> Any:
            call = Call("e", "w", "n", "echo", 1, json.dumps({"name": str(n)}))
            return host.run_task(loaded, Grants(), call, services()).data

        outputs = [echo(n) for n in range(12)]
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            outputs += list(pool.map(echo, range(12, 24)))
        assert [o["input"]["name"] for o in outputs] == [str(n) for n in range(24)]
    finally:
        host.close()


@pytest.mark.parametrize(
    ("wasm", "words"),
    [
        (b"this is not wasm at all", "not WebAssembly"),
        (b"\x00asm\x01\x00\x00\x00", "core WebAssembly module"),
        (b"\x00asm\x0d\x00\x01\x00\xff\xff", "not a loadable component"),
    ],
)
def test_bad_bytes_are_refused_with_a_clear_load_error(
    compiled_cache: Path, tmp_path: Path, wasm: bytes, words: str
) -> None:
    host = WasmHost(HostSettings(cache_dir=tmp_path))
    try:
        with pytest.raises(ComponentLoadError, match=words):
            host.load(digest_of(wasm), lambda: wasm)
    finally:
        host.close()


def test_a_component_of_the_wrong_world_is_refused(edge_host: tuple[WasmHost, Loaded]) -> None:
    _host, loaded = edge_host
    verify_exports(loaded, "task-component")
    with pytest.raises(ComponentLoadError, match="must export fuchsia:platform/trigger"):
        verify_exports(loaded, "trigger-component")


def test_a_compiled_component_is_cached_for_the_next_process(
    edge_build: Path, tmp_path: Path
) -> None:
    wasm = edge_build / "component.wasm"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from fuchsia.components.host import HostSettings, WasmHost\n"
        "from fuchsia.components.package import digest_of\n"
        "data = Path(sys.argv[1]).read_bytes()\n"
        "host = WasmHost(HostSettings(cache_dir=Path(sys.argv[2])))\n"
        "print(host.load(digest_of(data), lambda: data).exports)\n"
        "print(host.cache_path(digest_of(data)).exists())\n"
        "host.close()\n"
    )
    cache = tmp_path / "compiled"
    first = subprocess.run(
        [sys.executable, "-c", script, str(wasm), str(cache)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert first.stdout.splitlines()[-1] == "True"
    entries = list(cache.iterdir())
    stamp = entries[0].stat().st_mtime_ns
    second = subprocess.run(
        [sys.executable, "-c", script, str(wasm), str(cache)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert second.stdout == first.stdout
    assert [e.stat().st_mtime_ns for e in cache.iterdir()] == [stamp]  # loaded, not rewritten


def test_cancelling_an_execution_stops_its_running_component(
    home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    flow = tmp_path / "spin.yaml"
    flow.write_text(
        f"name: spin\nnodes:\n  spin: {{component: '{ref}', task: spin, timeout: 60s}}\n"
    )

    async def main() -> Execution:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            execution_id = await engine.start(str(flow))
            while (await engine.get(execution_id)).node("spin").status != "running":
                await asyncio.sleep(0.02)
            return await engine.cancel(execution_id)

    execution = asyncio.run(main())
    assert execution.status == "cancelled"
    assert execution.node("spin").status == "cancelled"


def test_allowed_paths_and_inert_sockets_for_a_full_wasi_component(
    home: Path, tmp_path: Path, loopback: LoopbackServer
) -> None:
    granted = tmp_path / "granted"
    granted.mkdir()
    (granted / "notes.txt").write_text("hello from the host")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for components")
    build = built_component(SOURCES / "networked").parent
    ref = install(
        home, build, tmp_path, capabilities={"allowed_paths": [str(granted)], "sockets": True}
    )
    calls_before = loopback.counts("/")
    execution = run_flow(
        home,
        tmp_path,
        f"""
name: sandboxed
nodes:
  read: {{component: "{ref}", task: read, inputs: {{path: "{granted / "notes.txt"}"}}}}
  write: {{component: "{ref}", task: write, inputs: {{path: "{granted / "new.txt"}"}}}}
  outside: {{component: "{ref}", task: outside, inputs: {{path: "{secret}"}}}}
  connect: {{component: "{ref}", task: connect, inputs: {{port: {loopback.port}}}}}
  environment: {{component: "{ref}", task: environment}}
""",
    )
    assert execution.status == "completed", execution.error
    assert execution.result["read"] == {"text": "hello from the host"}
    assert execution.result["write"]["write"] != "allowed"  # read-only unless writable
    assert not (granted / "new.txt").exists()
    assert execution.result["outside"]["read"] != "allowed"
    assert execution.result["connect"]["connect"] != "allowed"
    assert execution.result["environment"] == {"variables": []}
    assert loopback.counts("/") == calls_before  # the connection never reached the server


def fed_by_ticker(home: Path, tmp_path: Path) -> Path:
    """A workflow `fed` polled by the ticker component's `next-item` trigger (items 1..3)."""
    ref = install(home, built_component(SOURCES / "ticker").parent, tmp_path)
    flow = tmp_path / "fed.yaml"
    flow.write_text(f"""
name: fed
trigger:
  type: poll
  poll: {{every: 1s, component: "{ref}", trigger: next-item}}
nodes:
  take: {{transform: {{got: "{{{{ item }}}}"}}}}
""")
    return flow


def test_a_poll_component_trigger_deduplicates_with_its_kv_across_restarts(
    home: Path, tmp_path: Path
) -> None:
    flow = fed_by_ticker(home, tmp_path)

    async def rounds(offsets: list[float], deploy: bool) -> tuple[list[int], list[Any]]:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            if deploy:
                await engine.deploy(flow)
            deployment = await engine.deployment("fed")
            origin = int(deployment.deployed_at) + 1
            scheduler = Scheduler(engine)
            scheduler.started = origin
            counts = [await scheduler.fire_due(now=origin + o) for o in offsets]
            records = await engine.list(limit=100)
            results = [(await engine.wait(r.id)).result for r in records]
            return counts, results

    _, results = asyncio.run(rounds([1.5], deploy=True))  # two polls: items 1 and 2
    assert sorted(r["got"] for r in results) == [1, 2]
    # a "restarted server": three more polls, one item left, then nothing
    _, results = asyncio.run(rounds([1.5, 4.5], deploy=False))
    assert sorted(r["got"] for r in results) == [1, 2, 3]  # each item exactly once


def test_a_trigger_cursor_moves_in_the_transaction_that_starts_its_execution(
    home: Path, tmp_path: Path
) -> None:
    """Neither lost nor repeated: the kv writes of a ready answer are committed with the
    execution it starts, and dropped when the idempotency key already names one (a server
    that died after starting but before recording the fire asks again)."""
    flow = fed_by_ticker(home, tmp_path)
    scope = "trigger:fed:next-item"

    async def main() -> None:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            locked = await engine.lock(flow)
            spec = locked.document["trigger"]["poll"]["component"]
            answer = await engine.poll_trigger(locked, spec)
            assert answer.payload == {"item": 1}
            assert await engine.store.kv_get(scope, "last") is None  # not stored yet
            first = await engine.start_triggered(locked, answer, "poll:fed:t1")
            assert await engine.store.kv_get(scope, "last") == "1"
            again = await engine.poll_trigger(locked, spec)  # offers item 2 ...
            assert again.payload == {"item": 2}
            # ... for an instant that already started an execution: nothing moves
            assert await engine.start_triggered(locked, again, "poll:fed:t1") == first
            assert await engine.store.kv_get(scope, "last") == "1"
            for item, instant in ((2, "t2"), (3, "t3")):
                answer = await engine.poll_trigger(locked, spec)
                assert answer.payload == {"item": item}
                assert await engine.start_triggered(locked, answer, f"poll:fed:{instant}")
            pending = await engine.poll_trigger(locked, spec)
            assert pending.payload is None
            assert await engine.start_triggered(locked, pending, "poll:fed:t4") is None
            results = [(await engine.wait(r.id)).result for r in await engine.list()]
            assert sorted(r["got"] for r in results) == [1, 2, 3]

    asyncio.run(main())


def test_a_trigger_components_instantiation_and_call_are_timed(home: Path, tmp_path: Path) -> None:
    flow = fed_by_ticker(home, tmp_path)
    registry = metrics.enable()
    try:

        async def main() -> None:
            async with await Engine.open(str(home / "f.db"), home=home) as engine:
                locked = await engine.lock(flow)
                spec = locked.document["trigger"]["poll"]["component"]
                assert (await engine.poll_trigger(locked, spec)).payload == {"item": 1}

        asyncio.run(main())
        text = generate_latest(registry).decode()
    finally:
        metrics.disable()
    for name in ("fuchsia_component_instantiate_seconds", "fuchsia_component_call_seconds"):
        assert sample(text, f"{name}_count", workflow="fed", task="next-item") == 1, name


def test_a_webhook_component_trigger_decides_what_starts(home: Path, tmp_path: Path) -> None:
    build = built_component(SOURCES / "ticker").parent
    ref = install(home, build, tmp_path)
    flow = tmp_path / "gated.yaml"
    flow.write_text(f"""
name: gated
trigger:
  type: webhook
  webhook: {{path: /gate, secret: s3cret, scheme: github, component: "{ref}", trigger: gate}}
nodes:
  ship: {{transform: {{order: "{{{{ order }}}}", via: "{{{{ method }}}}"}}}}
""")

    async def deploy() -> None:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            await engine.deploy(flow)

    asyncio.run(deploy())
    served = Served(tmp_path, db=str(home / "f.db"), home=home, schedule=False)
    with served:
        responses = []
        for order in ({"order": 1, "ship": False}, {"order": 2, "ship": True}):
            body = json.dumps(order).encode()
            signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
            responses.append(
                httpx.post(
                    f"{served.url}/hooks/gate",
                    content=body,
                    timeout=60,
                    headers={
                        "X-Hub-Signature-256": signature,
                        "X-GitHub-Delivery": f"d{order['order']}",
                    },
                )
            )
    assert responses[0].status_code == 200 and responses[0].json() == {"status": "pending"}
    assert responses[1].status_code == 202

    async def started() -> list[Any]:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            return [(await engine.wait(r.id)).result for r in await engine.list()]

    assert asyncio.run(started()) == [{"order": 2, "via": "POST"}]


def test_megabytes_of_bytes_cross_the_boundary_intact_both_ways(
    edge_host: tuple[WasmHost, Loaded],
) -> None:
    """`list<u8>` values are converted in bulk: what the component writes is what the host
    stores, and what the host returns is what the component reads, byte for byte."""
    text = "".join(chr(c) for c in range(32, 0x180)) * 1_700  # 1 MB once encoded
    stored: dict[str, bytes] = {}

    def put(name: str, content_type: str, data: bytes) -> ArtifactInfo:
        stored[name] = data
        return ArtifactInfo("a1", name, content_type, len(data), digest_of(data))

    host, loaded = edge_host
    attempt = services()
    attempt.put_artifact = put
    attempt.get_artifact = lambda _: stored["report.csv"]
    output = host.run_task(
        loaded, Grants(), Call("e", "w", "n", "report", 1, json.dumps({"text": text})), attempt
    )
    assert stored["report.csv"] == text.encode()
    assert output.data == {"read_back": text}
    [artifact] = output.artifacts
    assert (artifact.size, artifact.hash) == (len(text.encode()), digest_of(text.encode()))


def test_an_exception_in_a_host_import_surfaces_as_itself(
    edge_host: tuple[WasmHost, Loaded],
) -> None:
    """A failing service behind an import (the store, say) stops the attempt with that
    failure, not with a generic trap, and the host keeps working for the next attempt."""

    class Unavailable(Exception):
        pass

    def unavailable(_key: str) -> str | None:
        raise Unavailable("the kv store is unavailable")

    host, loaded = edge_host
    broken = services()
    broken.kv_get = unavailable
    with pytest.raises(Unavailable, match="unavailable"):
        host.run_task(loaded, Grants(), Call("e", "w", "n", "counter", 1, "{}"), broken)
    output = host.run_task(loaded, Grants(), Call("e", "w", "n", "counter", 1, "{}"), services())
    assert output.data["count"] == 1


# -- an attempt's kv writes and artifacts commit with its success ----------------------------

SCRIBBLE = """
name: scribbling
nodes:
  write:
    component: "{ref}"
    task: scribble
    timeout: {timeout}
    retry: {{max_attempts: 2, initial_delay: 10ms}}
    inputs: {inputs}
"""


def run_and_read(
    store_url: str, home: Path, tmp: Path, text: str, limits: Any = None
) -> tuple[Execution, dict[str, str | None], list[Any]]:
    """Run a flow on `store_url`: its execution, its kv (the keys the test tasks write) and
    its artifacts, as stored."""
    flow = tmp / "flow.yaml"
    flow.write_text(text)
    keys = ["attempts", "attempt-1", "attempt-2", "scratch", "k0"]

    async def main() -> tuple[Execution, dict[str, str | None], list[Any]]:
        async with await Engine.open(store_url, home=home, limits=limits) as engine:
            execution = await engine.run(str(flow))
            scope = f"execution:{execution.id}"
            kv = {key: await engine.store.kv_get(scope, key) for key in keys}
            return execution, kv, await engine.store.list_artifacts(execution.id)

    return asyncio.run(main())


def blob_exists(store_url: str, home: Path, data: bytes) -> bool:
    async def main() -> bool:
        async with await Engine.open(store_url, home=home) as engine:
            try:
                await engine.store.get_blob(digest_of(data))
            except FuchsiaError:
                return False
            return True

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("inputs", "timeout", "first"),
    [("{succeed_on: 2}", "60s", "failed"), ("{spin_on: 1}", "5s", "timed_out")],
)
def test_a_failed_attempts_kv_and_artifacts_are_not_kept(
    store_url: str,
    home: Path,
    tmp_path: Path,
    edge_build: Path,
    inputs: str,
    timeout: str,
    first: str,
) -> None:
    """Attempt 1 writes kv and an artifact, reads them back, and fails (or times out):
    nothing of it is stored, so attempt 2 starts from the stored state; its writes, which
    it also reads back before they are stored, are kept with its success."""
    ref = install(home, edge_build, tmp_path)
    execution, kv, artifacts = run_and_read(
        store_url, home, tmp_path, SCRIBBLE.format(ref=ref, inputs=inputs, timeout=timeout)
    )
    assert execution.status == "completed", execution.error
    assert [a.status for a in execution.node("write").attempts] == [first, "succeeded"]
    assert execution.result["seen"] is None  # attempt 1's kv write is not there
    # its own writes, not stored yet: a set, a set then deleted, an artifact
    assert execution.result["read"] == {"kv": "2", "scratch": None, "artifact": "2"}
    assert kv == {"attempts": "2", "attempt-2": "written"} | dict.fromkeys(
        ["attempt-1", "scratch", "k0"]
    )
    assert [(a.name, a.size) for a in artifacts] == [("attempt-2.txt", 1)]
    [returned] = execution.result["artifacts"]
    assert returned["id"] == artifacts[0].id and returned["hash"] == digest_of(b"2")
    assert blob_exists(store_url, home, b"2")
    assert blob_exists(store_url, home, b"1")  # attempt 1 got as far as its artifact


def test_an_attempt_that_never_succeeds_leaves_no_kv_and_no_artifact(
    store_url: str, home: Path, tmp_path: Path, edge_build: Path
) -> None:
    ref = install(home, edge_build, tmp_path)
    execution, kv, artifacts = run_and_read(
        store_url, home, tmp_path, SCRIBBLE.format(ref=ref, inputs="{succeed_on: 9}", timeout="60s")
    )
    assert execution.status == "failed"
    assert [a.status for a in execution.node("write").attempts] == ["failed", "failed"]
    assert set(kv.values()) == {None}
    assert artifacts == []


def test_an_attempt_interrupted_by_a_closing_engine_leaves_nothing_and_reruns_from_the_store(
    store_url: str, home: Path, tmp_path: Path, edge_build: Path
) -> None:
    """Attempt 1 has written kv and an artifact when its engine closes: it is recorded
    interrupted with nothing of it stored, and the engine that resumes the execution runs
    it again from the stored state."""
    ref = install(home, edge_build, tmp_path)
    flow = tmp_path / "flow.yaml"
    flow.write_text(SCRIBBLE.format(ref=ref, inputs="{spin_on: 1, succeed_on: 1}", timeout="60s"))

    async def interrupt() -> tuple[str, list[Any], str | None]:
        async with await Engine.open(store_url, home=home) as engine:
            execution_id = await engine.start(str(flow))
            async with asyncio.timeout(60):  # attempt 1 has stored its artifact's blob
                while True:
                    try:
                        await engine.store.get_blob(digest_of(b"1"))
                        break
                    except FuchsiaError:
                        await asyncio.sleep(0.02)
        async with await Engine.open(store_url, home=home) as engine:
            kv = await engine.store.kv_get(f"execution:{execution_id}", "attempts")
            return execution_id, await engine.store.list_artifacts(execution_id), kv

    execution_id, artifacts, attempts = asyncio.run(interrupt())
    assert artifacts == [] and attempts is None

    async def resume() -> Execution:
        async with await Engine.open(store_url, home=home) as engine:
            assert await engine.resume([execution_id]) == [execution_id]
            return await engine.wait(execution_id)

    execution = asyncio.run(resume())
    assert execution.status == "completed", execution.error
    assert [a.status for a in execution.node("write").attempts] == ["interrupted", "succeeded"]
    assert execution.result["seen"] is None


@pytest.mark.parametrize("what", ["kv", "artifact"])
def test_kv_writes_and_artifacts_over_the_side_effects_cap_fail_the_attempt(
    store_url: str, home: Path, tmp_path: Path, edge_build: Path, what: str
) -> None:
    """An attempt's kv writes and artifacts count against `limits.side_effects`; the write
    over it fails the attempt with `limit_exceeded`, even when the component goes on after
    a refused artifact, and none of its writes is stored."""
    from fuchsia.runtime.limits import Limits

    ref = install(home, edge_build, tmp_path)
    size = 64 * 1024
    inputs = f"kv: {size}" if what == "kv" else f"kv: 2048, artifact: {size}"
    flow = f"""
name: bulky
nodes:
  bulk: {{component: "{ref}", task: bulky, inputs: {{{inputs}}}}}
"""
    execution, kv, artifacts = run_and_read(
        store_url, home, tmp_path, flow, limits=Limits(side_effects=16 * 1024)
    )
    assert execution.status == "failed"
    error = execution.node("bulk").attempts[-1].error
    assert error is not None and error["type"] == "limit_exceeded", error
    assert "limits.side_effects" in error["message"]
    assert "16384 bytes" in error["message"]
    assert len(execution.node("bulk").attempts) == 1  # not retried: it would do the same
    assert set(kv.values()) == {None} and artifacts == []
    assert not blob_exists(store_url, home, b"x" * size)  # refused before it was stored


def test_the_blob_of_a_failed_attempts_artifact_is_swept_once_old(
    store_url: str, home: Path, tmp_path: Path, edge_build: Path
) -> None:
    """The blob of attempt 1's artifact was stored (content-addressed, named by no
    artifact); the sweep deletes it once it is older than it is given, and keeps the blob
    that attempt 2's committed artifact names."""
    ref = install(home, edge_build, tmp_path)
    execution, _, _ = run_and_read(
        store_url, home, tmp_path, SCRIBBLE.format(ref=ref, inputs="{succeed_on: 2}", timeout="60s")
    )
    assert execution.status == "completed", execution.error
    assert blob_exists(store_url, home, b"1")

    async def sweep(before: float) -> int:
        async with await Engine.open(store_url, home=home) as engine:
            return await engine.store.sweep_blobs(before)

    assert asyncio.run(sweep(time.time() - 24 * 3600)) == 0  # not a day old yet
    assert asyncio.run(sweep(time.time() + 1)) == 1
    assert not blob_exists(store_url, home, b"1")
    assert blob_exists(store_url, home, b"2")
    assert asyncio.run(sweep(time.time() + 1)) == 0


def test_the_engine_sweeps_orphan_blobs_with_its_heartbeat(
    store_url: str, home: Path, tmp_path: Path, edge_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every blob is old from the start, as if each attempt ran for longer than a day: the
    sweeps with every beat keep the blobs of the open execution, so attempt 2's artifact
    commits; once the execution is done, attempt 1's orphan goes."""
    from fuchsia.runtime import leases as leases_module

    monkeypatch.setattr(leases_module, "ORPHAN_BLOB_AGE", -1.0)
    monkeypatch.setattr(leases_module, "BLOB_SWEEP_EVERY", 0.0)  # a sweep with every beat
    ref = install(home, edge_build, tmp_path)
    flow = tmp_path / "flow.yaml"
    flow.write_text(SCRIBBLE.format(ref=ref, inputs="{succeed_on: 2}", timeout="60s"))

    async def main() -> bytes:
        async with await Engine.open(store_url, home=home) as engine:
            engine.heartbeat_every = 0.0  # a beat with every control tick
            execution = await engine.run(str(flow))
            assert execution.status == "completed", execution.error
            async with asyncio.timeout(30):
                while True:
                    try:
                        await engine.store.get_blob(digest_of(b"1"))
                    except FuchsiaError:
                        break
                    await asyncio.sleep(0.02)
            return await engine.store.get_blob(digest_of(b"2"))

    assert asyncio.run(main()) == b"2"  # the orphan went, the succeeded attempt's blob stays
