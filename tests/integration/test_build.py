"""Authoring: scaffold, build with componentize-py, and run the built components.

The components run here on raw wasmtime with the `fuchsia:platform` imports defined as plain
Python functions (`Platform`), so these tests check the build and the guest-side SDK on their
own, without the engine's host.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from wasmtime import Store
from wasmtime.component import Linker, Record, Variant

from fuchsia.components.build import (
    BuildError,
    build_component,
    fingerprint,
    new_component,
    source_files,
    write_digest,
)
from fuchsia.components.manifest import load_manifest
from fuchsia.errors import FuchsiaError
from support import components as support

COMPONENT_PREAMBLE = b"\x00asm\x0d\x00\x01\x00"
CITIES = (support.REPO / "examples" / "data" / "cities.csv").read_text()
PLATFORM = "fuchsia:platform"
VERSION = "0.1.0"


def record(**fields: Any) -> Record:
    value = Record()
    for name, item in fields.items():
        setattr(value, name.replace("_", "-"), item)
    return value


class Platform:
    """The platform imports as plain Python, recording what the component asked for."""

    def __init__(
        self,
        *,
        config: dict[str, Any] | None = None,
        http: Callable[[Any], Record | Variant] | None = None,
    ) -> None:
        self.kv: dict[str, str] = {}
        self.config = config or {}
        self.logs: list[tuple[str, str, dict[str, Any]]] = []
        self.artifacts: list[tuple[str, str, bytes]] = []
        self.requests: list[Any] = []
        self.http = http or (lambda _request: Variant("failed", "no network here"))
        self.linker = Linker(support.engine())
        with self.linker.root() as root:
            with root.add_instance(f"{PLATFORM}/kv@{VERSION}") as kv:
                kv.add_func("get", lambda _s, key: self.kv.get(key))
                kv.add_func("set", lambda _s, key, value: self.kv.__setitem__(key, value))
                kv.add_func("delete", lambda _s, key: self.kv.pop(key, None) and None)
            with root.add_instance(f"{PLATFORM}/config@{VERSION}") as settings:
                settings.add_func("get", lambda _s, key: self._config(key))
                settings.add_func("all", lambda _s: json.dumps(self.config))
            with root.add_instance(f"{PLATFORM}/log@{VERSION}") as log:
                log.add_func("log", self._log)
            with root.add_instance(f"{PLATFORM}/http@{VERSION}") as http_:
                http_.add_func("fetch", self._fetch)
            with root.add_instance(f"{PLATFORM}/artifacts@{VERSION}") as artifacts:
                artifacts.add_func("put", self._put)
                artifacts.add_func("get", lambda _s, _id: "no artifacts here")

    def _config(self, key: str) -> str | None:
        value = self.config.get(key)
        return value if value is None or isinstance(value, str) else json.dumps(value)

    def _log(self, _store: Any, level: str, message: str, fields: str) -> None:
        self.logs.append((level, message, json.loads(fields) if fields else {}))

    def _fetch(self, _store: Any, request: Any) -> Record | Variant:
        self.requests.append(request)
        return self.http(request)

    def _put(self, _store: Any, name: str, content_type: str, data: bytes) -> Record:
        self.artifacts.append((name, content_type, bytes(data)))
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return record(
            id=f"a{len(self.artifacts)}", name=name, content_type=content_type,
            size=len(data), hash=digest,
        )  # fmt: skip

    def call(
        self, wasm: Path, task: str, input: Any, *, memory_limit: int | None = None
    ) -> Record | Variant:
        """One attempt of a task: a fresh store and instance, then `execute`."""
        text = input if isinstance(input, str) else json.dumps(input)
        result = self._call(wasm, "task", "execute", task, text, memory_limit=memory_limit)
        assert isinstance(result, Record | Variant)
        return result

    def poll(self, wasm: Path, trigger: str, event: Record | None) -> Variant:
        """One call of a trigger's `handle`."""
        result = self._call(wasm, "trigger", "handle", trigger, event)
        assert isinstance(result, Variant)
        return result

    def _call(
        self, wasm: Path, interface: str, name: str, task: str, argument: Any, **limits: Any
    ) -> Any:
        store = Store(support.engine())
        if limits.get("memory_limit") is not None:
            store.set_limits(memory_size=limits["memory_limit"])
        instance = self.linker.instantiate(store, support.compiled_component(wasm))
        exported = instance.get_export_index(store, f"{PLATFORM}/{interface}@{VERSION}")
        assert exported is not None
        index = instance.get_export_index(store, name, exported)
        assert index is not None
        function = instance.get_func(store, index)
        assert function is not None
        ctx = record(execution_id="e1", workflow="wf", node_id="n1", task=task, attempt=1)
        result = function(store, ctx, argument)
        function.post_return(store)
        return result


