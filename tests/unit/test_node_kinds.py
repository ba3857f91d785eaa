"""Node kinds: the locked document each kind writes, and its hash, do not change.

Executions store the locked JSON and the hash it has; a version of fuchsia that locked the
same file to a different document (or read a stored one differently) would strand every
execution stored before it. The hashes below were computed before node kinds had typed specs;
each kind's typed spec reads its locked JSON and writes back exactly the same document.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fuchsia.components.manifest import Manifest, load_manifest
from fuchsia.components.python import source_dir as python_source_dir
from fuchsia.definition import LockedWorkflow, load, lock, parse_text, validate
from fuchsia.definition.lock import canonical_json
from fuchsia.definition.models import NODE_KINDS
from fuchsia.errors import StoreError
from fuchsia.nodes import NodeContext
from fuchsia.nodes.kind import (
    DEFAULT_COMPONENT_TIMEOUT,
    DEFAULT_HTTP_TIMEOUT,
    KINDS,
    BranchSpec,
    ComponentSpec,
    Grants,
    HttpSpec,
    Placement,
    PythonSpec,
    Rule,
    TransformSpec,
    TriggerComponentSpec,
    WaitSpec,
    WorkflowSpec,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PINNED = {
    "hello": "sha256:8f8f4f626d1a0c3c0b710d8d596c8ca24d44be2756efc32dc3bcba51e62c8218",
    "map-reduce": "sha256:d7da1640daa70b1a5946ce3ec21dd0b3ca4d3b653dff32e6525353af64357648",
    "approval": "sha256:e371bfff6d2c475b8f5a03c3de1696a57d61029b0b74bcebadad23ecd8f93dec",
    "components-pipeline": (
        "sha256:7118c2f11b6395979c12678bc488d37f311e0f5babac6b8b373bb741b5adcccc"
    ),
    "python-steps": "sha256:d206a7b506ef943d74cd25b81662819f6c80f57bf1c343dccc5a713977e4d85a",
}

CHILD = """\
name: child
nodes:
  echo: {transform: {got: "{{ n }}"}}
"""
CHILD_HASH = "sha256:5238a2a676d83035443d3adc72c4ead636ae568af83a6c5dbd96eab93158b1ab"

# The kinds the examples do not use (http, workflow) and every shape of a wait.
EVERY_KIND = """\
name: every-kind
nodes:
  start: {transform: {n: "{{ n }}"}}
  call:
    after: start
    timeout: 10s
    http:
      method: POST
      url: "https://example.com/{{ n }}"
      headers: {X-Id: "{{ n }}"}
      query: {q: 1}
      json: {a: "{{ n }}"}
      expect: [200, 201]
      follow_redirects: true
  plain:
    after: start
    http: {url: "https://example.com/", timeout: 5s, body: "x"}
  route:
    after: call
    branch:
      - when: "data.status == 200"
        then: [nap, until]
    default: hold
  nap: {after: route, wait: {for: 1s}}
  until: {after: route, wait: {until: "{{ data.when }}"}}
  hold: {after: route, wait: {signal: go, timeout: 1h}}
  child: {after: start, workflow: {name: child, inputs: {n: "{{ n }}"}}}
"""
EVERY_KIND_HASH = "sha256:de87205e5e2225ffe1932b078373552dbe659aac4f2ef58acbf82eff729281ad"


@dataclass(frozen=True)
class Found:
    digest: str
    manifest: Manifest


class ExampleComponents:
    """The example components' own manifests, each at a digest made from its reference (a
    build's digest depends on the toolchain that built it; the lock only copies it)."""

    def resolve(self, ref: str) -> Found:
        digest = "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
        return Found(digest, load_manifest(EXAMPLES / "components" / ref.partition("@")[0]))

    def python_runtime(self) -> Found:
        """The runtime's manifest as shipped (version 1.0.0), at a digest made from it."""
        manifest = load_manifest(python_source_dir())
        return Found("sha256:" + hashlib.sha256(manifest.ref.encode()).hexdigest(), manifest)


def locked_text(
    text: str, deployed: dict[tuple[str, int | None], LockedWorkflow] | None = None
) -> LockedWorkflow:
    source = parse_text(text, "w.yaml")
    return lock(validate(source), source, deployed=deployed)


def every_kind() -> LockedWorkflow:
    return locked_text(EVERY_KIND, {("child", None): locked_text(CHILD)})


def example(name: str) -> LockedWorkflow:
    return load(EXAMPLES / f"{name}.yaml", ExampleComponents())


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_example_locks_to_the_hash_it_always_had(name: str) -> None:
    assert example(name).hash == PINNED[name]


