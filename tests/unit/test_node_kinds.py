"""Node kinds: the locked document each kind writes, and its hash, do not change.

Executions store the locked JSON and the hash it has; a version of fuchsia that locked the
same file to a different document (or read a stored one differently) would strand every
execution stored before it. The hashes below were computed before node kinds had typed specs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fuchsia.components.manifest import Manifest, load_manifest
from fuchsia.definition import LockedWorkflow, load, lock, parse_text, validate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PINNED = {
    "hello": "sha256:8f8f4f626d1a0c3c0b710d8d596c8ca24d44be2756efc32dc3bcba51e62c8218",
    "map-reduce": "sha256:d7da1640daa70b1a5946ce3ec21dd0b3ca4d3b653dff32e6525353af64357648",
    "approval": "sha256:e371bfff6d2c475b8f5a03c3de1696a57d61029b0b74bcebadad23ecd8f93dec",
    "components-pipeline": (
        "sha256:7118c2f11b6395979c12678bc488d37f311e0f5babac6b8b373bb741b5adcccc"
    ),
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


def locked_text(text: str, deployed: dict[tuple[str, int | None], LockedWorkflow] | None = None) -> LockedWorkflow:
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