def field(value: Any, name: str) -> Any:
    """A field of a wasmtime Record by its WIT name (e.g. `content-type`)."""
    return getattr(value, name)


def output(result: Record | Variant) -> Any:
    assert isinstance(result, Record), f"the task failed: {vars(result)}"
    return json.loads(field(result, "data"))


def failure(result: Record | Variant) -> tuple[str, str]:
    assert isinstance(result, Variant), f"the task succeeded: {vars(result)}"
    return result.tag, str(result.payload)


@pytest.fixture(scope="session")
def example_components() -> dict[str, Path]:
    return support.build_examples()


# --- scaffolding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("world", "exports"),
    [
        ("task-component", ("tasks", {"greet"})),
        ("trigger-component", ("triggers", {"every-third-poll"})),
    ],
)
def test_new_scaffolds_a_component_with_a_valid_manifest(
    tmp_path: Path, world: str, exports: tuple[str, set[str]]
) -> None:
    directory = new_component("acme/hello", tmp_path / "hello", world=world)
    assert directory == tmp_path / "hello"
    names = sorted(p.name for p in directory.iterdir())
    assert names == [".gitignore", "README.md", "app.py", "component.yaml"]
    manifest = load_manifest(directory)
    assert (manifest.name, manifest.version, manifest.world) == ("acme/hello", "0.1.0", world)
    assert set(getattr(manifest, exports[0])) == exports[1]
    assert "from fuchsia_sdk import" in (directory / "app.py").read_text()
    assert "*.wasm" in (directory / ".gitignore").read_text().splitlines()
    assert "acme/hello@0.1.0" in (directory / "README.md").read_text()