def test_every_example_is_pinned() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(PINNED)


def test_http_wait_and_sub_workflow_nodes_lock_to_the_hash_they_always_had() -> None:
    assert locked_text(CHILD).hash == CHILD_HASH
    assert every_kind().hash == EVERY_KIND_HASH


def test_a_stored_lock_reads_back_to_the_same_hash_and_document() -> None:
    for workflow in (*(example(name) for name in PINNED), every_kind()):
        again = LockedWorkflow.from_json(workflow.to_json())
        assert again.hash == workflow.hash
        assert again.document == workflow.document


def all_locked() -> list[LockedWorkflow]:
    return [*(example(name) for name in sorted(PINNED)), every_kind()]


def test_every_kinds_typed_spec_writes_back_its_locked_document() -> None:
    seen = set()
    for workflow in all_locked():
        for node_id, node in workflow.nodes.items():
            locked = workflow.document["nodes"][node_id]["spec"]
            assert node.spec == KINDS[node.kind].spec(locked)
            assert node.spec.to_document() == locked
            seen.add(node.kind)
    assert seen == set(KINDS)


def test_the_typed_specs_hold_what_was_locked() -> None:
    workflow = every_kind()
    specs = {node_id: node.spec for node_id, node in workflow.nodes.items()}
    assert specs["start"] == TransformSpec({"n": "{{ n }}"})
    assert specs["call"] == HttpSpec(
        method="POST",
        url="https://example.com/{{ n }}",
        headers={"X-Id": "{{ n }}"},
        query={"q": 1},
        json={"a": "{{ n }}"},
        body=None,
        timeout=None,
        expect=(200, 201),
        follow_redirects=True,
    )
    assert specs["route"] == BranchSpec((Rule("data.status == 200", ("nap", "until")),), ("hold",))
    assert specs["nap"] == WaitSpec(signal=None, for_=1.0, until=None, timeout=None)
    assert specs["hold"] == WaitSpec(signal="go", for_=None, until=None, timeout=3600.0)
    child = specs["child"]
    assert isinstance(child, WorkflowSpec)
    assert (child.name, child.version, child.hash) == ("child", 1, CHILD_HASH)
    greet = example("components-pipeline").nodes["greet"].spec
    assert isinstance(greet, ComponentSpec)
    assert (greet.component, greet.task, greet.config) == (
        "greeter@1.0.0",
        "greet",
        {"salutation": "Hello"},
    )
    assert greet.grants == Grants((), (), 64 * 1024 * 1024, sockets=False)


def test_the_templated_part_and_the_default_timeout_of_each_kind() -> None:
    workflow = every_kind()
    components = example("components-pipeline")
    templated = {
        node_id: KINDS[node.kind].templated(node.spec)
        for node_id, node in (*workflow.nodes.items(), *components.nodes.items())
    }
    assert templated["start"] == {"n": "{{ n }}"}
    assert templated["call"] == workflow.document["nodes"]["call"]["spec"]
    assert templated["route"] == {}
    assert templated["until"] == {"until": "{{ data.when }}"}
    assert templated["child"] == {"inputs": {"n": "{{ n }}"}}
    assert templated["greet"] == {
        "inputs": {"name": "{{ name }}"},
        "config": {"salutation": "Hello"},
    }
    timeouts = {node_id: node.timeout for node_id, node in workflow.nodes.items()}
    assert timeouts["start"] is None and timeouts["child"] is None
    assert (timeouts["call"], timeouts["plain"]) == (10.0, 5.0)  # declared; else `http.timeout`
    assert timeouts["hold"] is None  # a wait keeps its own durable timeout
    http = KINDS["http"]
    assert (
        http.timeout(
            http.spec(workflow.document["nodes"]["plain"]["spec"] | {"timeout": None}), None
        )
        == DEFAULT_HTTP_TIMEOUT
    )
    assert components.nodes["greet"].timeout == DEFAULT_COMPONENT_TIMEOUT
    assert components.nodes["fetch"].timeout == 30.0


def test_a_branch_skips_the_targets_its_output_did_not_take_and_passes_its_data_on() -> None:
    branch, spec = KINDS["branch"], every_kind().nodes["route"].spec
    assert branch.skips(spec, {"taken": ["hold"], "data": 1}) == {"nap", "until"}
    assert branch.skips(spec, [{"taken": ["nap"]}, {"taken": ["hold"]}]) == {"until"}
    assert branch.data(spec, {"taken": ["hold"], "data": {"x": 1}}) == {"x": 1}
    assert branch.data(spec, [{"taken": [], "data": 1}, {"taken": [], "data": 2}]) == [1, 2]
    transform = KINDS["transform"]
    assert transform.skips(TransformSpec(1), {"taken": []}) == frozenset()
    assert transform.data(TransformSpec(1), {"data": 2}) == {"data": 2}


def test_where_each_kind_runs_and_whether_the_node_timeout_bounds_it() -> None:
    placement = {name: kind.placement for name, kind in KINDS.items()}
    assert placement == {
        "component": Placement.THREAD,
        "python": Placement.THREAD,
        "http": Placement.LOOP,
        "transform": Placement.LOOP,
        "branch": Placement.LOOP,
        "wait": Placement.PARKED,
        "workflow": Placement.LOOP,
    }
    assert [name for name, kind in KINDS.items() if not kind.timed] == ["transform"]
    assert [name for name, kind in KINDS.items() if kind.children] == ["workflow"]
    assert [name for name, kind in KINDS.items() if kind.inline] == ["transform", "branch"]


def test_a_python_nodes_spec_embeds_its_code_and_pins_the_runtime() -> None:
    workflow = example("python-steps")
    runtime = ExampleComponents().python_runtime()
    score, report = workflow.nodes["score"].spec, workflow.nodes["report"].spec
    assert isinstance(score, PythonSpec) and isinstance(report, PythonSpec)
    assert (score.component, score.digest) == (runtime.manifest.ref, runtime.digest)
    assert score.code.startswith("def main(order, rates):")
    assert (score.file, score.line, score.function) == ("python-steps.yaml", 20, "main")
    assert report.code == (EXAMPLES / "steps" / "report.py").read_text()
    assert (report.file, report.line, report.function) == ("steps/report.py", 1, "build")
    assert score.grants == Grants((), (), None, sockets=True)  # nothing granted beyond that
    assert workflow.nodes["score"].timeout == DEFAULT_COMPONENT_TIMEOUT
    assert KINDS["python"].templated(score) == {"inputs": score.inputs, "config": {}}


def _no_http() -> Any:
    raise AssertionError("an inline kind makes no HTTP request")


def test_an_inline_kinds_attempt_finishes_without_the_event_loop() -> None:
    """The driver runs transform and branch attempts in place, stepping their coroutine
    once: it must finish on that step (no await that suspends), for any data."""
    ctx = NodeContext("e", "w", "n", 1, None, _no_http, scope={"data": {"x": 1}})
    attempts = [
        KINDS["transform"].run(TransformSpec({"v": 1}), {"v": 1}, ctx),
        KINDS["branch"].run(BranchSpec((Rule("data.x == 1", ("a",)),), ("b",)), None, ctx),
    ]
    results = []
    for attempt in attempts:
        with pytest.raises(StopIteration) as done:
            attempt.send(None)  # type: ignore[attr-defined]
        results.append(done.value.value)
    assert results == [{"v": 1}, {"taken": ["a"], "data": {"x": 1}}]


def test_the_workflow_format_knows_the_same_kinds() -> None:
    assert NODE_KINDS == (
        "component",
        "python",
        "http",
        "transform",
        "branch",
        "wait",
        "workflow",
    )
    assert set(NODE_KINDS) == set(KINDS)


def test_a_component_locked_before_grants_had_sockets_still_loads() -> None:
    workflow = example("components-pipeline")
    document = json.loads(workflow.to_json())
    del document["nodes"]["greet"]["spec"]["grants"]["sockets"]
    stored = LockedWorkflow.from_json(canonical_json(document))
    greet = stored.nodes["greet"].spec
    assert isinstance(greet, ComponentSpec) and greet.grants.sockets is False
    assert stored.hash != workflow.hash  # the stored document, as it was, is what is hashed


def test_a_trigger_components_spec_writes_back_its_locked_document() -> None:
    locked = {
        "component": "feed@1.0.0",
        "digest": "sha256:" + "0" * 64,
        "trigger": "next-item",
        "config": {"page": 10},
        "grants": {
            "allowed_hosts": ["https://example.com"],
            "allowed_paths": [["/data", True]],
            "memory_limit": None,
            "sockets": False,
        },
    }
    spec = TriggerComponentSpec.from_document(locked)
    assert spec.grants.allowed_paths == (("/data", True),)
    assert spec.to_document() == locked


def test_a_stored_lock_with_a_kind_this_version_does_not_know_is_refused() -> None:
    document = json.loads(locked_text(CHILD).to_json())
    document["nodes"]["echo"]["kind"] = "rust"
    with pytest.raises(StoreError, match=r"kind 'rust'.*upgrade fuchsia"):
        LockedWorkflow.from_json(canonical_json(document))