def test_new_refuses_a_non_empty_directory_a_bad_name_and_an_unknown_world(
    tmp_path: Path,
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(BuildError, match="not empty"):
        new_component("greeter", taken)
    assert sorted(p.name for p in taken.iterdir()) == ["notes.txt"]

    for name in ("Greeter", "my greeter", "-x", "", "a/b/c", "../up"):
        with pytest.raises(BuildError, match="invalid component name"):
            new_component(name, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()

    with pytest.raises(BuildError, match="not a directory"):
        new_component("greeter", taken / "notes.txt")
    with pytest.raises(BuildError, match="task-component, trigger-component"):
        new_component("greeter", tmp_path / "fresh", world="fuschia-task")

    new_component("greeter", tmp_path / "empty-is-fine")  # an existing empty one is fine
    (tmp_path / "empty").mkdir()
    new_component("greeter", tmp_path / "empty")


def test_write_digest_replaces_or_adds_one_line_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "component.yaml"
    path.write_text("# mine\nname: x  # inline\nwasm: out/x.wasm\ntasks: {}\n")
    write_digest(path, "sha256:" + "a" * 64)
    assert path.read_text() == (
        f"# mine\nname: x  # inline\nwasm: out/x.wasm\ndigest: sha256:{'a' * 64}\ntasks: {{}}\n"
    )
    write_digest(path, "sha256:" + "b" * 64)
    assert path.read_text().count("digest:") == 1
    assert f"digest: sha256:{'b' * 64}\n" in path.read_text()
    path.write_text("name: x")
    write_digest(path, "sha256:" + "c" * 64)
    assert path.read_text() == f"name: x\ndigest: sha256:{'c' * 64}\n"


# --- building -----------------------------------------------------------------------------


def test_scaffold_builds_into_a_component_whose_digest_is_recorded(tmp_path: Path) -> None:
    directory = new_component("hello", tmp_path / "hello")
    before = (directory / "component.yaml").read_text()

    wasm = build_component(directory)

    assert wasm == directory / "component.wasm"
    data = wasm.read_bytes()
    assert data.startswith(COMPONENT_PREAMBLE)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert load_manifest(directory).digest == digest
    after = (directory / "component.yaml").read_text()
    assert after.replace(f"digest: {digest}\n", "") == before  # only the digest line is new
    assert not (directory / "__pycache__").exists()  # the build ran on a copy
    assert [p.as_posix() for p in source_files(directory)] == [
        "README.md",
        "app.py",
        "component.yaml",
    ]


def test_a_syntax_error_is_reported_with_the_file_and_line(tmp_path: Path) -> None:
    directory = new_component("broken", tmp_path / "broken")
    app = directory / "app.py"
    app.write_text(app.read_text().replace("def greet(input: dict, ctx) -> dict:", "def greet("))

    with pytest.raises(FuchsiaError) as caught:
        build_component(directory)

    message = str(caught.value)
    assert isinstance(caught.value, BuildError)
    assert str(app) in message
    assert "SyntaxError" in message
    line = app.read_text().splitlines().index("def greet(") + 1
    assert f"line {line}" in message
    for noise in ("Stack backtrace", "AssertionError", "_fuchsia_entry", "/0/", "Caused by"):
        assert noise not in message
    assert not (directory / "component.wasm").exists()
    assert load_manifest(directory).digest is None


def test_tasks_in_the_manifest_and_the_code_must_match(tmp_path: Path) -> None:
    directory = new_component("mismatch", tmp_path / "mismatch")
    app = directory / "app.py"
    app.write_text(app.read_text().replace('@task("greet")', '@task("salute")'))

    with pytest.raises(BuildError) as caught:
        build_component(directory)

    message = str(caught.value)
    assert message.startswith(f"{directory / 'component.yaml'}: ")
    assert "declares task greet but app.py has no @task() for it" in message
    assert "app.py defines task salute" in message


def test_a_second_build_of_unchanged_sources_comes_from_the_cache(
    example_components: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = support.EXAMPLES / "greeter"
    first = example_components["greeter"]
    assert first.is_relative_to(support.CACHE)

    def no_build(*_args: object) -> Path:
        raise AssertionError("rebuilt although the sources did not change")

    monkeypatch.setattr(support, "build_into", no_build)
    assert support.built_component(source) == first

    # The key follows the sources, not where they are or the digest the last build wrote.
    copy = tmp_path / "greeter"
    for relative in source_files(source):
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, copy / relative)
    assert fingerprint(copy) == fingerprint(source)
    write_digest(copy / "component.yaml", "sha256:" + "0" * 64)
    (copy / "component.wasm").write_bytes(b"stale output")
    assert fingerprint(copy) == fingerprint(source)
    (copy / "app.py").write_text((copy / "app.py").read_text() + "\n# changed\n")
    assert fingerprint(copy) != fingerprint(source)


# --- running what was built ---------------------------------------------------------------


def test_greeter_greets_logs_reads_config_and_counts_in_kv(
    example_components: dict[str, Path],
) -> None:
    wasm = example_components["greeter"]
    platform = Platform()
    component = support.compiled_component(wasm)
    imports = component.type.imports(support.engine())
    assert all(name.startswith(f"{PLATFORM}/") for name in imports), sorted(imports)

    assert output(platform.call(wasm, "greet", {"name": "Ada"})) == {
        "greeting": "Hello, Ada!",
        "name": "Ada",
    }
    assert platform.logs == [
        ("info", "greeting", {"who": "Ada", "salutation": "Hello", "attempt": 1})
    ]
    howdy = Platform(config={"salutation": "Howdy"})
    assert output(howdy.call(wasm, "greet", {"name": "Bo"}))["greeting"] == "Howdy, Bo!"

    assert output(platform.call(wasm, "count", {})) == {"key": "calls", "count": 1}
    assert output(platform.call(wasm, "count", {})) == {"key": "calls", "count": 2}
    assert platform.kv == {"calls": "2"}

    assert failure(platform.call(wasm, "greet", {"name": ""})) == (
        "permanent",
        "`name` must be a non-empty string",
    )
    tag, message = failure(platform.call(wasm, "wave", {}))
    assert tag == "permanent"
    assert "no task named 'wave'" in message
    assert "count, greet" in message
    tag, message = failure(platform.call(wasm, "greet", "{not json"))
    assert (tag, message.startswith("the input is not JSON")) == ("permanent", True)


def test_csv_summary_describes_the_csv_and_stores_an_artifact(
    example_components: dict[str, Path],
) -> None:
    platform = Platform()
    result = platform.call(example_components["csv_summary"], "summarize", {"csv": CITIES})

    data = output(result)
    assert data["rows"] == 10
    assert data["columns"] == ["city", "country", "population", "area_km2", "founded"]
    assert set(data["numeric"]) == {"population", "area_km2", "founded"}
    assert data["numeric"]["area_km2"] == {"count": 10, "min": 225, "max": 16411, "mean": 3365.5}
    assert data["numeric"]["founded"]["count"] == 7

    [(name, content_type, blob)] = platform.artifacts
    assert (name, content_type) == ("summary.json", "application/json")
    summary = json.loads(blob)
    assert summary == {k: v for k, v in data.items() if k != "artifact"}
    assert data["artifact"]["name"] == "summary.json"
    assert data["artifact"]["hash"] == "sha256:" + hashlib.sha256(blob).hexdigest()
    [ref] = field(result, "artifacts")  # the reference also travels in the output record
    assert (ref.id, field(ref, "content-type"), ref.size) == ("a1", content_type, len(blob))

    assert failure(platform.call(example_components["csv_summary"], "summarize", {"csv": ""})) == (
        "permanent",
        "the CSV is empty: expected a header row",
    )


def test_fetcher_goes_through_the_http_import(example_components: dict[str, Path]) -> None:
    wasm = example_components["fetcher"]
    answers: list[Record | Variant] = [
        record(status=200, headers=[("Content-Type", "application/json")], body=b'{"a": 1}'),
        Variant("denied", "https://elsewhere.example is not allowed; add elsewhere.example"),
        record(status=503, headers=[], body=b"busy"),
        record(status=404, headers=[], body=b"gone"),
        Variant("timeout", "no answer within 100 ms"),
    ]
    answers_given = list(answers)
    platform = Platform(http=lambda _request: answers.pop(0))

    fetched = output(platform.call(wasm, "fetch", {"url": "https://api.example/x"}))
    assert fetched == {
        "url": "https://api.example/x",
        "status": 200,
        "ok": True,
        "content_type": "application/json",
        "bytes": 8,
        "text": '{"a": 1}',
        "json": {"a": 1},
    }
    request = platform.requests[0]
    assert (request.method, request.url, request.body) == ("GET", "https://api.example/x", None)

    denied = failure(platform.call(wasm, "fetch", {"url": "https://elsewhere.example/"}))
    assert denied == ("permanent", str(vars(answers_given[1])["payload"]))
    assert failure(platform.call(wasm, "fetch", {"url": "https://api.example/"}))[0] == "retryable"
    assert failure(platform.call(wasm, "fetch", {"url": "https://api.example/"}))[0] == "permanent"
    tag, message = failure(
        platform.call(wasm, "fetch", {"url": "https://api.example/", "timeout_ms": 100})
    )
    assert (tag, message) == ("retryable", "no answer within 100 ms")
    assert field(platform.requests[-1], "timeout-ms") == 100


PROBE_MANIFEST = """\
name: probe
version: 0.1.0
world: task-component
tasks:
  boom: {}
  hog: {}
  chatty: {}
  not-json: {}
  later: {}
  quits: {}
"""

PROBE_APP = """\
from fuchsia_sdk import Retryable, task


@task("boom")
def boom(input):
    return helper()


def helper():
    return 1 / 0


@task("hog")
def hog(input):
    blocks = []
    while True:
        blocks.append(bytearray(1 << 20))


@task("chatty")
def chatty(input, ctx):
    print("hello from print")
    print("two", "lines\\nhere", end="")
    return {"task": ctx.task}


@task("not-json")
def not_json(input):
    return {"value": object()}


@task("later")
def later(input):
    raise Retryable("try again later")


@task("quits")
def quits(input):
    raise SystemExit(3)
"""


def test_the_sdk_maps_every_way_a_task_ends(tmp_path: Path) -> None:
    source = tmp_path / "probe"
    source.mkdir()
    (source / "component.yaml").write_text(PROBE_MANIFEST)
    (source / "app.py").write_text(PROBE_APP)
    wasm = support.built_component(source)
    platform = Platform()

    tag, message = failure(platform.call(wasm, "boom", {}))
    assert tag == "retryable"
    assert message.splitlines() == [
        "ZeroDivisionError: division by zero",
        "Traceback (most recent call last):",
        '  File "app.py", line 6, in boom',
        '  File "app.py", line 10, in helper',
    ]
    assert failure(platform.call(wasm, "hog", {}, memory_limit=96 * 1024 * 1024)) == (
        "permanent",
        "memory limit exceeded: MemoryError",
    )
    assert output(platform.call(wasm, "chatty", {})) == {"task": "chatty"}
    assert [line[:2] for line in platform.logs] == [
        ("info", "hello from print"),
        ("info", "two lines"),
        ("info", "here"),
    ]
    tag, message = failure(platform.call(wasm, "not-json", {}))
    assert (tag, message.startswith("task 'not-json' returned a value that is not JSON")) == (
        "permanent",
        True,
    )
    assert failure(platform.call(wasm, "later", {})) == ("retryable", "try again later")
    tag, message = failure(platform.call(wasm, "quits", {}))
    assert (tag, message.splitlines()[0]) == ("retryable", "SystemExit: 3")


TICKER_MANIFEST = """\
name: ticker
version: 0.1.0
world: trigger-component
triggers:
  every-third-poll: {kind: poll}
  hook: {kind: webhook}
"""

TICKER_APP = """\
from fuchsia_sdk import Permanent, kv_get, kv_set, trigger


@trigger("every-third-poll")
def every_third_poll(event, ctx):
    polls = int(kv_get("polls", "0")) + 1
    kv_set("polls", str(polls))
    return None if polls % 3 else {"polls": polls, "kind": event.kind}


@trigger("hook")
def hook(event):
    if event.request.header("x-token") != "secret":
        raise Permanent("bad token")
    return {"method": event.request.method, "body": event.request.json()}
"""


def test_the_sdk_runs_triggers(tmp_path: Path) -> None:
    # wasmtime-py: the trigger event is None (poll) or the request record (webhook); the
    # result is Variant("ok", payload-or-None-for-pending) or Variant("err", message).
    source = tmp_path / "ticker"
    source.mkdir()
    (source / "component.yaml").write_text(TICKER_MANIFEST)
    (source / "app.py").write_text(TICKER_APP)
    wasm = support.built_component(source)
    platform = Platform()

    polls = [vars(platform.poll(wasm, "every-third-poll", None)) for _ in range(3)]
    assert polls[:2] == [{"tag": "ok", "payload": None}] * 2
    assert polls[2]["tag"] == "ok"
    assert json.loads(polls[2]["payload"]) == {"polls": 3, "kind": "poll"}

    def webhook(token: str) -> Record:
        return record(
            method="POST", url="/hooks/x", headers=[("X-Token", token)], body=b'{"n": 1}',
            timeout_ms=None,
        )  # fmt: skip

    ready = vars(platform.poll(wasm, "hook", webhook("secret")))
    assert ready["tag"] == "ok"
    assert json.loads(ready["payload"]) == {"method": "POST", "body": {"n": 1}}
    assert vars(platform.poll(wasm, "hook", webhook("guess"))) == {
        "tag": "err",
        "payload": "bad token",
    }
    missing = vars(platform.poll(wasm, "nope", None))
    assert missing["tag"] == "err"
    assert "no trigger named 'nope'" in missing["payload"]


def test_the_world_of_a_components_own_wit_is_the_one_it_declares(tmp_path: Path) -> None:
    from fuchsia.components.build import BuildError, declared_world

    wit = tmp_path / "wit"
    wit.mkdir()
    (wit / "a.wit").write_text(
        "package x:y@0.1.0;\n// world commented-out {\ninterface task {}\nworld my-task {\n"
        "  export task;\n}\n"
    )
    assert declared_world(wit, "fuschia-task") == "my-task"
    (wit / "b.wit").write_text("world other {\n}\n")
    with pytest.raises(BuildError, match="several worlds \\(my-task, other\\)"):
        declared_world(wit, "fuschia-task")
    assert declared_world(wit, "other") == "other"
